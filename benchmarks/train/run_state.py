"""A run's state: everything of it that is not a variable, saved in every checkpoint."""

from __future__ import annotations

import dataclasses
from typing import Any

from benchmarks.train.checkpoint import CheckpointError


@dataclasses.dataclass
class State:
    """Counters, measured seconds, best-on-val bookkeeping, history and segments of one run."""

    sequence: int = 0  # checkpoint number
    epoch: int = 0  # epoch in progress (0-based)
    step_in_epoch: int = 0
    step: int = 0  # steps done in total
    train_seconds: float = 0.0  # charged to the budget, summed over resumes
    compile_seconds: float = 0.0  # first step of each segment (tracing), included above
    eval_seconds: float = 0.0  # not charged
    checkpoint_seconds: float = 0.0  # not charged
    wall_seconds: float = 0.0  # the run's wall clock from build to its last record, summed over resumes
    budget_done: bool = False
    diverged_at: dict[str, Any] | None = None  # epoch (1-based), step, loss of the first non-finite loss
    best_val_top1: float | None = None
    best_epoch: int | None = None
    history: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    segments: list[dict[str, Any]] = dataclasses.field(default_factory=list)

    def position(self) -> str:
        """Where the run is, in words: 'epoch 3, step 120 of it'."""
        return f"epoch {self.epoch + 1}, step {self.step_in_epoch} of it"

    @classmethod
    def from_dict(cls, values: Any) -> "State":
        """The state a checkpoint holds; CheckpointError for unknown fields or bad counters."""
        fields = {f.name for f in dataclasses.fields(cls)}
        if not isinstance(values, dict) or set(values) - fields:
            unknown = sorted(set(values) - fields) if isinstance(values, dict) else values
            raise CheckpointError(f"its state has unknown fields ({unknown!r})")
        counters = ("sequence", "epoch", "step_in_epoch", "step")
        if any(not isinstance(values.get(k, 0), int) or values.get(k, 0) < 0 for k in counters):
            raise CheckpointError("its state's counters are not non-negative integers")
        return cls(**values)
