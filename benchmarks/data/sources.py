"""Where a dataset's raw arrays come from, and whether they are the published ones.

Sources: the embedded synthetic set, an image-folder tree (`folders`), the original archives
(`archives`) and tensorflow-datasets, tried in that order. Every real copy is put in one canonical
order and checked against the spec's published content digest and per-channel statistics, so the
same images give the same run whatever the source. Nothing here needs TensorFlow except reading
through tensorflow-datasets.
"""

from __future__ import annotations

import hashlib
import os
import socket
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.core import compat, datasets
from benchmarks.core.config import ConfigError, DataConfig
from benchmarks.data import archives, folders, synthetic

os.environ.setdefault("NO_GCE_CHECK", "true")  # TF's GCS client probes the GCE metadata server
DOWNLOAD_HOST = ("www.cs.toronto.edu", 443)


class DataUnavailableError(ConfigError):
    """No copy of the dataset here and no way to fetch one: the message says where to put what."""


content_digest = folders.arrays_digest  # blake2b-128 of the pixels and labels, canonical order for real datasets


def canonical_order(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The order every copy of a dataset is held in, whatever its source: by label, then by a
    hash of the pixels. The archives, tfds and image folders list the same images in different
    orders; sorted this way, the same images give the same arrays, so the split, the data order
    and the digest of a run do not depend on where its data came from."""
    keys = b"".join(hashlib.blake2b(image.tobytes(), digest_size=8).digest() for image in x)
    return np.lexsort((np.frombuffer(keys, ">u8"), y))


def load(config: DataConfig) -> tuple[dict[str, Any], dict[str, Any]]:
    """(arrays, provenance): x/y train and test as numpy in canonical order, and where they came
    from. `config` names only what decides the raw arrays (`data._raw_request`)."""
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


def fail_fast(dataset: str, data_dir: str | None) -> None:
    """DataUnavailableError now, before TensorFlow and tfds load (seconds), when `dataset` is
    nowhere here: no image folders, no archive, no tfds copy on disk and no network to fetch one."""
    spec = datasets.DATASETS.get(dataset)
    if spec is None or spec.tfds_name is None or folders.is_image_tree(data_dir):
        return
    if archives.find(dataset, data_dir) is not None:
        return
    tfds_dir = Path(data_dir or os.environ.get("TFDS_DATA_DIR") or "~/tensorflow_datasets").expanduser()
    if any(tfds_dir.glob(f"{spec.tfds_name}/*/dataset_info.json")) or _reachable(DOWNLOAD_HOST):
        return
    raise DataUnavailableError(_missing_message(DataConfig(dataset=dataset, data_dir=data_dir)))


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
