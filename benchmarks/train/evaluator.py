"""The evaluator: evaluates a run's splits (time charged to `eval_seconds`, not to the budget) and
keeps the best-on-validation weights, so a run reports both its final and its selected model."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from benchmarks.train import models


class Evaluator:
    """Evaluates `model` on the splits `feeder` gives, charging `state.eval_seconds`, and keeps the
    best-on-validation weights (`best_weights`: restored with a checkpoint, or None)."""

    def __init__(self, model, feeder, state, *, train_eval: bool, train_eval_every: int,
                 best_weights: list[np.ndarray] | None = None):
        """`train_eval`: the data holds a train-eval split (`--train-eval-size 0`: no gap measured)."""
        self.model, self.feeder, self.state = model, feeder, state
        self.train_eval, self.train_eval_every = train_eval, train_eval_every
        self.best_weights = best_weights

    def __call__(self, split: str) -> dict[str, float]:
        started = time.perf_counter()
        arguments, loss_correction = self.feeder.evaluation(split)
        logs = self.model.evaluate(**arguments, verbose=0, return_dict=True)
        logs = {k: float(v) for k, v in logs.items()}  # waits for the device (JAX returns unfinished values)
        logs["loss"] *= loss_correction
        self.state.eval_seconds += time.perf_counter() - started
        return logs

    def consider(self, val_top1: float) -> None:
        """Keep the weights when `val_top1` is the best so far (on the selection split)."""
        state = self.state
        if state.best_val_top1 is None or val_top1 > state.best_val_top1:
            state.best_val_top1, state.best_epoch = val_top1, state.epoch + 1
            self.best_weights = models.get_weights(self.model)

    def periodic_train_eval(self) -> float | None:
        """Train-eval top-1 at the end of every `train_eval_every`-th epoch (None otherwise, and
        at the budget's end, where `final` measures it)."""
        every, state = self.train_eval_every, self.state
        if every and self.train_eval and (state.epoch + 1) % every == 0 and not state.budget_done:
            return self("train_eval")["top1"]
        return None

    def final(self) -> dict[str, Any]:
        """Train-eval and test with the final weights, then test with the best-on-val weights."""
        state = self.state
        final_weights = models.get_weights(self.model)
        out = {"train_eval_top1": None, "gap": None}
        if self.train_eval:
            out["train_eval_top1"] = self("train_eval")["top1"]
            out["gap"] = out["train_eval_top1"] - state.history[-1]["val_top1"]
        test_final = self("test")
        out.update(test_top1_final=test_final["top1"], test_top5_final=test_final["top5"])
        test_best = test_final
        if self.best_weights is not None and state.best_epoch != len(state.history):
            models.set_weights(self.model, self.best_weights)
            test_best = self("test")
            models.set_weights(self.model, final_weights)
        out.update(test_top1=test_best["top1"], test_top5=test_best["top5"])
        return out
