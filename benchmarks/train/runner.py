"""One training loop for every model: budgeted, resumable at any step, measured.

The order in which a run decides how to start (big_vision-style):
1. the run folder is derived from the config (`RunConfig.relative_dir`); a finished run is skipped
   by the caller;
2. the newest readable checkpoint there is restored (falling back to the previous one);
3. otherwise the run starts fresh from the seed.

Training goes through `model.fit`, one call per epoch, with `control.StepControl` as its callback:
at each step's begin it charges the step that ended and stops `fit` exactly at the first step
boundary at or past the budget, or on divergence or a signal. The parts a run is made of each have
one job: `clock.BudgetClock` (progress and the learning rate), `checkpoint.Checkpointer`,
`evaluator.Evaluator` (splits and best-on-val weights), `feed.Feeder` (what `fit` is given),
`run_state.State` (what a checkpoint holds besides variables) and `record` (history rows and
summary.json).
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Any, Callable

import keras
import numpy as np

from architectures import complexity
from benchmarks.core import budget
from benchmarks.core.config import RunConfig
from benchmarks.core.storage import Claim
from benchmarks.data import feed
from benchmarks.results import schema
from benchmarks.train import backends, checkpoint, environment, models, record
from benchmarks.train.clock import BudgetClock
from benchmarks.train.control import Diverged, Interrupted, StepControl, StopTraining, check_signal
from benchmarks.train.evaluator import Evaluator
from benchmarks.train.run_state import State


class Run:
    """One (architecture, seed, config) run in its folder: builds, restores, trains, records."""

    def __init__(self, config: RunConfig, folder: Path, splits, *, claim: Claim, strategy=None,
                 chief: bool = True, log: Callable[[str], None] = print, verbose: int = 1):
        self.config, self.folder, self.splits = config, Path(folder), splits
        self.claim, self.strategy, self.chief, self.log, self.verbose = claim, strategy, chief, log, verbose
        self.who = f"{config.arch} seed {config.seed}"
        self.state = State()
        self.checkpointer = checkpoint.Checkpointer(self.folder / "checkpoints", chief, log, config.identity())
        self.scalars = record.Scalars(self.folder / "tensorboard")
        self.model = self.clock = self.evaluator = self.control = None  # control: the last `fit` call's callback
        self.host_feed = not backends.fits_on_device(splits.pixels().nbytes)  # data stays in host memory
        self.feeder = feed.Feeder(splits, config.data.batch_size, backends.process_share(), host=self.host_feed)
        self._pending_metrics: dict[str, np.ndarray] | None = None  # a half epoch's metric sums

    # --------------------------------------------------------------------------------- setup
    def start(self) -> bool:
        """Build, restore whatever the folder holds, and open a segment (one per process that
        trains the run: host, device, where it started). True when it resumed."""
        if self.host_feed:
            self.log(f"{self.who}: the data ({self.splits.pixels().nbytes / 2**30:.1f} GiB) does not fit beside the "
                     f"model in the device's memory: it stays in host memory and travels with each batch (slower)")
        started = time.perf_counter()  # the wall clock counts building and restoring too
        self.model, flops_per_image = compiled_model(self.config, self.splits, strategy=self.strategy, host=self.host_feed)
        restored = self.checkpointer.restore(self.model, State.from_dict)  # the state first, then what uses it
        self.state, best_weights, arrays = restored if restored is not None else (State(), None, None)
        self.clock = BudgetClock(self.config.budget, self.config.recipe, self.config.peak_lr, self.splits.steps_per_epoch,
                                 self.config.data.batch_size, flops_per_image, counters=self.state, started=started)
        if restored is not None:
            self._pending_metrics = arrays if self.state.step_in_epoch else None
            self.log(f"{self.who}: training finished before the last stop; evaluating it" if self.state.budget_done else
                     f"{self.who}: resuming from checkpoint {self.state.sequence} ({self.state.position()})")
        self.evaluator = Evaluator(self.model, self.feeder, self.state, train_eval=bool(self.splits.info.sizes.get(
            "train_eval")), train_eval_every=self.config.train_eval_every, best_weights=best_weights)
        self.state.segments.append(segment := environment.segment(self.state.step, self.config.jit))
        if self.chief:
            if restored is not None:  # a stop between the checkpoint and history.csv left it a row short
                record.write_history(self.folder, self.state.history)
            schema.append_environment(self.folder, {**environment.describe(), **segment}, self.log)
            environment.write_source_diff(self.folder)
            schema.write_summary(self.folder, self.summary("running"))
        return restored is not None

    # ---------------------------------------------------------------------------------- loop
    def train(self) -> None:
        """Train until the budget is spent (or raise Interrupted after checkpointing)."""
        try:
            while not self.state.budget_done:
                self.train_epoch()
        finally:
            self.scalars.close()

    def train_epoch(self) -> None:
        """One `fit` call: the rest of the current epoch, or up to the end of the budget."""
        state, minutes = self.state, self.config.checkpoint_every_minutes
        control = self.control = StepControl(
            self.clock, state, num_classes=self.splits.info.num_classes, checkpoint=self.save_checkpoint,
            checkpoint_due=lambda: self.checkpointer.due(minutes), heartbeat=self.claim.heartbeat,
            restore_metrics=self._pending_metrics)
        self._pending_metrics = None
        started_step, started_seconds = state.step, state.train_seconds
        try:
            self.model.fit(**self.feeder.train(state.epoch, skip_batches=state.step_in_epoch), epochs=state.epoch + 1,
                           initial_epoch=state.epoch, verbose=0, shuffle=False, callbacks=[control])
        except StopTraining:
            pass  # control.reason says why
        except Interrupted as stopped:
            if not stopped.at_once:
                self.save_checkpoint()
            raise
        if control.reason == "diverged":
            state.diverged_at = control.diverged
            raise Diverged.at(control.diverged)
        state.budget_done = self.clock.spent  # stopped for the budget, or it ran out with the epoch
        epoch_ended = control.reason is None
        train_logs = {k: float(v) for k, v in self.model.get_metrics_result().items()}
        self._end_epoch(train_logs, state.step - started_step, state.train_seconds - started_seconds,
                        partial=not epoch_ended)
        check_signal()

    def _end_epoch(self, train_logs: dict[str, float], steps: int, seconds: float, partial: bool) -> None:
        state = self.state
        val = self.evaluator(self.config.data.select_on)  # val, or test (the post's protocol)
        row = record.epoch_row(state, self.clock, train_logs, val, steps, seconds, partial)
        row["penalty"] = models.penalty(self.model)  # of the weights `val` was evaluated with
        row["train_eval_top1"] = self.evaluator.periodic_train_eval()
        state.history.append(row)
        self.evaluator.consider(val["top1"])
        if not partial:
            state.epoch, state.step_in_epoch = state.epoch + 1, 0
        self.save_checkpoint()
        if self.chief:
            record.write_history(self.folder, state.history)
            self.scalars.write(row)
            schema.write_summary(self.folder, self.summary("running"))
        if self.verbose >= 1:
            self.log(record.progress_line(self.who, self.clock, row))

    # --------------------------------------------------------------------------------- record
    def save_checkpoint(self) -> None:
        self.clock.tick()
        self.checkpointer.save(self.model, self.state, self.evaluator.best_weights)
        if self.verbose >= 2 and self.chief:
            self.log(f"{self.who}: checkpoint {self.state.sequence} written ({self.state.position()})")

    def summary(self, status: str, final: dict[str, Any] | None = None, error: str | None = None) -> dict:
        """The run's record as it stands (its wall clock brought up to now)."""
        if self.clock is not None:
            self.clock.tick()
        return record.summary_record(self.config, self.splits.info, self.state, self.clock, self.model,
                            feed="host" if self.host_feed else "device", status=status, final=final, error=error)


def compiled_model(config: RunConfig, splits, *, strategy=None, host: bool = False):
    """(model, training FLOPs per image): `config`'s model on `splits`' pixels, compiled with the
    budget's schedule, its optimizer and metric state built (a checkpoint can fill them). Seeds first."""
    info = splits.info
    if config.backend != keras.backend.backend():
        raise RuntimeError(f"this run is for the {config.backend} backend; Keras runs on {keras.backend.backend()}")
    keras.utils.set_random_seed(config.seed)
    if config.deterministic:  # opt-in: deterministic kernels are slower, and speed is what is measured
        backends.deterministic_ops(config.jit)
    keras.mixed_precision.set_global_policy(config.precision)
    with strategy.scope() if strategy is not None else contextlib.nullcontext():
        model = models.make(config.model_name, info.num_classes, config.recipe, pixels=splits.pixels(),
                            mean=info.mean, std=info.std, hparams=config.hparams, host=host)
        flops_per_image = budget.train_flops_per_image(complexity.macs(model))
        total = config.budget.total_steps(splits.steps_per_epoch, config.data.batch_size, flops_per_image)
        models.compile_for_training(model, config.recipe, jit=config.jit,
                                    learning_rate=models.compiled_schedule(config.recipe, config.peak_lr, total))
        models.build_state(model)
    return model, flops_per_image
