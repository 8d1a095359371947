"""Datasets for every command, behind one function, `load_splits`: the raw arrays from `sources`
(image folders, the original archives, tensorflow-datasets, the embedded `synthetic` set), split.

Splits never select on the test set: `train` is carved into train and a stratified `val`
(fixed by the seed); `test` is evaluated once, at the end. Everything is held as uint8 (CIFAR is
180 MB), goes to the accelerator once and is fed as plans (`feed`): data order and augmentation
are pure functions of (seed, epoch, position in the epoch), so a run resumed mid-epoch sees
exactly the batches an uninterrupted run would.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from typing import Any

import numpy as np

from benchmarks.core import datasets
from benchmarks.core.config import ConfigError, DataConfig
from benchmarks.data import feed, sources
from benchmarks.data.sources import DataUnavailableError, channel_stats, content_digest  # noqa: F401 (the data API)


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    name: str  # cifar100, cifar100-coarse, cifar10, synthetic, folder-<folder name>
    source: str  # tfds | archive | folder | synthetic
    synthetic: bool
    num_classes: int
    class_names: tuple[str, ...]
    sizes: dict[str, int]  # images per split: train, val, test, train_eval
    mean: tuple[float, float, float]  # per channel, of the train split, in [0, 1]
    std: tuple[float, float, float]
    test_used_for_selection: bool
    location: str | None = None  # archive, image folder or tfds folder
    sha256: str | None = None
    sha256_ok: bool | None = None
    content_digest: str | None = None  # blake2b-128 of the decoded pixels and labels, canonical order
    digest_ok: bool | None = None  # the content is the published dataset's (None: no published digest)
    stats_ok: bool | None = None  # per-channel mean/std match the published ones (None: none published)
    cache: str | None = None  # image folders: the decode cache, and whether it was used
    warnings: tuple[str, ...] = ()
    targets: tuple[float, ...] = ()  # val top-1 targets for time_to_target (the dataset spec's)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# ----------------------------------------------------------------------------- raw arrays
def _raw_request(config: DataConfig) -> DataConfig:
    """The fields that decide the raw arrays (not the split, order or batch)."""
    return DataConfig(dataset=config.dataset, data_dir=config.data_dir, labels=config.labels,
                      synthetic_train=config.synthetic_train, synthetic_test=config.synthetic_test,
                      synthetic_classes=config.synthetic_classes)


@dataclasses.dataclass(frozen=True)
class Facts:
    """What a suite checks each config against before any run starts."""

    digest: str  # '' for the published data, else a content hash (see `facts`)
    train_size: int  # training images per epoch (val held out)
    num_classes: int
    image_shape: tuple[int, int, int]


def facts(config: DataConfig) -> Facts:
    """Load (and cache) the raw data now, so a missing or corrupt dataset fails before any run,
    check that `config`'s split and batch fit it, and say what a suite needs to know of it. The
    digest names the data in the run's identity: '' for the published data (tfds, an archive
    matching the published sha256, any copy whose decoded content is the published one, the
    embedded synthetic set), else a content hash, so runs on other data never share a folder."""
    raw, provenance = _load_arrays(_raw_request(config))
    _check_sizes(config, len(raw["y_train"]))
    return Facts(provenance.get("digest", ""), len(raw["y_train"]) - config.val_size, len(raw["names"]),
                 tuple(raw["x_train"].shape[1:]))


@functools.lru_cache(maxsize=2)
def _load_arrays(config: DataConfig) -> tuple[dict[str, Any], dict[str, Any]]:
    """The raw arrays of a request, cached: a suite asks for them once per run."""
    return sources.load(config)


# ---------------------------------------------------------------------------------- splits
def stratified_split(labels: np.ndarray, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(keep, held_out) indices: `size` held out, as equal per class as possible, fixed by `seed`."""
    rng = np.random.default_rng([seed, 101])
    classes = np.unique(labels)
    per_class = np.full(len(classes), size // len(classes))
    per_class[rng.choice(len(classes), size % len(classes), replace=False)] += 1
    held = []
    for c, take in zip(classes, per_class):
        members = np.flatnonzero(labels == c)
        if take > len(members):
            raise ConfigError(f"val split of {size} needs {take} images of class {c}, which has {len(members)}")
        held.append(rng.choice(members, take, replace=False))
    held_out = np.sort(np.concatenate(held))
    keep = np.setdiff1d(np.arange(len(labels)), held_out)
    return keep, held_out


def _check_sizes(config: DataConfig, n_train: int) -> None:
    if config.val_size >= n_train:
        raise ConfigError(f"val split of {config.val_size} leaves no training images (train has {n_train})")
    if n_train - config.val_size < config.batch_size:
        raise ConfigError(f"batch size {config.batch_size} is larger than the {n_train - config.val_size} "
                          f"training images")


# ------------------------------------------------------------------------------------ plans
class Splits:
    """The splits of one dataset request as uint8 arrays, laid out as one device table
    (train, val, test one after the other), and the plans that feed a model (see `feed`)."""

    def __init__(self, config: DataConfig, arrays: dict[str, np.ndarray], info: DatasetInfo,
                 train_eval_rows: np.ndarray | None = None):
        self.config, self.info = config, info
        self.arrays = arrays  # uint8 images and int64 labels per split
        self.offsets: dict[str, int] = {}
        start = 0
        for split in ("train", "val", "test"):
            if f"y_{split}" in arrays:
                self.offsets[split] = start
                start += len(arrays[f"y_{split}"])
        self._train_eval = np.arange(0) if train_eval_rows is None else np.asarray(train_eval_rows)
        self._pixels: np.ndarray | None = None

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.arrays["x_train"].shape[1:])

    def pixels(self) -> np.ndarray:
        """Every split's images in table order: what goes to the device, once."""
        if self._pixels is None:
            self._pixels = np.concatenate([self.arrays[f"x_{s}"] for s in self.offsets])
        return self._pixels

    @property
    def steps_per_epoch(self) -> int:
        """Full batches per epoch; the remainder is dropped so every step has the same shape."""
        return len(self.arrays["y_train"]) // self.config.batch_size

    def plan(self, epoch: int) -> dict[str, np.ndarray]:
        rows = self.offsets["train"] + np.arange(len(self.arrays["y_train"]))
        return feed.epoch_plan(rows, self.config.seed, epoch, self.config.batch_size, self.config.augment,
                               self.image_shape[:2])

    def epoch_order(self, epoch: int) -> np.ndarray:
        """The training images of `epoch`, in order: a permutation fixed by (seed, epoch)."""
        return self.plan(epoch)["order"]

    def train(self, epoch: int, skip_batches: int = 0) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """(inputs, labels) of `epoch` from batch `skip_batches` on: plans, not pixels."""
        plan = self.plan(epoch)
        start = skip_batches * self.config.batch_size
        return feed.model_inputs(plan, start), self.arrays["y_train"][plan["order"]][start:]

    def evaluation(self, split: str) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """(inputs, labels) of `val`, `test` or `train_eval`, in order, without augmentation."""
        if split == "train_eval":
            rows = self.offsets["train"] + self._train_eval
            return feed.plain(rows), self.arrays["y_train"][self._train_eval]
        if split not in self.offsets:
            raise KeyError(f"no {split!r} split (val_size=0?)")
        labels = self.arrays[f"y_{split}"]
        return feed.plain(self.offsets[split] + np.arange(len(labels))), labels


def host_rate(splits: Splits, epochs: int = 3) -> float:
    """Images per second the host side of the input path delivers (drawing each epoch's plan
    and slicing it into batches): the figure set beside each model's consumption."""
    started, images = time.perf_counter(), 0
    batch = splits.config.batch_size
    for epoch in range(epochs):
        inputs, labels = splits.train(epoch)
        for start in range(0, len(labels), batch):
            _ = [v[start:start + batch] for v in inputs.values()], labels[start:start + batch]
        images += len(labels)
    return images / (time.perf_counter() - started)


def load_splits(config: DataConfig) -> Splits:
    """Load `config.dataset`, carve val and the train-eval subset: the `Splits` every command feeds from."""
    raw, provenance = _load_arrays(_raw_request(config))
    n_train = len(raw["y_train"])
    _check_sizes(config, n_train)
    arrays = {"x_test": raw["x_test"], "y_test": raw["y_test"]}
    if config.val_size:
        keep, held = stratified_split(raw["y_train"], config.val_size, config.seed)
        arrays.update(x_train=raw["x_train"][keep], y_train=raw["y_train"][keep],
                      x_val=raw["x_train"][held], y_val=raw["y_train"][held])
    else:
        arrays.update(x_train=raw["x_train"], y_train=raw["y_train"])
    subset = np.sort(np.random.default_rng([config.seed, 202]).choice(
        len(arrays["y_train"]), min(config.train_eval_size, len(arrays["y_train"])), replace=False))
    arrays.update(x_train_eval=arrays["x_train"][subset], y_train_eval=arrays["y_train"][subset])

    mean, std = channel_stats(arrays["x_train"])
    info = DatasetInfo(
        name=config.name, source=provenance["source"], synthetic=config.dataset == "synthetic",
        num_classes=len(raw["names"]), class_names=tuple(raw["names"]),
        sizes={s: int(len(arrays[f"y_{s}"])) for s in ("train", "val", "test", "train_eval") if f"y_{s}" in arrays},
        mean=mean, std=std,
        test_used_for_selection=config.select_on == "test",
        location=provenance.get("location"), sha256=provenance.get("sha256"),
        sha256_ok=provenance.get("sha256_ok"), warnings=tuple(provenance.get("warnings", ())),
        content_digest=provenance.get("content_digest"), digest_ok=provenance.get("digest_ok"),
        stats_ok=provenance.get("stats_ok"),
        cache=f"{provenance['cache_note']}: {provenance['cache']}" if provenance.get("cache") else None,
        targets=datasets.DATASETS[config.dataset].targets)
    return Splits(config, arrays, info, train_eval_rows=subset)
