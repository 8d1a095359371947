"""Datasets for every command: CIFAR-100/10 through tensorflow-datasets or the original archives,
and the embedded `synthetic` set, behind one function, `load_splits`.

Splits never select on the test set: `train` is carved into train and a stratified `val`
(fixed by the seed); `test` is evaluated once, at the end. Everything is held as uint8 (CIFAR is
180 MB), goes to the accelerator once and is fed as plans (`feed`): data order and augmentation
are pure functions of (seed, epoch, position in the epoch), so a run resumed mid-epoch sees
exactly the batches an uninterrupted run would. Nothing here needs TensorFlow except reading
through tensorflow-datasets.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import os
import socket
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import archives, compat, datasets, feed, folders, synthetic
from benchmarks.config import ConfigError, DataConfig

os.environ.setdefault("NO_GCE_CHECK", "true")  # TF's GCS client probes the GCE metadata server
DOWNLOAD_HOST = ("www.cs.toronto.edu", 443)


class DataUnavailableError(ConfigError):
    """No copy of the dataset here and no way to fetch one: the message says where to put what."""


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


def check_available(config: DataConfig) -> str:
    """Load (and cache) the raw data now, so a missing or corrupt dataset fails before any run,
    and check that `config`'s split and batch fit it. Returns the data's digest for the run's
    identity: '' for the published data (tfds, an archive matching the published sha256, any copy
    whose decoded content is the published one, the embedded synthetic set), else a content hash,
    so runs on other data never share a folder."""
    raw, provenance = _load_arrays(_raw_request(config))
    _check_sizes(config, len(raw["y_train"]))
    return provenance.get("digest", "")


def train_size(config: DataConfig) -> int:
    """Training images per epoch of `config` (val held out), from the cached raw arrays."""
    raw, _ = _load_arrays(_raw_request(config))
    return len(raw["y_train"]) - config.val_size


def num_classes(config: DataConfig) -> int:
    raw, _ = _load_arrays(_raw_request(config))
    return len(raw["names"])


def image_shape(config: DataConfig) -> tuple[int, int, int]:
    raw, _ = _load_arrays(_raw_request(config))
    return tuple(raw["x_train"].shape[1:])


def content_digest(arrays: dict[str, Any]) -> str:
    """blake2b-128 of the pixels and labels, in canonical order for the real datasets."""
    digest = hashlib.blake2b(digest_size=16)
    for key in ("x_train", "y_train", "x_test", "y_test"):
        digest.update(np.ascontiguousarray(arrays[key]).tobytes())
    return digest.hexdigest()


def canonical_order(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The order every copy of a dataset is held in, whatever its source: by label, then by a
    hash of the pixels. The archives, tfds and image folders list the same images in different
    orders; sorted this way, the same images give the same arrays, so the split, the data order
    and the digest of a run do not depend on where its data came from."""
    keys = b"".join(hashlib.blake2b(image.tobytes(), digest_size=8).digest() for image in x)
    return np.lexsort((np.frombuffer(keys, ">u8"), y))


@functools.lru_cache(maxsize=2)
def _load_arrays(config: DataConfig) -> tuple[dict[str, Any], dict[str, Any]]:
    """(arrays, provenance): x/y train and test as numpy, and where they came from."""
    if config.dataset == "synthetic":
        x_tr, y_tr, x_te, y_te = synthetic.make(config.synthetic_classes, config.synthetic_train,
                                                config.synthetic_test)
        names = tuple(f"class_{i:03d}" for i in range(config.synthetic_classes))
        return dict(x_train=x_tr, y_train=y_tr, x_test=x_te, y_test=y_te, names=names), \
            dict(source="synthetic")
    spec = datasets.DATASETS[config.dataset]
    if config.dataset == "folder" or folders.is_image_tree(config.data_dir):
        raw, provenance = _from_folder(config, spec)
    elif (found := archives.find(config.dataset, config.data_dir)) is not None:
        raw, provenance = _from_archive(found)
    elif (prepared := _tfds_builder(config, download=False)) is not None:
        raw, provenance = _from_tfds(prepared)
    else:
        raw, provenance = _from_tfds(_tfds_builder(config, download=True))
    return _published_check(raw, provenance, spec, config.labels)


def _published_check(raw: dict, provenance: dict, spec: datasets.DatasetSpec, labels: str):
    """Canonical order, the content digest and the statistics check; then the label set asked for."""
    for split in ("train", "test"):
        order = canonical_order(raw[f"x_{split}"], raw[f"y_{split}"])
        for key in (f"x_{split}", f"y_{split}", f"coarse_{split}"):
            if raw.get(key) is not None:
                raw[key] = raw[key][order]
    digest = content_digest(raw)
    digest_ok = digest == spec.content_digest if spec.content_digest else None
    stats_ok, warnings = None, list(provenance.get("warnings", ()))
    if spec.channel_stats is not None:
        mean, std = channel_stats(raw["x_train"])
        stats_ok = bool(np.allclose(mean, spec.channel_stats[0], atol=STATS_TOLERANCE)
                        and np.allclose(std, spec.channel_stats[1], atol=STATS_TOLERANCE))
        if not stats_ok:
            warnings.append(f"the training images' per-channel mean {_fmt(mean)} and std {_fmt(std)} differ from "
                            f"the published {_fmt(spec.channel_stats[0])} and {_fmt(spec.channel_stats[1])}: "
                            f"a damaged or different copy of {spec.name}; results are kept but flagged")
    published = provenance.get("sha256_ok") is True or provenance["source"] == "tfds" or digest_ok is True
    provenance.update(content_digest=digest, digest_ok=digest_ok, stats_ok=stats_ok, warnings=tuple(warnings),
                      digest="" if published else digest[:16])
    if labels == "coarse":
        raw.update(y_train=raw["coarse_train"], y_test=raw["coarse_test"], names=raw["coarse_names"])
    arrays = {k: raw[k] for k in ("x_train", "y_train", "x_test", "y_test", "names")}
    return arrays, provenance


STATS_TOLERANCE = 5e-4  # the published figures have 4 decimals; a few damaged images move the 4th


def _fmt(values) -> str:
    return "(" + ", ".join(f"{v:.4f}" for v in values) + ")"


def _from_folder(config: DataConfig, spec: datasets.DatasetSpec):
    if not folders.is_image_tree(config.data_dir):
        raise DataUnavailableError(f"--dataset folder needs --data-dir holding train/<class>/ and test/<class>/ "
                                   f"image folders; {config.data_dir or 'no --data-dir'} does not")
    raw, provenance = folders.read(Path(config.data_dir), spec)
    if spec.coarse_of:
        coarse_names = spec.coarse_classes
        index = np.array([coarse_names.index(spec.coarse_of[name]) for name in raw["names"]], np.int64)
        raw.update(coarse_train=index[raw["y_train"]], coarse_test=index[raw["y_test"]], coarse_names=coarse_names)
    return raw, provenance


def _from_archive(path):
    data = archives.read(path)
    arrays = dict(x_train=data.x_train, x_test=data.x_test, y_train=data.y_train, y_test=data.y_test,
                  names=tuple(data.fine_names), coarse_train=data.coarse_train, coarse_test=data.coarse_test,
                  coarse_names=tuple(data.coarse_names or ()))
    warnings = ()
    if data.sha256_ok is False:
        warnings = (f"{path.name} does not match the published sha256 (got {data.sha256}); "
                    f"a repacked copy? results are kept but flagged",)
    return arrays, dict(source="archive", location=str(path), sha256=data.sha256,
                        sha256_ok=data.sha256_ok, warnings=warnings)


def _tfds_builder(config: DataConfig, download: bool):
    try:
        import tensorflow  # noqa: F401  (tfds reads its files through TensorFlow)
        import tensorflow_datasets as tfds
    except ImportError:
        raise DataUnavailableError(f"{_missing_message(config, network=False)}; reading it through "
                                   f"tensorflow-datasets needs TensorFlow: pip install 'archbench[tensorflow]'")

    compat.tfds_without_cloud_storage()  # never wait on a cloud-storage metadata request
    data_dir = config.data_dir or os.environ.get("TFDS_DATA_DIR")
    builder = tfds.builder(datasets.DATASETS[config.dataset].tfds_name, data_dir=data_dir)
    if builder.is_prepared():
        return builder
    if not download:
        return None
    if not _reachable(DOWNLOAD_HOST):
        raise DataUnavailableError(_missing_message(config))
    builder.download_and_prepare()
    return builder


def _from_tfds(builder):
    import tensorflow_datasets as tfds

    features = builder.info.features
    keys = {"y": "label", **({"coarse": "coarse_label"} if "coarse_label" in features else {})}
    arrays = {}
    for split in ("train", "test"):
        # Decoded once, in 10k-image batches (batch_size=-1 breaks on generator-backed datasets).
        batches = list(tfds.as_numpy(builder.as_dataset(split=split).batch(10_000)))
        arrays[f"x_{split}"] = np.concatenate([b["image"] for b in batches])
        for prefix, key in keys.items():
            arrays[f"{prefix}_{split}"] = np.concatenate([b[key] for b in batches]).astype(np.int64)
    arrays["names"] = tuple(features["label"].names)
    if "coarse" in keys:
        arrays["coarse_names"] = tuple(features["coarse_label"].names)
    return arrays, dict(source="tfds", location=str(builder.data_dir))


def _reachable(address, timeout: float = 3.0) -> bool:
    try:
        with socket.create_connection(address, timeout=timeout):
            return True
    except OSError:
        return False


def _missing_message(config: DataConfig, network: bool = True) -> str:
    where = ", ".join(str(d) for d in archives.search_dirs(config.data_dir))
    names = " or ".join(archives.ARCHIVES[config.dataset])
    return (f"{config.dataset} not found{' and the network is unreachable' if network else ''}: put {names} "
            f"(or its extracted folder) in one of [{where}] or pass --data-dir; --dataset synthetic runs offline")


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


def channel_stats(images: np.ndarray, chunk: int = 4096) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std in [0, 1] of uint8 HWC images, in chunks (no 1 GB float copy)."""
    total, total_sq, count = np.zeros(3), np.zeros(3), 0
    for start in range(0, len(images), chunk):
        part = images[start:start + chunk].reshape(-1, 3).astype(np.float64) / 255.0
        total += part.sum(0)
        total_sq += (part**2).sum(0)
        count += len(part)
    mean = total / count
    std = np.sqrt(np.maximum(total_sq / count - mean**2, 0.0))
    return tuple(float(v) for v in mean), tuple(float(v) for v in std)


# --------------------------------------------------------------------------------- the entry
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
