"""CIFAR's original archives, read offline: the pickled `*-python` and the `*-binary` versions,
as .tar.gz or already extracted. This reader exists beside tensorflow-datasets because the
archives are how people carry CIFAR to an offline or preempted machine, and tfds only reads
what it prepared itself."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import stat
import tarfile
import zlib
from pathlib import Path

import numpy as np

from benchmarks.core.config import ConfigError
from benchmarks.core.datasets import DATASETS
from benchmarks.data import safe_pickle

# Published archives and the folder each unpacks to, from the dataset specs.
ARCHIVES = {name: {f: sha for f, (sha, _) in d.archives.items()} for name, d in DATASETS.items() if d.archives}
FOLDERS = {f: folder for d in DATASETS.values() for f, (_, folder) in d.archives.items()}
_RECORD_PIXELS = 32 * 32 * 3
# Bounds a CIFAR file can never exceed, checked before anything is allocated: a split holds at most
# 60,000 images (CIFAR-10 and -100 alike), so no array in a pickle is larger than 60,000 rows of
# 3,072 bytes and no file larger than those rows with their label bytes, plus the pickle's lists.
_MAX_IMAGES = 60_000
_MAX_FILE_BYTES = _MAX_IMAGES * (_RECORD_PIXELS + 2) + (16 << 20)
# Every file name one of the four formats uses; other files (readme.html) are listed, never read.
_FILES = frozenset({"meta", "train", "test", "batches.meta", "test_batch", "train.bin", "test.bin",
                    "fine_label_names.txt", "coarse_label_names.txt", "batches.meta.txt", "test_batch.bin",
                    *(f"data_batch_{i}" for i in range(1, 6)), *(f"data_batch_{i}.bin" for i in range(1, 6))})


class CorruptArchiveError(ConfigError):
    """The archive or folder exists but its content cannot be read as CIFAR."""


@dataclasses.dataclass
class ArchiveData:
    x_train: np.ndarray  # (N, 32, 32, 3) uint8, HWC
    y_train: np.ndarray  # (N,) int64 (fine labels for cifar100)
    x_test: np.ndarray
    y_test: np.ndarray
    coarse_train: np.ndarray | None
    coarse_test: np.ndarray | None
    fine_names: list[str]
    coarse_names: list[str] | None
    path: str
    sha256: str | None  # of the .tar.gz; None for an extracted folder
    sha256_ok: bool | None  # matches the published checksum; None when not an archive


def search_dirs(data_dir: str | None) -> list[Path]:
    dirs = [Path(data_dir)] if data_dir else []
    return dirs + [Path(os.path.expanduser("~/.keras/datasets"))]


def find(dataset: str, data_dir: str | None) -> Path | None:
    """The first archive or extracted folder of `dataset` in `data_dir`, then in Keras' cache."""
    for folder in search_dirs(data_dir):
        for archive in ARCHIVES[dataset]:
            for candidate in (folder / FOLDERS[archive], folder / archive):
                if candidate.exists():
                    return candidate
    return None


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read(path: Path) -> ArchiveData:
    """Read an archive (.tar.gz) or an extracted folder of CIFAR-10/100, python or binary format.

    Everything the training needs is checked here, so a bad file fails in one line naming it
    rather than mid-run: image and label counts agree, every label names a class of the meta
    file, arrays are uint8 rows of the right width and no larger than a CIFAR split."""
    path = Path(path)
    if not path.is_dir() and not stat.S_ISREG(os.stat(path).st_mode):  # a FIFO waits forever, a device never ends
        raise CorruptArchiveError(f"{path} is not a regular file (a FIFO, device or socket): give the archive itself")
    try:
        if path.is_dir():
            files = {p.name: _bounded(p.name, p.stat().st_size, p.read_bytes) for p in path.iterdir() if p.is_file()}
            digest, ok = None, None
        else:
            files = _tar_members(path)
            digest = sha256(path)
            ok = digest == _published_sha(path.name)
        data = _decode(files)
    except CorruptArchiveError as error:
        raise CorruptArchiveError(f"{path} is a corrupt archive: {_one_line(error)}") from None
    # Anything else the bytes can provoke (a bad gzip stream, a list where an array belongs) is corruption too.
    except (tarfile.TarError, EOFError, OSError, zlib.error, ValueError, KeyError, TypeError, IndexError) as error:
        raise CorruptArchiveError(f"{path} is corrupt or truncated ({type(error).__name__}: {_one_line(error)})") from None
    data.path, data.sha256, data.sha256_ok = str(path), digest, ok
    return data


def _published_sha(name: str) -> str | None:
    return next((shas[name] for shas in ARCHIVES.values() if name in shas), None)


def _one_line(error: Exception) -> str:
    return " ".join(str(error).split())[:500]


def _tar_members(path: Path) -> dict[str, bytes | None]:
    with tarfile.open(path, "r:gz") as tar:
        return {Path(m.name).name: _bounded(Path(m.name).name, m.size, lambda m=m: tar.extractfile(m).read())
                for m in tar.getmembers() if m.isfile()}


def _bounded(name: str, size: int, read) -> bytes | None:
    """The bytes of a CIFAR file, refused unread when larger than any CIFAR file; None for a
    file no format uses (listed in errors, never read)."""
    if name not in _FILES:
        return None
    if size > _MAX_FILE_BYTES:
        raise CorruptArchiveError(f"{name} is {size:,} bytes, more than any CIFAR file holds")
    return read()


def _member(files: dict[str, bytes | None], name: str) -> bytes:
    if files.get(name) is None:
        raise CorruptArchiveError(f"{name} is missing (found: {', '.join(sorted(files)) or 'nothing'})")
    return files[name]


def _decode(files: dict[str, bytes | None]) -> ArchiveData:
    if "meta" in files and "train" in files:
        data = _python100(files)
    elif "batches.meta" in files:
        data = _python10(files)
    elif "train.bin" in files:
        data = _binary100(files)
    elif "batches.meta.txt" in files:
        data = _binary10(files)
    else:
        raise CorruptArchiveError(f"no CIFAR files in it (found: {', '.join(sorted(files)) or 'nothing'})")
    for split, images in (("train", data.x_train), ("test", data.x_test)):
        if not 0 < len(images) <= _MAX_IMAGES:
            raise CorruptArchiveError(f"its {split} split holds {len(images):,} images (a CIFAR split "
                                      f"holds 1 to {_MAX_IMAGES:,})")
    return data


# ------------------------------------------------------------------------- checked content
def _images(rows, member: str) -> np.ndarray:
    """N x 3072 channel-major uint8 rows (1024 R, 1024 G, 1024 B) -> N x 32 x 32 x 3 (HWC)."""
    if not isinstance(rows, np.ndarray) or rows.dtype != np.uint8 or rows.ndim != 2 or rows.shape[1] != _RECORD_PIXELS:
        raise CorruptArchiveError(f"{member}: images must be N x {_RECORD_PIXELS} uint8 rows, got {_describe(rows)}")
    return np.asarray(rows).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).copy()


def _labels(values, member: str, key: str, count: int, names: list[str], names_file: str) -> np.ndarray:
    """`count` labels, each an index into `names` (the classes the meta file declares), as int64."""
    labels = np.asarray(values) if isinstance(values, (list, tuple, np.ndarray)) else None
    if labels is None or labels.ndim != 1 or (labels.size and labels.dtype.kind not in "iu"):
        raise CorruptArchiveError(f"{member}: {key} must be a list of integers, got {_describe(values)}")
    if len(labels) != count:
        raise CorruptArchiveError(f"{member}: {count:,} images but {len(labels):,} {key}")
    outside = labels[(labels < 0) | (labels >= len(names))]
    if outside.size:
        raise CorruptArchiveError(f"{member}: {key} holds {outside[0]}, outside 0..{len(names) - 1} "
                                  f"({len(names)} classes named in {names_file})")
    return labels.astype(np.int64)


def _names(values, names_file: str) -> list[str]:
    if not isinstance(values, (list, tuple)) or not values or not all(isinstance(v, (bytes, str)) for v in values):
        raise CorruptArchiveError(f"{names_file}: label names must be a non-empty list of strings, "
                                  f"got {_describe(values)}")
    return [v.decode() if isinstance(v, bytes) else v for v in values]


def _entry(batch: dict, member: str, key: str):
    if key not in batch:
        raise CorruptArchiveError(f"{member} has no {key!r} (it has: {', '.join(map(str, batch)) or 'nothing'})")
    return batch[key]


def _describe(value) -> str:
    if isinstance(value, np.ndarray):
        return f"a {value.dtype} array of shape {value.shape}"
    return f"a {type(value).__name__}" + (f" of {len(value)}" if isinstance(value, (list, tuple)) else "")


def _unpickle(files: dict[str, bytes | None], member: str) -> dict[str, object]:
    raw = _member(files, member)
    try:
        obj = safe_pickle.loads(raw)
    except Exception as error:  # forged bytes can raise nearly anything; all of it means corrupt
        raise CorruptArchiveError(f"{member}: not a CIFAR pickle ({type(error).__name__}: {_one_line(error)})")
    if not isinstance(obj, dict):
        raise CorruptArchiveError(f"{member}: expected a dict in the CIFAR pickle, got {type(obj).__name__}")
    return {k.decode() if isinstance(k, bytes) else k: v for k, v in obj.items()}


def _python100(files):
    meta = _unpickle(files, "meta")
    fine = _names(_entry(meta, "meta", "fine_label_names"), "meta")
    coarse = _names(_entry(meta, "meta", "coarse_label_names"), "meta")
    splits = []
    for member in ("train", "test"):
        batch = _unpickle(files, member)
        x = _images(_entry(batch, member, "data"), member)
        splits.append((x, *(_labels(_entry(batch, member, key), member, key, len(x), names, "meta")
                            for key, names in (("fine_labels", fine), ("coarse_labels", coarse)))))
    (x_tr, y_tr, c_tr), (x_te, y_te, c_te) = splits
    return ArchiveData(x_tr, y_tr, x_te, y_te, c_tr, c_te, fine, coarse, "", None, None)


def _python10(files):
    names = _names(_entry(_unpickle(files, "batches.meta"), "batches.meta", "label_names"), "batches.meta")
    parts = []
    for member in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = _unpickle(files, member)
        x = _images(_entry(batch, member, "data"), member)
        parts.append((x, _labels(_entry(batch, member, "labels"), member, "labels", len(x), names, "batches.meta")))
    x = np.concatenate([p[0] for p in parts[:5]])
    y = np.concatenate([p[1] for p in parts[:5]])
    return ArchiveData(x, y, *parts[5], None, None, names, None, "", None, None)


# -------------------------------------------------------------------------- the binary format
def _records(files, member: str, label_bytes: int) -> tuple[np.ndarray, np.ndarray]:
    raw = _member(files, member)
    size = label_bytes + _RECORD_PIXELS
    if len(raw) % size:
        raise CorruptArchiveError(f"{member}: {len(raw)} bytes are not a whole number of "
                                  f"{size}-byte records (truncated?)")
    table = np.frombuffer(raw, np.uint8).reshape(-1, size)
    return table[:, :label_bytes], _images(table[:, label_bytes:], member)


def _text_names(files, member: str) -> list[str]:
    try:
        text = _member(files, member).decode()
    except UnicodeDecodeError:
        raise CorruptArchiveError(f"{member}: label names are not text")
    return _names([line.strip() for line in text.splitlines() if line.strip()], member)


def _binary100(files):
    fine, coarse = _text_names(files, "fine_label_names.txt"), _text_names(files, "coarse_label_names.txt")
    splits = []
    for member in ("train.bin", "test.bin"):
        labels, x = _records(files, member, 2)  # coarse byte, then fine byte
        splits.append((x, _labels(labels[:, 1], member, "fine labels", len(x), fine, "fine_label_names.txt"),
                       _labels(labels[:, 0], member, "coarse labels", len(x), coarse, "coarse_label_names.txt")))
    (x_tr, y_tr, c_tr), (x_te, y_te, c_te) = splits
    return ArchiveData(x_tr, y_tr, x_te, y_te, c_tr, c_te, fine, coarse, "", None, None)


def _binary10(files):
    names = _text_names(files, "batches.meta.txt")
    parts = []
    for member in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
        labels, x = _records(files, member, 1)
        parts.append((x, _labels(labels[:, 0], member, "labels", len(x), names, "batches.meta.txt")))
    x = np.concatenate([p[0] for p in parts[:5]])
    y = np.concatenate([p[1] for p in parts[:5]])
    return ArchiveData(x, y, *parts[5], None, None, names, None, "", None, None)
