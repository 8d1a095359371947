"""CIFAR's original archives, read offline: the pickled `*-python` and the `*-binary` versions,
as .tar.gz or already extracted. This reader exists beside tensorflow-datasets because the
archives are how people carry CIFAR to an offline or preempted machine, and tfds only reads
what it prepared itself."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import pickle
import tarfile
from pathlib import Path

import numpy as np

from benchmarks.config import ConfigError

# Published archives (sha256 from Keras' and tensorflow-datasets' own checksum tables).
ARCHIVES = {
    "cifar100": {
        "cifar-100-python.tar.gz": "85cd44d02ba6437773c5bbd22e183051d648de2e7d6b014e1ef29b855ba677a7",
        "cifar-100-binary.tar.gz": "58a81ae192c23a4be8b1804d68e518ed807d710a4eb253b1f2a199162a40d8ec",
    },
    "cifar10": {
        "cifar-10-python.tar.gz": "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce",
        "cifar-10-binary.tar.gz": "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd",
    },
}
# The folder each archive unpacks to.
FOLDERS = {"cifar-100-python.tar.gz": "cifar-100-python", "cifar-100-binary.tar.gz": "cifar-100-binary",
           "cifar-10-python.tar.gz": "cifar-10-batches-py", "cifar-10-binary.tar.gz": "cifar-10-batches-bin"}
_RECORD_PIXELS = 32 * 32 * 3


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
    """Read an archive (.tar.gz) or an extracted folder of CIFAR-10/100, python or binary format."""
    path = Path(path)
    try:
        if path.is_dir():
            files = {p.name: p.read_bytes() for p in path.iterdir() if p.is_file()}
            digest, ok = None, None
        else:
            files = _tar_members(path)
            digest = sha256(path)
            ok = digest == _published_sha(path.name)
        data = _decode(files, path)
    except CorruptArchiveError:
        raise
    except (tarfile.TarError, EOFError, OSError, pickle.UnpicklingError, KeyError, ValueError) as error:
        raise CorruptArchiveError(f"{path} is corrupt or truncated ({type(error).__name__}: {error})")
    data.path, data.sha256, data.sha256_ok = str(path), digest, ok
    return data


def _published_sha(name: str) -> str | None:
    return next((shas[name] for shas in ARCHIVES.values() if name in shas), None)


def _tar_members(path: Path) -> dict[str, bytes]:
    with tarfile.open(path, "r:gz") as tar:
        return {Path(m.name).name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}


def _decode(files: dict[str, bytes], path: Path) -> ArchiveData:
    if "meta" in files and "train" in files:
        return _python100(files)
    if "batches.meta" in files:
        return _python10(files)
    if "train.bin" in files:
        return _binary100(files)
    if "batches.meta.txt" in files:
        return _binary10(files)
    raise CorruptArchiveError(f"{path} holds no CIFAR files (found: {', '.join(sorted(files)) or 'nothing'})")


# ------------------------------------------------------------------------- the pickled format
def _allowed_globals() -> dict[tuple[str, str], object]:
    import codecs

    reconstruct = np.ndarray.__reduce__(np.zeros(1))[0]  # numpy's own _reconstruct, any version
    return {("numpy.core.multiarray", "_reconstruct"): reconstruct,
            ("numpy._core.multiarray", "_reconstruct"): reconstruct,
            ("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype,
            ("_codecs", "encode"): codecs.encode}


class _RestrictedUnpickler(pickle.Unpickler):
    """CIFAR's pickles hold dicts, lists, bytes, ints and numpy uint8 arrays: allow exactly the
    globals that rebuild those and refuse every other, so an archive from an untrusted mirror
    cannot run code when it is loaded."""

    _ALLOWED = _allowed_globals()

    def find_class(self, module, name):
        try:
            return self._ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"global {module}.{name} is not allowed in a CIFAR pickle")


def _unpickle(raw: bytes) -> dict[str, object]:
    obj = _RestrictedUnpickler(io.BytesIO(raw), encoding="bytes").load()
    if not isinstance(obj, dict):
        raise CorruptArchiveError(f"expected a dict in the CIFAR pickle, got {type(obj).__name__}")
    return {k.decode() if isinstance(k, bytes) else k: v for k, v in obj.items()}


def _images(rows) -> np.ndarray:
    """N x 3072 channel-major rows (1024 R, 1024 G, 1024 B) -> N x 32 x 32 x 3 (HWC)."""
    rows = np.asarray(rows, dtype=np.uint8)
    if rows.ndim != 2 or rows.shape[1] != _RECORD_PIXELS:
        raise CorruptArchiveError(f"image rows must be N x {_RECORD_PIXELS}, got {rows.shape}")
    return rows.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).copy()


def _names(values) -> list[str]:
    return [v.decode() if isinstance(v, bytes) else str(v) for v in values]


def _python100(files):
    train, test, meta = (_unpickle(files[k]) for k in ("train", "test", "meta"))
    return ArchiveData(_images(train["data"]), np.asarray(train["fine_labels"], np.int64),
                       _images(test["data"]), np.asarray(test["fine_labels"], np.int64),
                       np.asarray(train["coarse_labels"], np.int64), np.asarray(test["coarse_labels"], np.int64),
                       _names(meta["fine_label_names"]), _names(meta["coarse_label_names"]), "", None, None)


def _python10(files):
    batches = [_unpickle(files[f"data_batch_{i}"]) for i in range(1, 6)]
    test, meta = _unpickle(files["test_batch"]), _unpickle(files["batches.meta"])
    x = np.concatenate([_images(b["data"]) for b in batches])
    y = np.concatenate([np.asarray(b["labels"], np.int64) for b in batches])
    return ArchiveData(x, y, _images(test["data"]), np.asarray(test["labels"], np.int64), None, None,
                       _names(meta["label_names"]), None, "", None, None)


# -------------------------------------------------------------------------- the binary format
def _records(raw: bytes, label_bytes: int) -> tuple[np.ndarray, np.ndarray]:
    size = label_bytes + _RECORD_PIXELS
    if len(raw) % size:
        raise CorruptArchiveError(f"binary batch of {len(raw)} bytes is not a whole number of "
                                  f"{size}-byte records (truncated?)")
    table = np.frombuffer(raw, np.uint8).reshape(-1, size)
    return table[:, :label_bytes].astype(np.int64), _images(table[:, label_bytes:])


def _text_names(raw: bytes) -> list[str]:
    return [line.strip() for line in raw.decode().splitlines() if line.strip()]


def _binary100(files):
    (labels_tr, x_tr), (labels_te, x_te) = (_records(files[k], 2) for k in ("train.bin", "test.bin"))
    return ArchiveData(x_tr, labels_tr[:, 1], x_te, labels_te[:, 1], labels_tr[:, 0], labels_te[:, 0],
                       _text_names(files["fine_label_names.txt"]),
                       _text_names(files["coarse_label_names.txt"]), "", None, None)


def _binary10(files):
    parts = [_records(files[f"data_batch_{i}.bin"], 1) for i in range(1, 6)]
    labels_te, x_te = _records(files["test_batch.bin"], 1)
    return ArchiveData(np.concatenate([p[1] for p in parts]), np.concatenate([p[0][:, 0] for p in parts]),
                       x_te, labels_te[:, 0], None, None, _text_names(files["batches.meta.txt"]), None,
                       "", None, None)
