"""One training loop for every model: budgeted, resumable at any step, measured.

The order in which a run decides how to start (big_vision-style):
1. the run folder is derived from the config (`RunConfig.relative_dir`); a finished run is skipped
   by the caller;
2. the newest readable checkpoint there is restored (falling back to the previous one);
3. otherwise the run starts fresh from the seed.

Training goes through `model.fit`, one call per epoch, with a callback that acts only at step
*begin* (so Keras keeps dispatching batch-end hooks asynchronously and never syncs for logs):
it charges the step that just ended to the budget clock, asks the checkpointer whether an
in-epoch checkpoint is due and, when the budget is spent, the loss diverged or a signal came,
raises before the next step runs. That is how a run stops exactly at the first step boundary at
or past its budget. The parts it calls each have one job: `clock.BudgetClock` (progress and the
learning rate), `checkpoint.Checkpointer`, `Evaluator` below (splits and best-on-val weights),
`feed.Feeder` (what `fit` is given) and `record.build` (summary.json).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import signal
import socket
import time
from pathlib import Path
from typing import Any, Callable

import keras
import numpy as np

import architectures
from benchmarks import backends, budget, checkpoint, environment, feed, models, record, results
from benchmarks.clock import LR_STEP, BudgetClock
from benchmarks.config import RunConfig
from benchmarks.storage import Claim
from benchmarks.units import format_duration


class BudgetReached(Exception):
    """Raised by the step callback before the first step past the budget."""


class Diverged(Exception):
    """The training loss became NaN or infinite: a result about the recipe, recorded as such."""


class Interrupted(BaseException):
    """SIGTERM or SIGINT arrived; the run has been checkpointed. A BaseException, like
    KeyboardInterrupt, so that `except Exception` (keras-tuner's trial loop) cannot swallow it.
    `at_once`: a second Ctrl-C, raised wherever the loop was; the last checkpoint on disk stands."""

    def __init__(self, signum: int, at_once: bool = False):
        super().__init__(signal.Signals(signum).name)
        self.signum, self.at_once = signum, at_once


# ------------------------------------------------------------------------------------- signals
_SIGNAL: dict[str, int | None] = {"received": None}


def install_signal_handlers() -> None:
    """SIGTERM/SIGINT only set a flag: the loop checkpoints at the next step boundary and exits."""

    def handler(signum, _frame):
        if _SIGNAL["received"] is not None and signum == signal.SIGINT:
            raise Interrupted(signum, at_once=True)  # a second Ctrl-C: stop now, without a checkpoint
        _SIGNAL["received"] = signum

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def _check_signal() -> None:
    if _SIGNAL["received"] is not None:
        raise Interrupted(_SIGNAL["received"])


# --------------------------------------------------------------------------------- the state
@dataclasses.dataclass
class State:
    """Everything of a run that is not a variable; saved in every checkpoint."""

    sequence: int = 0  # checkpoint number
    epoch: int = 0  # epoch in progress (0-based)
    step_in_epoch: int = 0
    step: int = 0  # steps done in total
    train_seconds: float = 0.0  # charged to the budget, summed over resumes
    compile_seconds: float = 0.0  # first step of each segment (tracing), included above
    eval_seconds: float = 0.0  # not charged
    checkpoint_seconds: float = 0.0  # not charged
    budget_done: bool = False
    diverged_at: dict[str, Any] | None = None  # epoch (1-based), step, loss of the first non-finite loss
    best_val_top1: float | None = None
    best_epoch: int | None = None
    history: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    segments: list[dict[str, Any]] = dataclasses.field(default_factory=list)

    @classmethod
    def from_dict(cls, values: Any) -> "State":
        """The state a checkpoint holds; CheckpointError for unknown fields or bad counters."""
        fields = {f.name for f in dataclasses.fields(cls)}
        if not isinstance(values, dict) or set(values) - fields:
            unknown = sorted(set(values) - fields) if isinstance(values, dict) else values
            raise checkpoint.CheckpointError(f"its state has unknown fields ({unknown!r})")
        counters = ("sequence", "epoch", "step_in_epoch", "step")
        if any(not isinstance(values.get(k, 0), int) or values.get(k, 0) < 0 for k in counters):
            raise checkpoint.CheckpointError("its state's counters are not non-negative integers")
        return cls(**values)


# --------------------------------------------------------------------------- the step callback
class _StepControl(keras.callbacks.Callback):
    """Acts at each step's begin (see the module docstring); watches the loss at step end.

    The loss check runs on Keras' callback thread pool (`async_safe`), so reading the loss never
    makes the main thread wait for the device; a non-finite loss is acted on at the next step
    begin, and recorded with the step it belongs to. Keras' `TerminateOnNaN` would read the loss
    on the main thread after every step (a device sync) and record nothing about where.
    """

    async_safe = True

    def __init__(self, run: "Run"):
        super().__init__()
        self.run = run
        self.last: float | None = None
        self.restore_metrics: dict[str, np.ndarray] | None = None
        self.restore_rng: np.ndarray | None = None  # a mid-epoch checkpoint's global random state
        self.first_step = run.state.step  # global step before this `fit` call's first batch
        self.diverged: dict[str, Any] | None = None
        self.set_lr: float | None = None  # the lr last given to the optimizer (time budgets)

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is None:
            return
        loss = float(np.asarray(loss))  # waits for this step on a worker thread, not the main one
        if not math.isfinite(loss):
            step = self.first_step + batch + 1
            if self.diverged is None or step < self.diverged["step"]:
                self.diverged = {"epoch": self.run.state.epoch + 1, "step": step, "loss": str(loss)}

    def on_epoch_begin(self, epoch, logs=None):
        if self.restore_metrics is not None:  # fit has just reset them; put back the half epoch's
            checkpoint.restore_metrics(self.model, self.restore_metrics)
            self.restore_metrics = None

    def on_epoch_end(self, epoch, logs=None):
        self._charge()  # the last step; what `fit` does after it is not training

    def on_train_batch_begin(self, batch, logs=None):
        if self.restore_rng is not None:  # after `fit` made its data iterator (torch draws a seed there)
            backends.set_global_rng_state(self.restore_rng)
            self.restore_rng = None
        self._charge()
        run = self.run
        stop = Interrupted(_SIGNAL["received"]) if _SIGNAL["received"] is not None else \
            Diverged() if self.diverged is not None else BudgetReached() if run.clock.spent else None
        if stop is not None:
            models.sync(self.model)  # on JAX the variables are stale inside `fit` until synced
            raise stop
        if run.checkpointer.due(run.config.checkpoint_every_minutes):
            run.save_checkpoint()
        run.claim.heartbeat()
        if run.clock.total is None:  # a time budget: the lr follows the clock (step budgets: models.BudgetSchedule)
            self._follow_clock()
        self.last = time.perf_counter()

    def _charge(self) -> None:
        if self.last is not None:
            self.run.clock.charge(time.perf_counter() - self.last)
            self.run.state.step_in_epoch += 1
            self.last = None

    def _follow_clock(self) -> None:
        """Set the lr when it has moved by LR_STEP of its peak: on JAX each change costs a sync of
        the device state, so it happens a few hundred times a run, not every step."""
        lr = self.run.clock.lr()
        moved = self.set_lr is None or abs(lr - self.set_lr) >= LR_STEP * self.run.config.learning_rate or lr == 0.0
        if moved and lr != self.set_lr:
            models.sync(self.model)
            self.model.optimizer.learning_rate = lr
            self.set_lr = self.run.lr_set = lr


# ------------------------------------------------------------------------------- the evaluator
class Evaluator:
    """Evaluates splits (time charged to `eval_seconds`) and keeps the best-on-validation weights."""

    def __init__(self, run: "Run"):
        self.run = run
        self.best_weights: list[np.ndarray] | None = None

    def __call__(self, split: str) -> dict[str, float]:
        started = time.perf_counter()
        arguments, loss_correction = self.run.feeder.evaluation(split)
        logs = self.run.model.evaluate(**arguments, verbose=0, return_dict=True)
        logs["loss"] = logs["loss"] * loss_correction
        self.run.state.eval_seconds += time.perf_counter() - started
        return {k: float(v) for k, v in logs.items()}

    def consider(self, val_top1: float) -> None:
        """Keep the weights when `val_top1` is the best so far (on the selection split)."""
        state = self.run.state
        if state.best_val_top1 is None or val_top1 > state.best_val_top1:
            state.best_val_top1, state.best_epoch = val_top1, state.epoch + 1
            self.best_weights = models.get_weights(self.run.model)

    def final(self) -> dict[str, Any]:
        """Train-eval and test with the final weights, then test with the best-on-val weights."""
        run, state = self.run, self.run.state
        final_weights = models.get_weights(run.model)
        out = {"train_eval_top1": None, "gap": None}
        if run.splits.info.sizes.get("train_eval"):  # --train-eval-size 0: no gap measured
            out["train_eval_top1"] = self("train_eval")["top1"]
            out["gap"] = out["train_eval_top1"] - state.history[-1]["val_top1"]
        test_final = self("test")
        out.update(test_top1_final=test_final["top1"], test_top5_final=test_final["top5"])
        test_best = test_final
        if self.best_weights is not None and state.best_epoch != len(state.history):
            models.set_weights(run.model, self.best_weights)
            test_best = self("test")
            models.set_weights(run.model, final_weights)
        out.update(test_top1=test_best["top1"], test_top5=test_best["top5"])
        return out


# ------------------------------------------------------------------------------------- the run
class Run:
    """One (architecture, seed, config) run in its folder: builds, restores, trains, records."""

    def __init__(self, config: RunConfig, folder: Path, splits, *, claim: Claim, strategy=None,
                 chief: bool = True, log: Callable[[str], None] = print, verbose: int = 1):
        self.config, self.folder, self.splits = config, Path(folder), splits
        self.claim, self.strategy, self.chief, self.log, self.verbose = claim, strategy, chief, log, verbose
        self.state = State()
        self.checkpointer = checkpoint.Checkpointer(self.folder / "checkpoints", chief=chief, log=log)
        self.evaluator = Evaluator(self)
        self.model = self.clock = None
        self.lr_set: float | None = None  # a time budget's lr as last given to the optimizer
        self.host_feed = not backends.fits_on_device(splits.pixels().nbytes)  # data stays in host memory
        self.feeder = feed.Feeder(splits, config.data.batch_size, backends.process_share(), host=self.host_feed)
        self._pending_metrics: dict[str, np.ndarray] | None = None  # a half epoch's metric sums

    # --------------------------------------------------------------------------------- setup
    def build(self) -> None:
        config, info = self.config, self.splits.info
        if config.backend != keras.backend.backend():
            raise RuntimeError(f"this run is for the {config.backend} backend; Keras runs on {keras.backend.backend()}")
        keras.utils.set_random_seed(config.seed)
        backends.deterministic_ops()
        keras.mixed_precision.set_global_policy(config.precision)
        if self.host_feed:
            self.log(f"{self._who()}: the data ({self.splits.pixels().nbytes / 2**30:.1f} GiB) does not fit beside the "
                     f"model in the device's memory: it stays in host memory and travels with each batch (slower)")
        scope = self.strategy.scope() if self.strategy is not None else contextlib.nullcontext()
        with scope:
            model = models.make(config.model_name, info.num_classes, config.recipe, pixels=self.splits.pixels(),
                                mean=info.mean, std=info.std, hparams=config.hparams, host=self.host_feed)
            self.clock = BudgetClock(config.budget, config.recipe, config.learning_rate, self.splits.steps_per_epoch,
                                     config.data.batch_size, budget.train_flops_per_image(architectures.macs(model)),
                                     counters=self.state)
            models.compile(model, config.recipe, jit=config.jit, learning_rate=self._schedule())
            models.build_state(model)
        self.model = model

    def _schedule(self):
        """What the optimizer is compiled with: for step-like budgets the whole schedule, computed
        in the step from the optimizer's own counter (exact, free, and restored with it); for time
        budgets a value the step callback moves with the clock."""
        recipe, total = self.config.recipe, self.clock.total
        if recipe.schedule == "constant":
            return self.config.learning_rate
        return 0.0 if total is None else models.BudgetSchedule(self.config.learning_rate, recipe.warmup, total)

    def start(self) -> bool:
        """Build, restore whatever the folder holds, and open a segment (one per process that
        trains the run: host, device, where it started). True when it resumed."""
        self.build()
        resumed = self.restore()
        segment = {"host": socket.gethostname(), "pid": os.getpid(), "device": backends.device(),
                   "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "from_step": self.state.step}
        self.state.segments.append(segment)
        if self.chief:
            results.append_environment(self.folder, {**environment.describe(), **segment})
            results.write_summary(self.folder, self.summary("running"))
        return resumed

    def restore(self) -> bool:
        """Continue from the newest checkpoint that reads and fits; False when there is none."""
        restored = self.checkpointer.restore(self.model, State.from_dict)
        if restored is None:
            return False
        self.state, self.evaluator.best_weights, arrays = restored
        self.clock.counters = self.state
        self._pending_metrics = arrays if self.state.step_in_epoch else None
        if self.state.budget_done:
            self.log(f"{self._who()}: training finished before the last stop; evaluating it")
        else:
            self.log(f"{self._who()}: resuming from checkpoint {self.state.sequence} (epoch "
                     f"{self.state.epoch + 1}, step {self.state.step_in_epoch} of it)")
        return True

    # ---------------------------------------------------------------------------------- loop
    def train(self) -> None:
        """Train until the budget is spent (or raise Interrupted after checkpointing)."""
        while not self.state.budget_done:
            self.train_epoch()

    def train_epoch(self) -> None:
        """One `fit` call: the rest of the current epoch, or up to the end of the budget."""
        state = self.state
        control = _StepControl(self)
        control.restore_metrics, self._pending_metrics = self._pending_metrics, None
        if control.restore_metrics is not None:
            control.restore_rng = control.restore_metrics.get("rng/global")
        started_step, started_seconds = state.step, state.train_seconds
        try:
            self.model.fit(**self.feeder.train(state.epoch, skip_batches=state.step_in_epoch), epochs=state.epoch + 1,
                           initial_epoch=state.epoch, verbose=0, shuffle=False, callbacks=[control])
            epoch_ended = True
        except (BudgetReached, Diverged):
            epoch_ended = False
        except Interrupted as stopped:
            if not stopped.at_once:
                self.save_checkpoint()
            raise
        if control.diverged is not None:
            state.diverged_at = control.diverged
            raise Diverged(f"loss became {control.diverged['loss']} at epoch {control.diverged['epoch']}, "
                           f"step {control.diverged['step']}")
        if self.clock.spent:
            state.budget_done = True
        elif not epoch_ended:
            raise AssertionError("fit stopped early without a budget or a signal")
        train_logs = {k: float(v) for k, v in self.model.get_metrics_result().items()}
        self._end_epoch(train_logs, state.step - started_step, state.train_seconds - started_seconds,
                        partial=not epoch_ended)
        _check_signal()

    def _end_epoch(self, train_logs: dict[str, float], steps: int, seconds: float, partial: bool) -> None:
        state, clock = self.state, self.clock
        val = self.evaluator(self.selection_split)
        row = {"epoch": state.epoch + 1, "partial": partial, "step": state.step,
               "images": state.step * self.config.data.batch_size,
               "loss": train_logs.get("loss"), "train_top1": train_logs.get("top1"),
               "train_top5": train_logs.get("top5"), "val_loss": val["loss"], "val_top1": val["top1"],
               "val_top5": val["top5"], "lr": clock.lr(), "train_seconds": state.train_seconds,
               "images_per_second": steps * self.config.data.batch_size / seconds if seconds > 0 else None,
               "budget_used": min(clock.progress, 1.0), "train_flops": clock.train_flops, "train_eval_top1": None}
        every = self.config.train_eval_every
        if every and self.splits.info.sizes.get("train_eval") and (state.epoch + 1) % every == 0 and not state.budget_done:
            row["train_eval_top1"] = self.evaluator("train_eval")["top1"]
        state.history.append(row)
        self.evaluator.consider(val["top1"])
        if not partial:
            state.epoch, state.step_in_epoch = state.epoch + 1, 0
        self.save_checkpoint()
        if self.chief:
            results.write_history(self.folder, state.history)
            results.write_summary(self.folder, self.summary("running"))
        self._print_epoch(row)

    @property
    def selection_split(self) -> str:
        return "test" if self.config.data.select_on == "test" else "val"

    def final_metrics(self) -> dict[str, Any]:
        return self.evaluator.final()

    def save_checkpoint(self) -> None:
        self.checkpointer.save(self.model, self.state, self.evaluator.best_weights)
        if self.verbose >= 2 and self.chief:
            self.log(f"{self._who()}: checkpoint {self.state.sequence} written (epoch {self.state.epoch + 1}, "
                     f"step {self.state.step_in_epoch} of it)")

    def summary(self, status: str, final: dict[str, Any] | None = None, error: str | None = None) -> dict:
        return record.build(self, status, final, error)

    # -------------------------------------------------------------------------- reporting
    def _who(self) -> str:
        return f"{self.config.arch} seed {self.config.seed}"

    def _print_epoch(self, row: dict[str, Any]) -> None:
        if self.verbose < 1:
            return
        self.log(f"{self._who()} | epoch {row['epoch']}{' (partial)' if row['partial'] else ''} | "
                 f"budget {row['budget_used']:6.1%} of {self.config.budget} | val top-1 {row['val_top1']:6.2%} | "
                 f"loss {row['loss']:.3f} | {row['images_per_second'] or 0:,.0f} img/s | "
                 f"ETA {format_duration(self.clock.eta())}")

