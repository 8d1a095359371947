"""The budget clock: charges each training step (its time, and its images and FLOPs), says how much
of the budget is spent, and gives the budget-aware learning rate. The loop asks it, never the budget."""

from __future__ import annotations

import math
import time
from typing import Any

from benchmarks.core.budget import Budget
from benchmarks.core.config import Recipe

LR_STEP = 0.005  # a time budget's lr is moved in steps of this share of its peak (see lr_due)


def budget_lr(progress, peak: float, warmup: float, minimum=min):
    """The budget-aware schedule (Li, Yumer & Ramanan 2020) at `progress` in [0, 1]: linear
    warm-up over `warmup` of the budget, then linear decay to exactly zero when it is spent. The
    two lines cross at `warmup`, so the schedule is the lower of them: one formula for a number
    (`minimum=min`) and for a tensor inside the compiled step (`keras.ops.minimum`,
    models.BudgetSchedule)."""
    decay = (1.0 - progress) / (1.0 - warmup)
    return peak * (decay if warmup <= 0 else minimum(progress / warmup, decay))


def scheduled_lr(recipe: Recipe, peak: float, progress: float) -> float:
    """The recipe's lr at `progress` of the budget: constant, or `budget_lr`."""
    if recipe.schedule == "constant":
        return peak
    return budget_lr(min(max(progress, 0.0), 1.0), peak, recipe.warmup)


class BudgetClock:
    """One run's budget as progress in [0, 1]: steps for step-like budgets, seconds otherwise."""

    def __init__(self, budget: Budget, recipe: Recipe, peak_lr: float, steps_per_epoch: int, batch_size: int,
                 flops_per_image: float, counters: Any, started: float | None = None):
        """`counters`: the run's state (step, step_in_epoch, train_seconds, compile_seconds, wall_seconds),
        saved with it; `started`: when this process began the run (perf_counter; default now)."""
        self.budget, self.recipe, self.peak_lr = budget, recipe, peak_lr
        self.batch_size, self.flops_per_image = batch_size, flops_per_image
        self.total = budget.total_steps(steps_per_epoch, batch_size, flops_per_image)  # None: on the clock
        self.counters = counters
        self._first_of_segment = True
        self._ticked = time.perf_counter() if started is None else started  # this process's wall clock began

    def count_step(self) -> None:
        """Count one step handed to the device (step-like budgets stop on this count)."""
        self.counters.step += 1
        self.counters.step_in_epoch += 1

    def charge_seconds(self, seconds: float) -> None:
        """Charge a finished step's `seconds` (the first of a segment is compile time too)."""
        c = self.counters
        if self._first_of_segment:
            c.compile_seconds += seconds
            self._first_of_segment = False
        c.train_seconds += seconds

    def tick(self) -> float:
        """Add the wall-clock seconds since the last tick to the run's `wall_seconds` (everything:
        building, compiling, training, evaluating, checkpointing), and return the total."""
        now = time.perf_counter()
        self.counters.wall_seconds += now - self._ticked
        self._ticked = now
        return self.counters.wall_seconds

    @property
    def progress(self) -> float:
        """Share of the budget spent, 0..1+."""
        return self.budget.progress(self.counters.step, self.counters.train_seconds, self.total)

    @property
    def spent(self) -> bool:
        return self.progress >= 1.0

    def scheduled_lr(self) -> float:
        return scheduled_lr(self.recipe, self.peak_lr, self.progress)

    def lr_due(self, last: float | None) -> float | None:
        """A time budget's lr to give the optimizer now, or None while it has moved by less than
        LR_STEP of its peak since `last` (the lr last given; None: none yet): on JAX each change
        costs a sync of the device state, so it happens a few hundred times a run, not every step.
        (Step-like budgets compute the lr in the step: models.BudgetSchedule.)"""
        lr = self.scheduled_lr()
        moved = last is None or abs(lr - last) >= LR_STEP * self.peak_lr or lr == 0.0
        return lr if moved and lr != last else None

    def eta(self) -> float:
        """Training seconds left at the pace so far (nan before the first step)."""
        used = min(self.progress, 1.0)
        return self.counters.train_seconds * (1 - used) / used if used > 0 else math.nan

    @property
    def train_flops(self) -> float:
        return self.counters.step * self.batch_size * self.flops_per_image

