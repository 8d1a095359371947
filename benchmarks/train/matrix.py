"""The run matrix: from command-line choices to the list of RunConfigs a `run` will train (budget x
seed x architecture). Not to be confused with an epoch's augmentation plan (`data.feed`)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Sequence

import architectures
from benchmarks.core.config import PRESETS, RECIPES, Budget, ConfigError, DataConfig, RunConfig

# Flags that map one to one onto DataConfig fields (None: not given, keep the preset's).
DATA_FLAGS = ("dataset", "data_dir", "labels", "val_size", "select_on", "augment", "batch_size",
              "train_eval_size")
# Flags that override one number of the recipe (None: not given, keep the recipe's); each override
# is part of the run's identity (`RunConfig.differences`: the recipe differs from the registered one).
RECIPE_FLAGS = {"learning_rate": "--lr", "warmup": "--warmup", "weight_decay": "--weight-decay"}


def check_arch(name: str) -> str:
    """A registered architecture, or `<arch>-tuned`: that architecture with a tuner's best options
    (a result of `tune`, not a zoo entry)."""
    try:
        architectures.spec(name.removesuffix("-tuned"))
    except architectures.UnknownArchitectureError as error:
        raise ConfigError(str(error))
    return name


def precision_asked(flag: str | None, preset: str) -> str:
    """The precision a `run` asks for before the device resolves `auto`: --precision when given,
    else the preset's (the reference pins float32, so its runs keep their identity on any device)."""
    chosen = PRESETS.get(preset)  # an unknown preset is refused by `configs`
    return flag or (chosen.precision if chosen else "auto")


def unfinished_float32_twins(configs: Sequence[RunConfig], results_dir: Path) -> list[Path]:
    """The folders of unfinished float32 runs with the settings of these mixed-bf16 ones: what
    `auto` resumed before it chose bf16 on CPUs with bf16 instructions (issue 29). A bf16 run has an
    identity of its own and never takes one up; `run` names them so that no interrupted run is
    quietly left behind (`--precision float32` resumes them)."""
    from benchmarks.core.storage import read_json

    twins = []
    for config in configs:
        if config.precision != "mixed_bfloat16":
            continue
        folder = Path(results_dir) / dataclasses.replace(config, precision="float32").relative_dir()
        if not (folder / "checkpoints").is_dir():
            continue
        try:
            finished = read_json(folder / "summary.json").get("status") == "complete"
        except (OSError, ValueError, AttributeError):  # none yet, or unreadable: not known to be finished
            finished = False
        if not finished:
            twins.append(folder)
    return twins


def configs(archs: Sequence[str], *, all_: bool, preset: str, seeds: Sequence[int], budget: Sequence[Budget] | None,
         recipe: str | None, data_flags: dict[str, Any], run_flags: dict[str, Any],
         results_dir: str = "results", tuned_file: str | None = None,
         recipe_flags: dict[str, Any] | None = None) -> tuple[list[RunConfig], str]:
    """(configs, note): the (budget x seed x arch) matrix in a fixed order, plus the preset's note.
    `budget`: one or several budgets (`budget.parse_sweep`), every run once per budget, each with its
    own schedule; None: the preset's."""
    if preset not in PRESETS:
        raise ConfigError(f"unknown preset {preset!r}; presets: {', '.join(PRESETS)}")
    chosen = PRESETS[preset]
    if recipe is not None and recipe not in RECIPES:
        raise ConfigError(f"unknown recipe {recipe!r}; recipes: {', '.join(RECIPES)}")
    if not archs and not all_:
        raise ConfigError("name at least one architecture, or --all for the preset's suite")
    the_recipe = override(RECIPES[recipe or chosen.recipe], recipe_flags or {})
    budgets = chosen.budgets if budget is None else budget
    given = {k: v for k, v in data_flags.items() if v is not None}
    unknown = set(given) - set(DATA_FLAGS)
    if unknown:
        raise ConfigError(f"unknown data option(s): {', '.join(sorted(unknown))}")
    # each architecture once: `run resnet20 resnet20 --restart` must not train it twice
    names = list(chosen.suite) if all_ else list(dict.fromkeys(check_arch(a) for a in archs))
    # Seed by seed: every row has seed 0 before any has seed 1, so an interrupted suite already
    # compares every row, and consecutive runs share one seed's data splits (loaded once).
    configs = []
    baseline = all_ and chosen.post_baseline and the_recipe.name != "post"
    for the_budget in budgets:
        for seed in seeds:
            fields = {"batch_size": the_recipe.batch_size, "augment": the_recipe.augment, **given, "seed": seed}
            data = _data(chosen.data, fields)
            for arch in names:
                configs.append(RunConfig(arch=arch, data=data, recipe=the_recipe, budget=the_budget, **run_flags))
            configs += [post_baseline(c) for c in configs[-len(names):] if baseline and c.arch == "original"]
    configs = [tuned(c, results_dir, tuned_file) if c.arch.endswith("-tuned") else c for c in configs]
    for arch, hparams in dict.fromkeys((c.model_name, c.hparams) for c in configs):  # each distinct pair once
        check_hparams(arch, hparams)
    return configs, (chosen.note if all_ else "")


def override(recipe, flags: dict[str, Any]):
    """`recipe` with the numbers given on the command line (`RECIPE_FLAGS`), checked by the Recipe itself."""
    given = {k: v for k, v in flags.items() if v is not None}
    if not given:
        return recipe
    try:
        return dataclasses.replace(recipe, **given)
    except ConfigError as error:
        raise ConfigError(f"{', '.join(RECIPE_FLAGS[k] for k in given)}: {error}")


def check_hparams(arch: str, hparams) -> None:
    """Builder options are checked against the builder's signature before any run starts."""
    try:
        architectures.check_options(arch, dict(hparams))
        if hparams:  # values too: the builder checks ranges (dropout in [0, 1), ...) when it builds
            architectures.build(arch, num_classes=10, **dict(hparams))
    except (ValueError, TypeError, IndexError, KeyError) as error:  # any value a builder cannot take
        raise ConfigError(f"--hparams: {str(error).splitlines()[0][:200] if str(error) else type(error).__name__}")


def post_baseline(config: RunConfig) -> RunConfig:
    """`original` with the blog post's own recipe, under the same budget and data."""
    post = RECIPES["post"]
    data = dataclasses.replace(config.data, batch_size=post.batch_size, augment=post.augment)
    return dataclasses.replace(config, arch="original", recipe=post, data=data)


def tuned(config: RunConfig, results_dir: str, path: str | None) -> RunConfig:
    """`original-tuned`: the tuner's best builder options, learning rate and batch size."""
    from pathlib import Path

    from benchmarks.results.tuned import best_path, load_best

    base = config.arch.removesuffix("-tuned")
    file = Path(path) if path else best_path(Path(results_dir), config.data.name, base)
    if not file.exists():
        raise ConfigError(f"no tuned hyperparameters at {file}: run `python -m benchmarks tune {base} "
                          f"--dataset {config.data.dataset}` first, or pass --hparams FILE")
    record = load_best(file)
    name, lr, batch = _tuned_recipe(record, file)
    base_recipe = RECIPES.get(name, config.recipe)
    recipe = dataclasses.replace(base_recipe, learning_rate=lr, batch_size=batch, base_batch=None)
    data = dataclasses.replace(config.data, batch_size=recipe.batch_size, augment=recipe.augment)
    builder = builder_options(record["builder"], str(file))
    tuning = {"file": str(file), "tuner": record.get("tuner"), "trials": record.get("trials"),
              "compute_seconds": record.get("compute_seconds"), "budget_per_trial": record.get("budget_per_trial"),
              "score": record.get("score")}
    return dataclasses.replace(config, recipe=recipe, data=data, hparams=builder, tuning=tuple(sorted(tuning.items())))


def _tuned_recipe(record: Any, file) -> tuple[str | None, float, int]:
    """(recipe name, learning rate, batch size) of a tuned file, each checked: one line, not a traceback."""
    import math

    recipe = record.get("recipe") if isinstance(record, dict) else None
    if not isinstance(recipe, dict):
        raise ConfigError(f"{file}: no recipe object (learning_rate, batch_size): not written by `tune`?")
    lr, batch = recipe.get("learning_rate"), recipe.get("batch_size")
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not 0 < lr < math.inf:
        raise ConfigError(f"{file}: learning_rate must be a positive number, got {lr!r}")
    if isinstance(batch, bool) or not isinstance(batch, int) or not 1 <= batch <= 1 << 20:
        raise ConfigError(f"{file}: batch_size must be a whole number of images, got {batch!r}")
    name = recipe.get("name")
    return (name if isinstance(name, str) else None), float(lr), batch


def builder_options(values: Any, source: str) -> tuple[tuple[str, Any], ...]:
    """Builder options as a hashable, sorted tuple: JSON lists become tuples (`filters` is a list of
    lists); anything but an object of options, or an option holding an object at any depth, is one line."""
    if not isinstance(values, dict):
        raise ConfigError(f"--hparams {source} must hold a JSON object of builder options")

    def freeze(key, value):
        if isinstance(value, dict):  # no builder takes one, and a run's identity must be hashable
            raise ConfigError(f"--hparams {source}: option {key!r} holds a JSON object; an option is a number, "
                              f"string, boolean, null or a list of them")
        return tuple(freeze(key, v) for v in value) if isinstance(value, list) else value

    try:
        return tuple(sorted((str(k), freeze(str(k), v)) for k, v in values.items()))
    except RecursionError:
        raise ConfigError(f"--hparams {source}: nested too deeply")


def _data(base: DataConfig, fields: dict[str, Any]) -> DataConfig:
    try:
        return dataclasses.replace(base, **fields)
    except TypeError as error:
        raise ConfigError(str(error))


def load_hparams(path: str | None) -> tuple[tuple[str, Any], ...]:
    """Builder options from a JSON object, inline or in a file (e.g. a tuner's best_hyperparameters.json)."""
    if path is None:
        return ()
    import json

    from benchmarks.core.storage import read_user_file

    try:
        if path.lstrip()[:1] in ("{", "["):  # inline JSON: --hparams '{"dropout": 0.3}'
            values = json.loads(path)
        else:  # a regular file only: a FIFO would wait forever
            values = json.loads(read_user_file(path, limit=1 << 20))
    except (OSError, ValueError, RecursionError) as error:
        raise ConfigError(f"cannot read --hparams {path}: {str(error)[:200] or type(error).__name__}")
    values = values.get("builder", values) if isinstance(values, dict) else values
    return builder_options(values, path)


# ------------------------------------------------------------------------------ shards
def shard(configs: list[RunConfig], index: int, count: int) -> list[RunConfig]:
    """The `index`-th of `count` interleaved slices (a Slurm array / indexed job's share)."""
    return configs[index::count]


def parse_shard(text: str) -> tuple[int, int]:
    try:
        index, count = (int(p) for p in text.split("/"))
    except ValueError:
        raise ConfigError(f"--shard must be I/N with 0 <= I < N, got {text!r}")
    if count < 1 or not 0 <= index < count:
        raise ConfigError(f"--shard must be I/N with 0 <= I < N, got {text!r}")
    return index, count
