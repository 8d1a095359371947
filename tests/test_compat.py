"""The private library APIs `benchmarks/core/compat.py` relies on: each test fails loudly when a
library changes one underneath, naming what to fix."""

import importlib.util

import keras
import numpy as np
import pytest

from benchmarks.core import compat


def test_keras_symbolic_build_creates_optimizer_and_metric_variables():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(keras.optimizers.SGD(0.1, momentum=0.9), "sparse_categorical_crossentropy",
                  weighted_metrics=[keras.metrics.SparseCategoricalAccuracy(name="top1")])
    assert hasattr(keras.Model, "_symbolic_build"), "Keras dropped Model._symbolic_build: see compat.symbolic_build"
    compat.symbolic_build(model, (np.zeros((1, 3), np.float32), np.zeros((1,), np.int64)))
    assert len(model.optimizer.variables) > 2 and model.metrics_variables  # momenta and counters exist


def test_keras_jax_trainer_still_has_jax_state_sync():
    if importlib.util.find_spec("jax") is None:  # TensorFlow here: the sync must be a no-op
        model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
        assert not hasattr(model, "jax_state_sync") or keras.backend.backend() == "jax"
        compat.sync_jax_state(model)
    else:
        from keras.src.backend.jax.trainer import JAXTrainer

        assert callable(getattr(JAXTrainer, "jax_state_sync", None)), "Keras' JAX trainer lost jax_state_sync"


@pytest.mark.tensorflow
def test_tfds_gcs_switch_exists():
    from tensorflow_datasets.core.utils import gcs_utils

    assert hasattr(gcs_utils, "_is_gcs_disabled"), "tfds renamed _is_gcs_disabled: see compat"
    compat.tfds_without_cloud_storage()
    assert gcs_utils._is_gcs_disabled is True


def test_keras_tuner_private_hooks_exist(tmp_path):
    import keras_tuner as kt
    from keras_tuner.src import config

    assert hasattr(config, "DEBUG")
    Trial, TrialStatus = compat.keras_tuner_trial_types()
    assert TrialStatus.FAILED and Trial
    oracle = kt.oracles.RandomSearchOracle(objective=kt.Objective("val_top1", "max"), max_trials=1)
    oracle._set_project_dir(str(tmp_path), "p")
    for name in ("_save_trial", "_get_oracle_fname", "_get_trial_dir"):
        assert hasattr(oracle, name), f"keras-tuner's oracle lost {name}: see compat.keras_tuner_atomic_saves"
    written = []
    compat.keras_tuner_atomic_saves(oracle, lambda path, write: written.append(path))
    oracle.save()
    assert written and str(written[0]).endswith("oracle.json")


def test_keras_tuner_retry_queues_trials_once_and_unends_them_when_asked():
    """keras-tuner's private oracle keys: `retry_queue` gets each trial once, never one the
    oracle is running, and `unend` takes them out of `end_order` (so --max-trials recounts)."""
    state = {"ongoing_trials": {"worker0": "03"}, "retry_queue": ["01"], "end_order": ["00", "01", "02"]}
    state = compat.keras_tuner_retry(state, ["01", "02", "03"])
    assert state["retry_queue"] == ["01", "02"] and state["end_order"] == ["00", "01", "02"]
    state = compat.keras_tuner_retry(state, ["00"], unend=True)
    assert state["retry_queue"] == ["01", "02", "00"] and state["end_order"] == ["01", "02"]
