"""One training loop for every model: budgeted, resumable at any step, measured.

The order in which a run decides how to start (big_vision-style):
1. the run folder is derived from the config (`RunConfig.relative_dir`); a finished run is skipped
   by the caller;
2. the newest readable checkpoint there is restored (falling back to the previous one);
3. otherwise the run starts fresh from the seed.

Training goes through `model.fit`, one call per epoch, with a callback that acts only at step
*begin* (so Keras keeps dispatching batch-end hooks asynchronously and never syncs for logs):
it charges the time of the step that just ended, writes in-epoch checkpoints, sets the
budget-aware learning rate and, when the budget is spent or a signal came, raises before the
next step runs. That is how a run stops exactly at the first step boundary at or past its budget.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import signal
import socket
import statistics
import time
from pathlib import Path
from typing import Any, Callable

import keras
import numpy as np

import architectures
from benchmarks import backends, checkpoint, environment, feed, models, results
from benchmarks.config import Budget, Recipe, RunConfig
from benchmarks.storage import Claim

TARGETS = (0.30, 0.40, 0.52, 0.60, 0.70)  # val top-1 for time_to_target; 0.52: the post's result
LR_STEP = 0.005  # a time budget's lr is moved in steps of this share of its peak


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


# ------------------------------------------------------------------------ budget and schedule
def total_steps(budget: Budget, steps_per_epoch: int, batch_size: int) -> int | None:
    """Steps a step-like budget allows; None for a time budget (progress is then time)."""
    if budget.kind == "epochs":
        return int(budget.amount) * steps_per_epoch
    if budget.kind == "steps":
        return int(budget.amount)
    if budget.kind == "images":
        return math.ceil(budget.amount / batch_size)
    return None


def learning_rate(recipe: Recipe, peak: float, progress: float) -> float:
    """Budget-aware schedule (Li, Yumer & Ramanan 2020): linear warm-up over `recipe.warmup` of
    the budget, then linear decay to exactly zero when the budget is spent."""
    if recipe.schedule == "constant":
        return peak
    progress = min(max(progress, 0.0), 1.0)
    if progress < recipe.warmup:
        return peak * progress / recipe.warmup
    return peak * (1.0 - progress) / (1.0 - recipe.warmup)


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
        """The state a checkpoint holds; CheckpointError for unknown or missing fields or wrong types."""
        fields = {f.name: f for f in dataclasses.fields(cls)}
        if not isinstance(values, dict) or set(values) - set(fields):
            raise checkpoint.CheckpointError(f"its state has unknown fields "
                                             f"({sorted(set(values) - set(fields)) if isinstance(values, dict) else values!r})")
        numbers = ("sequence", "epoch", "step_in_epoch", "step")
        if any(not isinstance(values.get(k, 0), int) or values.get(k, 0) < 0 for k in numbers):
            raise checkpoint.CheckpointError("its state's counters are not non-negative integers")
        return cls(**values)

    def used(self, budget: Budget, total: int | None) -> float:
        """Share of the budget spent, 0..1+."""
        return self.train_seconds / budget.amount if total is None else self.step / total


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

    def on_epoch_end(self, epoch, logs=None):
        self.charge(time.perf_counter())  # the last step; what `fit` does after it is not training

    def on_epoch_begin(self, epoch, logs=None):
        if self.restore_metrics is not None:  # fit has just reset them; put back the half epoch's
            checkpoint.restore_metrics(self.model, self.restore_metrics)
            self.restore_metrics = None

    def on_train_batch_begin(self, batch, logs=None):
        now = time.perf_counter()
        self.charge(now)
        run = self.run
        stop = Interrupted(_SIGNAL["received"]) if _SIGNAL["received"] is not None else \
            Diverged() if self.diverged is not None else \
            BudgetReached() if run.state.used(run.config.budget, run.total) >= 1.0 else None
        if stop is not None:
            models.sync(self.model)  # on JAX the variables are stale inside `fit` until synced
            raise stop
        if time.monotonic() - run.last_checkpoint >= run.config.checkpoint_every_minutes * 60:
            run.save_checkpoint()
        run.claim.heartbeat()
        if run.total is None:  # a time budget: the lr follows the clock (step budgets: models.BudgetSchedule)
            self._follow_clock()
        self.last = time.perf_counter()

    def _follow_clock(self) -> None:
        """Set the lr when it has moved by LR_STEP of its peak: on JAX each change costs a sync of
        the device state, so it happens a few hundred times a run, not every step."""
        lr = self.run.current_lr()
        if self.set_lr is None or abs(lr - self.set_lr) >= LR_STEP * self.run.config.learning_rate or lr == 0.0:
            if lr != self.set_lr:
                models.sync(self.model)
                self.model.optimizer.learning_rate = lr
                self.set_lr = lr

    def charge(self, now: float) -> None:
        """Count the step that ended at `now`."""
        if self.last is None:
            return
        seconds = now - self.last
        state = self.run.state
        if self.run.first_step_of_segment:
            state.compile_seconds += seconds
            self.run.first_step_of_segment = False
        state.train_seconds += seconds
        state.step += 1
        state.step_in_epoch += 1
        self.last = None


# ------------------------------------------------------------------------------------- the run
class Run:
    """One (architecture, seed, config) run in its folder."""

    def __init__(self, config: RunConfig, folder: Path, splits, *, claim: Claim, strategy=None,
                 chief: bool = True, log: Callable[[str], None] = print, verbose: int = 1):
        self.config, self.folder, self.splits = config, Path(folder), splits
        self.claim, self.strategy, self.chief, self.log, self.verbose = claim, strategy, chief, log, verbose
        self.total = total_steps(config.budget, splits.steps_per_epoch, config.data.batch_size)
        self.state = State()
        self.best_weights: list[np.ndarray] | None = None
        self.last_checkpoint = time.monotonic()
        self.first_step_of_segment = True
        self.model = None
        self.host_feed = False  # the data stays in host memory (too large for the device)
        self.share = backends.process_share()  # (index, count) of the processes training this run
        if config.data.batch_size % self.share[1]:
            raise ValueError(f"batch size {config.data.batch_size} does not split over {self.share[1]} processes")
        self._pending_metrics: dict[str, np.ndarray] | None = None  # a half epoch's metric sums

    # --------------------------------------------------------------------------------- setup
    def build(self) -> None:
        if self.config.backend != keras.backend.backend():
            raise RuntimeError(f"this run is for the {self.config.backend} backend; Keras runs on {keras.backend.backend()}")
        keras.utils.set_random_seed(self.config.seed)
        backends.deterministic_ops()
        keras.mixed_precision.set_global_policy(self.config.precision)
        scope = self.strategy.scope() if self.strategy is not None else contextlib.nullcontext()
        info = self.splits.info
        self.host_feed = not backends.fits_on_device(self.splits.pixels().nbytes)
        if self.host_feed:
            self.log(f"{self._who()}: the data ({self.splits.pixels().nbytes / 2**30:.1f} GiB) does not fit beside the "
                     f"model in the device's memory: it stays in host memory and travels with each batch (slower)")
        with scope:
            model = models.compile_model(self.config.arch, info.num_classes, self.config.recipe,
                                         pixels=self.splits.pixels(), mean=info.mean, std=info.std,
                                         jit=self.config.jit, hparams=self.config.hparams,
                                         learning_rate=self._schedule(), host=self.host_feed)
            models.build_state(model)
        self.model = model

    def _schedule(self):
        """What the optimizer is compiled with: for step-like budgets the whole schedule, computed
        in the step from the optimizer's own counter (exact, free, and restored with it); for time
        budgets a value the step callback moves with the clock."""
        recipe = self.config.recipe
        if recipe.schedule == "constant":
            return self.config.learning_rate
        if self.total is None:
            return 0.0
        return models.BudgetSchedule(self.config.learning_rate, recipe.warmup, self.total)

    def current_lr(self) -> float:
        return learning_rate(self.config.recipe, self.config.learning_rate,
                             self.state.used(self.config.budget, self.total))

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
        """Continue from the newest readable checkpoint; False when there is none."""
        restored = {}

        def fits(meta, arrays):  # checks everything, then assigns: see checkpoint.restore
            state = State.from_dict(meta.get("state"))
            restored.update(best=checkpoint.restore(self.model, meta, arrays), state=state, arrays=arrays)

        if checkpoint.load_latest(self.folder / "checkpoints", log=self.log, fits=fits) is None:
            return False
        self.best_weights, self.state = restored["best"], restored["state"]
        self._pending_metrics = restored["arrays"] if self.state.step_in_epoch else None
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
        state = self.state
        control = _StepControl(self)
        control.restore_metrics, self._pending_metrics = self._pending_metrics, None
        started_step, started_seconds = state.step, state.train_seconds
        x, y = self._inputs(*self.splits.train(state.epoch, skip_batches=state.step_in_epoch), self.config.data.batch_size)
        batch = self.config.data.batch_size // self.share[1]
        try:
            self.model.fit(**feed.fit_arguments(x, y, batch), epochs=state.epoch + 1,
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
        if self.state.used(self.config.budget, self.total) >= 1.0:
            state.budget_done = True
        elif not epoch_ended:
            raise AssertionError("fit stopped early without a budget or a signal")
        train_logs = {k: float(v) for k, v in self.model.get_metrics_result().items()}
        self._end_epoch(train_logs, state.step - started_step, state.train_seconds - started_seconds,
                        partial=not epoch_ended)
        _check_signal()

    def _end_epoch(self, train_logs: dict[str, float], steps: int, seconds: float, partial: bool) -> None:
        state = self.state
        val = self.evaluate(self.selection_split)
        row = {"epoch": state.epoch + 1, "partial": partial, "step": state.step,
               "images": state.step * self.config.data.batch_size,
               "loss": train_logs.get("loss"), "train_top1": train_logs.get("top1"),
               "train_top5": train_logs.get("top5"), "val_loss": val["loss"], "val_top1": val["top1"],
               "val_top5": val["top5"], "lr": self.current_lr(), "train_seconds": state.train_seconds,
               "images_per_second": steps * self.config.data.batch_size / seconds if seconds > 0 else None,
               "budget_used": min(state.used(self.config.budget, self.total), 1.0),
               "train_eval_top1": None}
        every = self.config.train_eval_every
        if every and self.splits.info.sizes.get("train_eval") and (state.epoch + 1) % every == 0 and not state.budget_done:
            row["train_eval_top1"] = self.evaluate("train_eval")["top1"]
        state.history.append(row)
        if state.best_val_top1 is None or val["top1"] > state.best_val_top1:
            state.best_val_top1, state.best_epoch = val["top1"], state.epoch + 1
            self.best_weights = models.get_weights(self.model)
        if not partial:
            state.epoch, state.step_in_epoch = state.epoch + 1, 0
        self.save_checkpoint()
        self._write_progress()
        self._print_epoch(row)

    @property
    def selection_split(self) -> str:
        return "test" if self.config.data.select_on == "test" else "val"

    def evaluate(self, split: str) -> dict[str, float]:
        started = time.perf_counter()
        x, y = self.splits.evaluation(split)
        count, processes = len(y), self.share[1]
        batch = -(-max(self.config.data.batch_size, 256) // processes) * processes
        weights = None
        if processes > 1:  # every process takes its share of each batch: pad to whole batches, weight 0
            pad = -count % batch
            x, y = ({k: np.concatenate([v, np.repeat(v[:1], pad, axis=0)]) for k, v in x.items()},
                    np.concatenate([y, np.repeat(y[:1], pad)]))
            weights = (np.arange(count + pad) < count).astype(np.float32)
        x, y = self._inputs(x, y, batch)
        if weights is not None:
            weights = _share(weights, batch, *self.share)
        logs = self.model.evaluate(**feed.fit_arguments(x, y, batch // processes, sample_weight=weights), verbose=0,
                                   return_dict=True)
        if weights is not None:  # the loss is averaged over padded batches: undo that exactly
            logs["loss"] = logs["loss"] * len(weights) * processes / count
        self.state.eval_seconds += time.perf_counter() - started
        return {k: float(v) for k, v in logs.items()}

    def _inputs(self, x, y, batch: int):
        """This process's share of every `batch` (multi-host), images attached in host mode."""
        if self.share[1] > 1:
            x, y = {k: _share(v, batch, *self.share) for k, v in x.items()}, _share(y, batch, *self.share)
        return (feed.to_host(x, self.splits.pixels()) if self.host_feed else x), y

    # ----------------------------------------------------------------------------- the end
    def final_metrics(self) -> dict[str, Any]:
        """Train-eval and test with the final weights, then test with the best-on-val weights."""
        final_weights = models.get_weights(self.model)
        out = {"train_eval_top1": None, "gap": None}
        if self.splits.info.sizes.get("train_eval"):  # --train-eval-size 0: no gap measured
            out["train_eval_top1"] = self.evaluate("train_eval")["top1"]
            out["gap"] = out["train_eval_top1"] - self.state.history[-1]["val_top1"]
        test_final = self.evaluate("test")
        out.update(test_top1_final=test_final["top1"], test_top5_final=test_final["top5"])
        if self.best_weights is not None and self.state.best_epoch != len(self.state.history):
            models.set_weights(self.model, self.best_weights)
            test_best = self.evaluate("test")
            models.set_weights(self.model, final_weights)
        else:
            test_best = test_final
        out.update(test_top1=test_best["top1"], test_top5=test_best["top5"])
        return out

    # ------------------------------------------------------------------------ checkpoints
    def save_checkpoint(self) -> None:
        if not self.chief:
            return
        started = time.perf_counter()
        models.sync(self.model)
        self.state.sequence = checkpoint.next_number(self.folder / "checkpoints", self.state.sequence)
        checkpoint.save(self.folder / "checkpoints", self.model, dataclasses.asdict(self.state),
                        self.best_weights)
        self.state.checkpoint_seconds += time.perf_counter() - started
        self.last_checkpoint = time.monotonic()
        if self.verbose >= 2:
            self.log(f"{self._who()}: checkpoint {self.state.sequence} written (epoch {self.state.epoch + 1}, "
                     f"step {self.state.step_in_epoch} of it) in {time.perf_counter() - started:.2f}s")

    # -------------------------------------------------------------------------- reporting
    def _who(self) -> str:
        return f"{self.config.arch} seed {self.config.seed}"

    def _write_progress(self) -> None:
        if self.chief:
            results.write_history(self.folder, self.state.history)
            results.write_summary(self.folder, self.summary("running"))

    def _print_epoch(self, row: dict[str, Any]) -> None:
        if self.verbose < 1:
            return
        used = row["budget_used"]
        eta = self.state.train_seconds * (1 - used) / used if used > 0 else float("nan")
        ips = row["images_per_second"]
        self.log(f"{self._who()} | epoch {row['epoch']}{' (partial)' if row['partial'] else ''} | "
                 f"budget {used:6.1%} of {self.config.budget} | val top-1 {row['val_top1']:6.2%} | "
                 f"loss {row['loss']:.3f} | {ips or 0:,.0f} img/s | ETA {_hms(eta)}")

    def summary(self, status: str, final: dict[str, Any] | None = None, error: str | None = None):
        state, config, info = self.state, self.config, self.splits.info
        epochs = [r for r in state.history]
        speeds = [r["images_per_second"] for r in epochs[1:] if r["images_per_second"]] or \
                 [r["images_per_second"] for r in epochs if r["images_per_second"]]
        devices = [s["device"] for s in state.segments]
        model = self.model
        record = {
            "schema_version": results.SCHEMA_VERSION, "status": status, "error": error,
            "diverged_at": state.diverged_at, "variant": config.variant(), "config_hash": config.fingerprint(),
            "arch": config.arch, "family": architectures.spec(config.arch).family, "seed": config.seed,
            "dataset": info.name, "synthetic": info.synthetic, "data_source": info.source,
            "recipe": config.recipe.name, "budget": str(config.budget), "budget_kind": config.budget.kind,
            "budget_used": min(state.used(config.budget, self.total), 1.0),
            "epochs": state.epoch + (1 if state.step_in_epoch else 0),
            "epochs_completed": state.epoch, "steps": state.step,
            "train_seconds": state.train_seconds, "compile_seconds": state.compile_seconds,
            "eval_seconds": state.eval_seconds, "checkpoint_seconds": state.checkpoint_seconds,
            "images_per_second": statistics.median(speeds) if speeds else None,
            "best_val_top1": state.best_val_top1, "best_epoch": state.best_epoch,
            "final_val_top1": epochs[-1]["val_top1"] if epochs else None,
            "test_top1": None, "test_top5": None, "test_top1_final": None, "test_top5_final": None,
            "train_eval_top1": None, "gap": None,
            "time_to_target": time_to_target(state.history),
            "params": architectures.trainable_params(model) if model is not None else None,
            "mmacs": architectures.macs(model) / 1e6 if model is not None else None,
            "backend": keras.backend.backend(),
            "resume_count": max(len(state.segments) - 1, 0), "segments": state.segments,
            "devices": sorted(set(devices)), "mixed_devices": len(set(devices)) > 1,
            "precision": config.precision, "jit": config.jit, "strategy": config.strategy,
            "batch_size": config.data.batch_size, "learning_rate": config.learning_rate,
            "selected_on": self.selection_split, "test_used_for_selection": info.test_used_for_selection,
            "data": {**{k: v for k, v in info.to_dict().items() if k != "class_names"},
                     "feed": "host" if self.host_feed else "device"},
            "config": config.to_dict(), "versions": environment.versions(),
            "tuning": dict(config.tuning) or None,
            "updated": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        record.update(final or {})
        return record


def _share(values: np.ndarray, batch: int, index: int, count: int) -> np.ndarray:
    """Process `index`'s contiguous slice of each `batch`-sized batch of `values`."""
    per = batch // count
    shaped = values.reshape(len(values) // batch, count, per, *values.shape[1:])
    return shaped[:, index].reshape(-1, *values.shape[1:])


def time_to_target(history: list[dict[str, Any]]) -> dict[str, float | None]:
    """Training seconds until val top-1 first reached each target (None: not reached)."""
    out = {}
    for target in TARGETS:
        hit = next((r["train_seconds"] for r in history if r["val_top1"] >= target), None)
        out[f"{target:.2f}"] = hit
    return out


def _hms(seconds: float) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "--:--:--"
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
