"""Every use of a library's private API, in one place, each for a reason no public API covers.
tests/test_compat.py fails loudly when a library changes one of these underneath."""

from __future__ import annotations

import json
import logging
from pathlib import Path


# ----------------------------------------------------------------------------------------- Keras
def symbolic_build(model, data_batch) -> None:
    """Create optimizer slots and metric accumulators before the first step, so a checkpoint can
    fill them: Keras builds them lazily at the first step, which comes after restoring."""
    model._symbolic_build(data_batch=data_batch)


def sync_jax_state(model) -> None:
    """Inside `fit`, Keras' JAX trainer keeps the variables in its own state until the epoch ends;
    a checkpoint, an lr change or a stop mid-epoch needs them back on the model first."""
    if hasattr(model, "jax_state_sync"):
        model.jax_state_sync()


# ------------------------------------------------------------------------- tensorflow-datasets
def tfds_without_cloud_storage() -> None:
    """tfds asks Google Cloud Storage for metadata first and waits for the timeout offline."""
    from tensorflow_datasets.core.utils import gcs_utils

    gcs_utils._is_gcs_disabled = True


# ---------------------------------------------------------------------------------- keras-tuner
def keras_tuner_quiet() -> None:
    """keras-tuner prints a traceback per failed trial while its DEBUG flag is on (the default,
    with no public switch); the tuner logs each failure in one line itself."""
    from keras_tuner.src import config

    config.DEBUG = False
    # Each trial is a new model, so TensorFlow traces its step afresh: expected, yet its logger
    # warns "triggered tf.function retracing" a few times per search. Drop only that warning.
    logging.getLogger("tensorflow").addFilter(lambda record: "triggered tf.function retracing" not in record.getMessage())


def keras_tuner_trial_types():
    """(Trial, TrialStatus): to rebuild a trial whose trial.json a kill left half-written."""
    from keras_tuner.src.engine.trial import Trial, TrialStatus

    return Trial, TrialStatus


def keras_tuner_retry(state: dict, trial_ids, *, unend: bool = False) -> dict:
    """oracle.json's `state` with `trial_ids` queued for another try (keras-tuner's private
    `retry_queue`), except trials the oracle runs now (`ongoing_trials`); `unend`: they also leave
    `end_order`, so a failure no longer counts against --max-trials."""
    ongoing = set(state.get("ongoing_trials", {}).values())
    retry = state.setdefault("retry_queue", [])
    retry += [t for t in trial_ids if t not in ongoing and t not in retry]
    if unend:
        state["end_order"] = [t for t in state.get("end_order", []) if t not in trial_ids]
    return state


def keras_tuner_atomic_saves(oracle, atomic_write) -> None:
    """keras-tuner writes oracle.json and trial.json in place; a kill mid-write would leave a
    half-written file that breaks the reload. Route both through `atomic_write(path, write)`
    (a worker's oracle is a client of the chief's and writes nothing)."""
    if not hasattr(oracle, "_save_trial"):
        return

    def save(fname=None):
        atomic_write(Path(fname or oracle._get_oracle_fname()), lambda f: json.dump(oracle.get_state(), f))

    def save_trial(trial):
        path = Path(oracle._get_trial_dir(trial.trial_id)) / "trial.json"
        atomic_write(path, lambda f: json.dump(trial.get_state(), f))

    oracle.save = save
    oracle._save_trial = save_trial
