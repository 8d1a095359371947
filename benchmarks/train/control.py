"""How a run stops: the exceptions that end a `fit` call, the signal handlers, and the step
callback that decides, at each step's begin, whether the next step runs.

The callback acts at step *begin* (so Keras keeps dispatching batch-end hooks asynchronously):
it counts the step just handed to the device, asks the checkpointer whether an in-epoch
checkpoint is due and, when the budget is spent, the loss diverged or a signal came, raises
before the next step runs. Step-like budgets (steps, images, FLOPs) therefore stop exactly.

Time is charged when a step is *finished*, not when it is handed over: JAX (and any GPU) runs
asynchronously, and `fit` can queue a whole epoch's steps before the first has run (README,
Time budgets, has the figures). So each step's end is taken from the moment its loss is ready (on
Keras' callback thread, which waits for it), and the host may run at most one step ahead of the
device: time budgets stop within a step of their end, and img/s counts compute, not dispatch.
"""

from __future__ import annotations

import atexit
import math
import os
import signal
import sys
import threading
import time
from typing import Any, Callable

import keras
import numpy as np

from benchmarks.train import backends, checkpoint, models


class StopTraining(Exception):
    """Ends a `fit` call before the next step runs: the budget is spent or the loss diverged. Why is
    `StepControl.reason`, set where the decision is made and read by the runner alone. (Keras'
    `model.stop_training` would let one more step run: the callback decides at a step's begin.)"""


class Diverged(Exception):
    """The training loss became NaN, infinite or exploded past any sane bound (`loss_bound`): a
    result about the recipe, recorded as such."""

    @classmethod
    def at(cls, where: dict[str, Any]) -> "Diverged":
        """The error for the first non-finite or exploded loss, `where` = {epoch, step, loss}."""
        return cls(f"loss became {where['loss']} at epoch {where['epoch']}, step {where['step']}")


def loss_bound(num_classes: int) -> float:
    """A training loss past this has exploded, though finite: 10x the cross-entropy of a uniform
    guess, ln(classes), and never below 100 (weight decay's term in the loss of a wide model at
    initialisation stays far below that). Saturated outputs then make every class a tie."""
    return max(10 * math.log(max(num_classes, 2)), 100.0)


class Interrupted(BaseException):
    """SIGTERM or SIGINT arrived; the run has been checkpointed. A BaseException, like
    KeyboardInterrupt, so that `except Exception` (keras-tuner's trial loop) cannot swallow it.
    `at_once`: a second Ctrl-C, raised wherever the loop was; the last checkpoint on disk stands."""

    def __init__(self, signum: int, at_once: bool = False):
        super().__init__(signal.Signals(signum).name)
        self.signum, self.at_once = signum, at_once


# ------------------------------------------------------------------------------------- signals
_SIGNAL: dict[str, int | None] = {"received": None, "recording": 0}


def install_signal_handlers() -> None:
    """SIGTERM/SIGINT only set a flag: the loop checkpoints at the next step boundary and exits."""

    def handler(signum, _frame):
        if _SIGNAL["received"] is not None and signum == signal.SIGINT and not _SIGNAL["recording"]:
            raise Interrupted(signum, at_once=True)  # a second Ctrl-C: stop now, without a checkpoint
        _SIGNAL["received"] = signum

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    if sys.unraisablehook is not _quiet_when_a_finalizer_is_interrupted:
        _quiet_when_a_finalizer_is_interrupted.previous = sys.unraisablehook
        sys.unraisablehook = _quiet_when_a_finalizer_is_interrupted
    atexit.unregister(_leave_at_once_on_a_signal)
    atexit.register(_leave_at_once_on_a_signal)  # runs before the libraries' own (registered on import)


def _quiet_when_a_finalizer_is_interrupted(unraisable) -> None:
    """A second Ctrl-C raised while the main thread ran a finalizer or a weakref callback (a thread
    pool's, as Keras' executors are collected) cannot propagate: Python prints it as "Exception
    ignored in" with a traceback and goes on. The first signal's stop still comes at the next step
    boundary (checkpointed, exit 130), so the swallowed one is left unsaid; anything else goes to
    the hook that was there before."""
    if isinstance(unraisable.exc_value, Interrupted):
        return
    _quiet_when_a_finalizer_is_interrupted.previous(unraisable)


_quiet_when_a_finalizer_is_interrupted.previous = sys.unraisablehook


def _leave_at_once_on_a_signal() -> None:
    """The command is over and the libraries tear down (JAX clears its caches at exit): a signal
    now ends the process at once, in silence. Raised inside their exit hooks, Interrupted printed
    a traceback (a second Ctrl-C after the first one's checkpoint, on JAX). When the command is
    ending *because of* a signal, its exit status is decided and a further one is ignored: Python
    resets its own handlers to the default as it finalizes, after this hook, and a Ctrl-C landing
    then killed the process (status -2, not 130) without a word."""
    for signum in (signal.SIGTERM, signal.SIGINT):
        if _SIGNAL["received"] is not None:
            signal.signal(signum, signal.SIG_IGN)  # survives finalization: Python resets only its own handlers
        else:
            signal.signal(signum, lambda received, _frame: os._exit(128 + received))


class recording:
    """While the run's stop is being recorded (its summary written `interrupted`), a second Ctrl-C
    waits for the write: raised inside it, it left the run `running` with no word of the stop."""

    def __enter__(self):
        _SIGNAL["recording"] += 1

    def __exit__(self, *_):
        _SIGNAL["recording"] -= 1


def check_signal() -> None:
    """Raise Interrupted when a signal has arrived."""
    if _SIGNAL["received"] is not None:
        raise Interrupted(_SIGNAL["received"])


# --------------------------------------------------------------------------- the step callback
class StepControl(keras.callbacks.Callback):
    """Acts at each step's begin (see the module docstring) on `clock` and `state`; watches the
    loss and times each step at step end. It checkpoints through `checkpoint` when
    `checkpoint_due()` says so, and calls `heartbeat` (the run's claim) at every step.

    Step end runs on Keras' callback thread pool (`async_safe`), where Keras waits for the step's
    outputs: reading the loss never makes the main thread wait, a non-finite loss is acted on at
    a following step begin and recorded with the step it belongs to, and the moment the loss is
    ready is when the step finished. Keras' `TerminateOnNaN` would read the loss on the main
    thread after every step (a device sync) and record nothing about where.
    """

    async_safe = True
    AHEAD = 1  # steps the host may queue beyond the last finished one
    # A step's end mark may never come: when the device fails the step (out of memory on a GPU,
    # say), Keras' callback thread raises before calling us and Keras re-raises that error on the
    # main thread at its next dispatch. Waiting past this, the loop goes on so that it can.
    STALL_SECONDS = 120.0

    def __init__(self, clock, state, *, num_classes: int, checkpoint: Callable[[], None],
                 checkpoint_due: Callable[[], bool], heartbeat: Callable[[], None],
                 restore_metrics: dict[str, np.ndarray] | None = None):
        """`restore_metrics`: a mid-epoch checkpoint's metric sums (and global random state)."""
        super().__init__()
        self.clock, self.state = clock, state
        self.checkpoint, self.checkpoint_due, self.heartbeat = checkpoint, checkpoint_due, heartbeat
        self.restore_metrics = restore_metrics
        self.restore_rng = None if restore_metrics is None else restore_metrics.get("rng/global")
        self.first_step = state.step  # global step before this `fit` call's first batch
        self.diverged: dict[str, Any] | None = None
        self.reason: str | None = None  # why `fit` was stopped: "budget", "diverged" or "signal"; None: it ran out
        self.lr_set: float | None = None  # a time budget's lr as last given; each `fit` call starts afresh
        self.bound = loss_bound(num_classes)
        self._finished = threading.Condition()
        self._finished_at: dict[int, float] = {}  # batch -> when its outputs were ready
        self._queued = 0  # batches of this `fit` call handed to the device (and counted)
        self._timed = 0  # of those, the batches whose seconds are charged
        self._since: float | None = None  # when the next batch to charge began

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        try:
            if loss is not None:
                loss = float(np.asarray(loss))  # waits for this step on a worker thread, not the main one
        finally:  # the main thread waits for this mark (see _settle)
            with self._finished:
                self._finished_at[batch] = time.perf_counter()
                self._finished.notify_all()
        if loss is not None and (not math.isfinite(loss) or loss > self.bound):
            step = self.first_step + batch + 1
            if self.diverged is None or step < self.diverged["step"]:
                self.diverged = {"epoch": self.state.epoch + 1, "step": step, "loss": str(loss)}

    def on_epoch_begin(self, epoch, logs=None):
        if self.restore_metrics is not None:  # fit has just reset them; put back the half epoch's
            checkpoint.restore_metrics(self.model, self.restore_metrics)
            self.restore_metrics = None

    def on_epoch_end(self, epoch, logs=None):
        self._count(self._queued + 1)  # the last step; what `fit` does after it is not training
        self._settle(ahead=0)

    def on_train_batch_begin(self, batch, logs=None):
        if self.restore_rng is not None:  # after `fit` made its data iterator (torch draws a seed there)
            backends.set_global_rng_state(self.restore_rng)
            self.restore_rng = None
        if self._since is None:
            self._since = time.perf_counter()
        self._count(batch)
        self._settle(ahead=self.AHEAD)
        clock = self.clock
        self.reason = "signal" if _SIGNAL["received"] is not None else "diverged" if self.diverged is not None \
            else "budget" if clock.spent else None
        if self.reason is not None or self.checkpoint_due():
            self._settle(ahead=0)
            if self.reason is not None:
                models.sync(self.model)  # on JAX the variables are stale inside `fit` until synced
                # A signal is a BaseException (keras-tuner's trial loop must not swallow it), the others not
                raise Interrupted(_SIGNAL["received"]) if self.reason == "signal" else StopTraining(self.reason)
            self.checkpoint()
            self._since = time.perf_counter()  # writing the checkpoint is not training
        self.heartbeat()
        if clock.total is None and (lr := clock.lr_due(self.lr_set)) is not None:  # a time budget
            models.sync(self.model)  # on JAX an lr assigned inside `fit` is ignored without a sync
            self.model.optimizer.learning_rate = self.lr_set = lr

    def _count(self, queued: int) -> None:
        """Count the steps handed to the device up to `queued` batches of this call."""
        while self._queued < queued:
            self.clock.count_step()
            self._queued += 1

    def _settle(self, ahead: int) -> None:
        """Wait until at most `ahead` counted steps are unfinished; charge the finished ones' time."""
        due = range(self._timed, max(self._queued - ahead, self._timed))
        with self._finished:
            self._finished.wait_for(lambda: all(b in self._finished_at for b in due), timeout=self.STALL_SECONDS)
            finished = [self._finished_at.get(b, time.perf_counter()) for b in due]
        for at in finished:
            at = max(at, self._since)
            self.clock.charge_seconds(at - self._since)
            self._since, self._timed = at, self._timed + 1
