"""Configuration as frozen dataclasses: data, recipe, budget, run; presets and recipes as data."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import re
from typing import Any

from benchmarks.core import datasets
from benchmarks.core.budget import Budget, parse_sweep
from benchmarks.core.errors import ConfigError

__all__ = ["Budget", "ConfigError", "DataConfig", "Recipe", "RunConfig", "Preset", "PRESETS", "RECIPES"]

DATASETS = tuple(datasets.DATASETS)
AUGMENTATIONS = ("none", "standard", "strong")
OPTIMIZERS = {  # the recipes' optimizers (Keras' names) and the recipe fields each takes
    "sgd": lambda recipe: {"momentum": recipe.momentum, "nesterov": recipe.nesterov},
    "adam": lambda recipe: {},
}
SCHEDULES = ("linear", "constant")  # linear: budget-aware warm-up and decay to zero (clock.scheduled_lr)
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")
STRATEGIES = ("default", "mirrored", "multi-worker")


# ------------------------------------------------------------------------------------- helpers
def _choice(field: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"{field} must be one of {', '.join(choices)}; got {value!r}")


def _positive_int(field: str, value: Any) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigError(f"{field} must be a positive integer, got {value!r}")


def _non_negative_int(field: str, value: Any) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ConfigError(f"{field} must be a non-negative integer, got {value!r}")


# ---------------------------------------------------------------------------------------- data
@dataclasses.dataclass(frozen=True)
class DataConfig:
    dataset: str = "cifar100"  # cifar100 | cifar10 | synthetic | folder (a user's own image folders)
    data_dir: str | None = None  # archives, image folders or tfds data; None: $TFDS_DATA_DIR, ~/.keras/datasets
    labels: str = "fine"  # fine (100 classes) | coarse (20 superclasses); cifar100 only
    val_size: int = 5000  # images held out of train, stratified, for model selection; 0: none
    select_on: str = "val"  # val | test ("test" only with val_size 0: the blog post's protocol)
    augment: str = "standard"  # none | standard (pad 4 + crop + flip) | strong (+ cutout 8x8)
    batch_size: int = 128  # images per training step (global, over all replicas)
    seed: int = 0  # fixes the val split, the train-eval subset, data order and augmentation
    train_eval_size: int = 5000  # fixed train subset evaluated without augmentation (the gap)
    synthetic_train: int = 6000  # synthetic only: training images, val included
    synthetic_test: int = 1000  # synthetic only: test images
    synthetic_classes: int = 100  # synthetic only: number of classes

    def __post_init__(self):
        _choice("dataset", self.dataset, DATASETS)
        _choice("labels", self.labels, ("fine", "coarse"))  # known label sets; which exist: below
        _choice("augment", self.augment, AUGMENTATIONS)
        _choice("select_on", self.select_on, ("val", "test"))
        for field in ("val_size", "train_eval_size"):
            _non_negative_int(field, getattr(self, field))
        seed = self.seed  # Keras' and numpy's seeds are 32-bit
        if not (isinstance(seed, int) and not isinstance(seed, bool) and 0 <= seed < 2**32):
            raise ConfigError(f"--seed must be in 0..{2**32 - 1}, got {seed!r}")
        for field in ("batch_size", "synthetic_train", "synthetic_test"):
            _positive_int(field, getattr(self, field))
        if self.synthetic_classes < 2:
            raise ConfigError(f"synthetic_classes must be >= 2, got {self.synthetic_classes}")
        label_sets = datasets.DATASETS[self.dataset].label_sets
        if self.labels not in label_sets:
            has = [d for d, spec in datasets.DATASETS.items() if self.labels in spec.label_sets]
            raise ConfigError(f"--labels {self.labels} exists only for {', '.join(has)}, not {self.dataset}")
        if self.dataset == "folder" and not self.data_dir:
            raise ConfigError("--dataset folder needs --data-dir: a folder holding train/<class>/ and test/<class>/")
        if self.select_on == "val" and self.val_size == 0:
            raise ConfigError("--val-split 0 leaves nothing to select on: add --select-on test "
                              "(the blog post's protocol, flagged in results) or keep a val split")
        if self.select_on == "test" and self.val_size:
            raise ConfigError("--select-on test is only for --val-split 0 (the post's protocol)")

    @property
    def name(self) -> str:
        """The dataset as it appears in results paths: cifar100, cifar100-coarse, synthetic, and
        folder-<folder name> for a user's own images (never mistaken for a named dataset)."""
        if self.dataset == "folder":
            folder = os.path.basename(os.path.normpath(self.data_dir or "")) or "data"
            return "folder-" + re.sub(r"[^A-Za-z0-9._-]", "_", folder)[:64]
        return f"{self.dataset}-coarse" if self.labels == "coarse" else self.dataset


# -------------------------------------------------------------------------------------- recipe
@dataclasses.dataclass(frozen=True)
class Recipe:
    name: str
    optimizer: str  # sgd | adam
    learning_rate: float  # peak learning rate at `base_batch` images per step
    base_batch: int | None  # lr scales linearly with batch/base_batch; None: no scaling
    batch_size: int  # images per step
    weight_decay: float  # the papers' decay (gradient += wd * w), given to the builders
    augment: str  # none | standard | strong
    schedule: str  # linear (budget-aware warm-up + decay to zero) | constant
    momentum: float = 0.0
    nesterov: bool = False
    warmup: float = 0.0  # share of the budget spent warming up linearly from 0

    def __post_init__(self):
        _choice("optimizer", self.optimizer, tuple(OPTIMIZERS))
        _choice("schedule", self.schedule, SCHEDULES)
        _choice("augment", self.augment, AUGMENTATIONS)
        _positive_int("batch_size", self.batch_size)
        if self.base_batch is not None:
            _positive_int("base_batch", self.base_batch)
        for field, low, high in (("learning_rate", 0.0, math.inf), ("weight_decay", -1e-12, 1.0),
                                 ("momentum", -1e-12, 1.0), ("warmup", -1e-12, 1.0)):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not low < value < high:
                raise ConfigError(f"recipe {self.name}: {field} must be a number in ({max(low, 0):g}, {high:g}); "
                                  f"got {value!r}")

    def optimizer_config(self, learning_rate) -> dict[str, Any]:
        """The optimizer as Keras describes one (`keras.optimizers.get` builds it); `learning_rate`:
        a number or a schedule."""
        return {"class_name": self.optimizer, "config": {"learning_rate": learning_rate,
                                                               **OPTIMIZERS[self.optimizer](self)}}


RECIPES = {
    # The papers' recipe (He et al., Zagoruyko & Komodakis, chenyaofo), with the step schedule
    # replaced by budget-aware linear decay to zero (Li, Yumer & Ramanan, ICLR 2020) so that any
    # budget, including a wall-clock one, ends annealed instead of cut mid-schedule.
    "paper": Recipe("paper", "sgd", 0.1, 128, 128, 5e-4, "standard", "linear",
                    momentum=0.9, nesterov=True, warmup=0.02),
    # The blog post's own setup: Adam 1e-3, batch 150, no augmentation, constant lr, no decay.
    "post": Recipe("post", "adam", 1e-3, None, 150, 0.0, "none", "constant"),
}


def peak_lr(recipe: Recipe, batch_size: int) -> float:
    """Peak lr for `batch_size`: the linear scaling rule (Goyal et al. 2017) when the recipe has a
    reference batch, because the papers' 0.1 was tuned for 128 images per step."""
    if recipe.base_batch is None:
        return recipe.learning_rate
    return recipe.learning_rate * batch_size / recipe.base_batch


# ----------------------------------------------------------------------------------------- run
@dataclasses.dataclass(frozen=True)
class RunConfig:
    arch: str
    data: DataConfig
    recipe: Recipe
    budget: Budget
    precision: str = "float32"  # float32 | mixed_float16 | mixed_bfloat16 ('auto' is resolved before)
    jit: bool = False  # XLA-compile the training step (off on TensorFlow's CPU path: measured slower)
    # tensorflow | jax | torch: part of the run's identity; default: the one Keras is set to use
    backend: str = dataclasses.field(default_factory=lambda: os.environ.get("KERAS_BACKEND") or "tensorflow")
    strategy: str = "default"  # default | mirrored | multi-worker
    checkpoint_every_minutes: float = 10.0  # extra checkpoints inside long epochs
    train_eval_every: int = 0  # epochs between train-eval measurements; 0: only at the end
    hparams: tuple[tuple[str, Any], ...] = ()  # builder options (a tuned variant's choices)
    deterministic: bool = False  # bitwise-repeatable steps: one CPU thread per op (slower)
    tuning: tuple[tuple[str, Any], ...] = ()  # a tuned variant's search: trials, compute (record only)
    data_digest: str = ""  # content hash of data that is not the published dataset ('' when it is)

    def __post_init__(self):
        _choice("precision", self.precision, PRECISIONS)
        _choice("strategy", self.strategy, STRATEGIES)
        _choice("backend", self.backend, ("tensorflow", "jax", "torch"))
        every = self.checkpoint_every_minutes
        if isinstance(every, bool) or not isinstance(every, (int, float)) or not math.isfinite(every) or every <= 0:
            raise ConfigError(f"--checkpoint-every must be a positive number of minutes, got {every!r}")
        _non_negative_int("train_eval_every", self.train_eval_every)

    @property
    def model_name(self) -> str:
        """The zoo entry that is built: `original-tuned` is `original` with the tuner's options."""
        return self.arch.removesuffix("-tuned")

    @property
    def seed(self) -> int:
        return self.data.seed

    @property
    def peak_lr(self) -> float:
        """The recipe's peak learning rate at this run's batch (the summary's `learning_rate`)."""
        return peak_lr(self.recipe, self.data.batch_size)

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["budget"] = str(self.budget)
        out["hparams"] = dict(self.hparams)
        out["tuning"] = dict(self.tuning)
        return out

    def differences(self) -> dict[str, Any]:
        """What this run changes from the canonical run of its architecture and recipe: everything
        that changes what is trained and is not already in the readable path.

        Canonical = the recipe as registered, DataConfig defaults for everything but the dataset,
        labels and seed (already in the path), the published data, float32 and no builder options.
        """
        canon = dataclasses.replace(DataConfig(), dataset=self.data.dataset, labels=self.data.labels,
                                    seed=self.data.seed, data_dir=self.data.data_dir,
                                    augment=self.recipe.augment, batch_size=self.recipe.batch_size)
        diffs: dict[str, Any] = {f"data.{k}": v for k, v in dataclasses.asdict(self.data).items()
                                 if k != "data_dir" and getattr(canon, k) != v}
        registered = RECIPES.get(self.recipe.name)
        if registered != self.recipe:
            diffs["recipe"] = dataclasses.asdict(self.recipe)
        if self.precision != "float32":
            diffs["precision"] = self.precision
        if self.backend != "tensorflow":
            diffs["backend"] = self.backend
        if self.hparams:
            diffs["hparams"] = dict(self.hparams)
        if self.deterministic:  # one thread per op: slower, so another result under a time budget
            diffs["deterministic"] = True
        if self.strategy != "default":
            diffs["strategy"] = self.strategy
        if self.data_digest:
            diffs["data_digest"] = self.data_digest
        return diffs

    def fingerprint(self) -> str:
        """Short hash of `differences()`, or '' when canonical: the suffix of the folder name."""
        diffs = self.differences()
        if not diffs:
            return ""
        return hashlib.sha256(json.dumps(diffs, sort_keys=True, default=str).encode()).hexdigest()[:8]

    def variant(self) -> str:
        """`differences()` for a person: 'augment=none, dropout=0.3', '' when canonical. Precision
        and backend are left out: results are grouped by them, so they never share a row."""
        parts = []
        for key, value in sorted(self.differences().items()):
            if key == "recipe":
                registered = dataclasses.asdict(RECIPES.get(self.recipe.name) or self.recipe)
                parts += [f"{k}={v}" for k, v in sorted(value.items()) if registered.get(k) != v or
                          self.recipe.name not in RECIPES]
            elif key == "hparams":
                parts += [f"{k}={v}" for k, v in sorted(value.items())]
            elif key == "data_digest":
                parts.append(f"data {value[:8]}")
            elif key in ("precision", "backend"):
                continue  # report and compare group by these: never one row
            else:
                parts.append(f"{key.removeprefix('data.')}={value}")
        return ", ".join(parts)

    def identity(self) -> dict[str, str]:
        """What names this run in its checkpoints: its folder and the digest of its data."""
        return {"run": self.relative_dir(), "data_digest": self.data_digest}

    def relative_dir(self) -> str:
        """results/<dataset>/<recipe>-<budget>[-<hash>]/<arch>/seed-<s>: one folder per result."""
        tag = f"{self.recipe.name}-{self.budget}"
        fp = self.fingerprint()
        return f"{self.data.name}/{tag}{'-' + fp if fp else ''}/{self.arch}/seed-{self.seed}"


# ------------------------------------------------------------------------------------- presets
DEFAULT_SUITE = ("original", "vgg16", "resnet20", "wrn-16-4", "wrn-28-10")


@dataclasses.dataclass(frozen=True)
class Preset:
    name: str
    description: str
    data: DataConfig
    suite: tuple[str, ...]
    budget: str  # one budget or a sweep ('1e13flops,3e13flops'), parsed once, here (`budgets`)
    recipe: str
    post_baseline: bool = True  # also run `original` with the post's recipe, as its own row
    note: str = ""  # printed when the preset is used
    precision: str = "auto"  # when --precision is not given; 'auto' is resolved per device (backends)

    def __post_init__(self):
        object.__setattr__(self, "budgets", parse_sweep(self.budget))
        _choice("precision", self.precision, (*PRECISIONS, "auto"))


PRESETS = {
    "smoke": Preset(
        "smoke", "synthetic data, tiny budget: the whole suite in a few minutes on 2 CPU cores",
        DataConfig(dataset="synthetic", val_size=500, train_eval_size=500, synthetic_train=2000,
                   synthetic_test=500, synthetic_classes=20),  # batch: the recipe's
        tuple(a for a in DEFAULT_SUITE if a != "wrn-28-10"), "4epochs", "paper",
        note="smoke drops wrn-28-10 from the default suite (36.5M parameters: minutes per epoch on a CPU)"),
    "synthetic-cifar": Preset(
        "synthetic-cifar", "synthetic data at CIFAR-100's size (50,000 train, 10,000 test, 100 classes), "
        "60 s per run: GPU checks without the dataset",
        DataConfig(dataset="synthetic", synthetic_train=50_000, synthetic_test=10_000, synthetic_classes=100),
        DEFAULT_SUITE, "60s", "paper", post_baseline=False),
    "reference": Preset(
        "reference", "the shipped answer (results/reference/): CIFAR-100, the default suite that fits a 2-core "
        "machine, FLOP budgets (the same compute on any hardware)",
        DataConfig(), ("original", "vgg16", "resnet20", "wrn-16-4"), "1e13flops,3e13flops", "paper",
        precision="float32"),  # on every device: the shipped runs' identity, whatever `auto` picks there
    "quick": Preset("quick", "CIFAR-100, 15 minutes of training per run",
                    DataConfig(), DEFAULT_SUITE, "15m", "paper"),
    "paper": Preset("paper", "CIFAR-100, the papers' 200-epoch recipe",
                    DataConfig(), DEFAULT_SUITE, "200epochs", "paper"),
}
