"""Budgets as one type (issue 12): every kind parses, prints and turns into steps in one place,
and a FLOP budget trains every architecture for the same compute."""

import dataclasses
import math

import pytest

import architectures
from architectures import complexity
from benchmarks.core.budget import MAX_EPOCHS, Budget, train_flops_per_image
from benchmarks.core.config import RECIPES, ConfigError
from benchmarks.data import loader
from benchmarks.train import preflight
from tests.helpers import config, summary_of, train


@pytest.mark.parametrize("text,kind,amount", [
    ("50epochs", "epochs", 50), ("20000steps", "steps", 20000), ("5e6images", "images", 5e6),
    ("5e15flops", "flops", 5e15), ("5pflop", "flops", 5e15), ("2.5tflops", "flops", 2.5e12), ("1e+18flop", "flops", 1e18),
    ("90s", "seconds", 90), ("30m", "seconds", 1800), ("2h", "seconds", 7200),
])
def test_every_kind_parses_and_prints_back(text, kind, amount):
    budget = Budget.parse(text)
    assert (budget.kind, budget.amount) == (kind, amount)
    assert Budget.parse(str(budget)) == budget


def test_budgets_become_steps_in_one_place():
    per_image = 1e6
    assert Budget.parse("3epochs").total_steps(18, 32) == 54
    assert Budget.parse("100images").total_steps(18, 32) == 4  # ceil(100 / 32)
    assert Budget.parse("1e9flops").total_steps(18, 32, per_image) == math.ceil(1e9 / per_image / 32)
    assert Budget.parse("30m").total_steps(18, 32) is None  # on the clock
    assert Budget.parse("30m").progress(steps=10, seconds=900, total=None) == 0.5
    assert Budget.parse("40steps").progress(steps=10, seconds=900, total=40) == 0.25
    with pytest.raises(ConfigError, match="FLOPs per image"):
        Budget.parse("1e9flops").total_steps(18, 32)


@pytest.mark.parametrize("text", ["1e400s", "nanepochs", "0steps", "1.5steps", "-3epochs", "5parsecs", "5xflop"])
def test_malformed_or_impossible_budgets_are_refused(text):
    with pytest.raises(ConfigError):
        Budget.parse(text)


def test_a_flop_budget_past_the_ceiling_is_refused():
    with pytest.raises(ConfigError, match="could never finish"):
        Budget.parse("1e25flops").check_ceiling(train_images=600, batch_size=32, flops_per_image=1e6)
    Budget.parse("1e12flops").check_ceiling(train_images=600, batch_size=32, flops_per_image=1e6)
    at_the_ceiling = MAX_EPOCHS * 600 * 1e6  # exactly MAX_EPOCHS passes over the data: the last that may run
    Budget("flops", at_the_ceiling).check_ceiling(train_images=600, batch_size=32, flops_per_image=1e6)
    with pytest.raises(ConfigError, match="could never finish"):
        Budget("flops", at_the_ceiling * 1.01).check_ceiling(train_images=600, batch_size=32, flops_per_image=1e6)


def test_a_flop_budget_trains_for_that_compute_and_records_it(tmp_path):
    cfg = config(arch="resnet20")
    per_image = train_flops_per_image(complexity.macs(architectures.build("resnet20", num_classes=10)))
    assert preflight.flops_per_image(cfg, loader.facts(cfg.data)) == per_image
    cfg = dataclasses.replace(cfg, budget=Budget("flops", 4.5 * 32 * per_image))  # 4.5 steps of 32 images
    assert train(cfg, tmp_path)["status"] == "complete"
    record = summary_of(tmp_path, cfg)
    assert record["budget_kind"] == "flops" and record["steps"] == 5  # the first step boundary past it
    assert record["train_flops"] == 5 * 32 * per_image and record["train_flops_per_image"] == per_image
    assert record["budget_used"] == 1.0


@pytest.mark.parametrize("field,value,message", [("optimizer", "rmsprop", "sgd, adam"),
                                                 ("schedule", "cosine", "linear, constant"),
                                                 ("learning_rate", 0.0, "learning_rate"),
                                                 ("augment", "heavy", "none, standard, strong")])
def test_unknown_recipe_values_fail_with_the_known_ones(field, value, message):
    with pytest.raises(ConfigError, match=message):
        dataclasses.replace(RECIPES["paper"], **{field: value})


def test_the_tuned_variant_is_a_result_not_a_zoo_entry():
    with pytest.raises(architectures.UnknownArchitectureError):
        architectures.build("original-tuned")
    assert config(arch="original-tuned").model_name == "original"


@pytest.mark.parametrize("name", ["sgd", "adam"])
def test_each_optimizer_a_recipe_names_is_built_with_its_fields(name):
    import keras

    from benchmarks.train import models

    recipe = dataclasses.replace(RECIPES["paper"], optimizer=name, momentum=0.8, nesterov=True)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(3, activation="softmax")])
    optimizer = models.compile_for_training(model, recipe, jit=False, learning_rate=0.25).optimizer
    assert type(optimizer).__name__.lower() == name and float(optimizer.learning_rate) == 0.25
    if name == "sgd":
        assert optimizer.momentum == 0.8 and optimizer.nesterov is True


def test_recipes_and_datasets_are_declared_once():
    from benchmarks.cli import commands
    from benchmarks.core import config, datasets
    from benchmarks.data import archives

    assert config.DATASETS == tuple(datasets.DATASETS)
    run = next(a for a in commands.build_parser()._subparsers._group_actions[0].choices["run"]._actions
               if a.dest == "dataset")
    assert tuple(run.choices) == config.DATASETS
    assert set(archives.ARCHIVES) == {n for n, d in datasets.DATASETS.items() if d.archives}
