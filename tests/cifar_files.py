"""Small CIFAR archives in the real on-disk formats, written by the tests themselves."""

from __future__ import annotations

import io
import pickle
import tarfile
from pathlib import Path

import numpy as np


def images(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8)


def rows(x: np.ndarray) -> np.ndarray:
    """HWC images -> the format's N x 3072 channel-major rows."""
    return x.transpose(0, 3, 1, 2).reshape(len(x), -1)


def _pickle(obj) -> bytes:
    return pickle.dumps(obj, protocol=2)


# --------------------------------------------------------------------- damaging a written folder
def edit_pickle(folder: Path, member: str, drop: tuple[str, ...] = (), **entries) -> None:
    """Replace (or `drop`) entries of one pickled file of an extracted python-format folder."""
    batch = pickle.loads((folder / member).read_bytes(), encoding="bytes")  # written by us: trusted
    batch.update({key.encode(): value for key, value in entries.items()})
    for key in drop:
        del batch[key.encode()]
    (folder / member).write_bytes(_pickle(batch))


def edit_label_byte(folder: Path, member: str, image: int, value: int, column: int = -1) -> None:
    """Set one label byte of a binary-format batch (column -1: the fine or only label)."""
    raw = np.frombuffer((folder / member).read_bytes(), np.uint8).copy()
    labels = 2 if member in ("train.bin", "test.bin") else 1
    raw.reshape(-1, labels + 3072)[image, column % labels] = value
    (folder / member).write_bytes(raw.tobytes())


_RECONSTRUCT = np.ndarray.__reduce__(np.zeros(1))[0]  # numpy's own, as a real array pickles


class ForgedArray:
    """Pickles like a numpy array that claims `shape` without holding its data: through the
    arguments of numpy's _reconstruct (`via="reconstruct"`), or through the array's pickled state
    with `dtype` and `data` (`via="state"`). Unpickling it naively allocates the whole shape."""

    def __init__(self, shape, via="reconstruct", dtype="u1", data=b""):
        self.shape, self.via, self.dtype, self.data = tuple(shape), via, dtype, data

    def __reduce__(self):
        if self.via == "reconstruct":
            return _RECONSTRUCT, (np.ndarray, self.shape, b"b")
        return _RECONSTRUCT, (np.ndarray, (0,), b"b"), (1, self.shape, np.dtype(self.dtype), False, self.data)


def _tar(path: Path, folder: str, files: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, raw in files.items():
            info = tarfile.TarInfo(f"{folder}/{name}")
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
    return path


def cifar100(root: Path, fmt: str = "python", n_train: int = 60, n_test: int = 20, extracted: bool = False):
    """Write a tiny CIFAR-100 archive (or extracted folder); return (path, expected arrays)."""
    x_tr, x_te = images(n_train, 1), images(n_test, 2)
    rng = np.random.default_rng(3)
    fine_tr, fine_te = np.arange(n_train) % 100, rng.integers(0, 100, n_test)
    coarse_tr, coarse_te = fine_tr % 20, fine_te % 20
    fine_names = [f"fine{i}" for i in range(100)]
    coarse_names = [f"coarse{i}" for i in range(20)]
    if fmt == "python":
        folder, name = "cifar-100-python", "cifar-100-python.tar.gz"
        split = lambda x, f, c, label: _pickle({b"batch_label": label, b"data": rows(x),  # noqa: E731
                                               b"fine_labels": list(map(int, f)), b"coarse_labels": list(map(int, c)),
                                               b"filenames": [f"img{i}.png".encode() for i in range(len(x))]})
        files = {"train": split(x_tr, fine_tr, coarse_tr, b"training batch 1 of 1"),
                 "test": split(x_te, fine_te, coarse_te, b"testing batch 1 of 1"),
                 "meta": _pickle({b"fine_label_names": [n.encode() for n in fine_names],
                                  b"coarse_label_names": [n.encode() for n in coarse_names]})}
    else:
        folder, name = "cifar-100-binary", "cifar-100-binary.tar.gz"
        record = lambda x, f, c: np.concatenate([np.stack([c, f], 1).astype(np.uint8), rows(x)], 1).tobytes()  # noqa: E731
        files = {"train.bin": record(x_tr, fine_tr, coarse_tr), "test.bin": record(x_te, fine_te, coarse_te),
                 "fine_label_names.txt": "\n".join(fine_names).encode(),
                 "coarse_label_names.txt": "\n".join(coarse_names).encode()}
    expected = dict(x_train=x_tr, y_train=fine_tr, x_test=x_te, y_test=fine_te, coarse_train=coarse_tr,
                    coarse_test=coarse_te, fine_names=fine_names, coarse_names=coarse_names)
    return _write(root, folder, name, files, extracted), expected


def cifar10(root: Path, fmt: str = "python", per_batch: int = 10, n_test: int = 10, extracted: bool = False):
    xs = [images(per_batch, 10 + i) for i in range(5)]
    ys = [np.random.default_rng(20 + i).integers(0, 10, per_batch) for i in range(5)]
    x_te, y_te = images(n_test, 30), np.random.default_rng(31).integers(0, 10, n_test)
    names = [f"label{i}" for i in range(10)]
    if fmt == "python":
        folder, name = "cifar-10-batches-py", "cifar-10-python.tar.gz"
        batch = lambda x, y: _pickle({b"batch_label": b"b", b"data": rows(x), b"labels": list(map(int, y)),  # noqa: E731
                                      b"filenames": [b"f"] * len(x)})
        files = {f"data_batch_{i + 1}": batch(xs[i], ys[i]) for i in range(5)}
        files.update(test_batch=batch(x_te, y_te), **{"batches.meta": _pickle({b"label_names": [n.encode() for n in names]})})
    else:
        folder, name = "cifar-10-batches-bin", "cifar-10-binary.tar.gz"
        record = lambda x, y: np.concatenate([y[:, None].astype(np.uint8), rows(x)], 1).tobytes()  # noqa: E731
        files = {f"data_batch_{i + 1}.bin": record(xs[i], ys[i]) for i in range(5)}
        files.update({"test_batch.bin": record(x_te, y_te), "batches.meta.txt": "\n".join(names).encode()})
    expected = dict(x_train=np.concatenate(xs), y_train=np.concatenate(ys), x_test=x_te, y_test=y_te, fine_names=names)
    return _write(root, folder, name, files, extracted), expected


def _write(root: Path, folder: str, name: str, files: dict[str, bytes], extracted: bool) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    if extracted:
        target = root / folder
        target.mkdir()
        for file, raw in files.items():
            (target / file).write_bytes(raw)
        return target
    return _tar(root / name, folder, files)


# ------------------------------------------------------------------------------- image folders
def image_folders(root: Path, names, x_train, y_train, x_test, y_test, suffix: str = ".png") -> Path:
    """Write `train/<class>/*.png` and `test/<class>/*.png` (the layout of ImageFolder and
    image_dataset_from_directory); every class gets a folder, even an empty one. Returns root."""
    from PIL import Image

    for split, x, y in (("train", x_train, y_train), ("test", x_test, y_test)):
        for name in names:
            (root / split / name).mkdir(parents=True, exist_ok=True)
        for i, (image, label) in enumerate(zip(x, y)):
            Image.fromarray(image).save(root / split / names[int(label)] / f"{names[int(label)]}_{i:05d}{suffix}",
                                        quality=100)
    return root


def balanced(n_classes: int, per_class: int, seed: int, shape=(32, 32, 3)) -> tuple[np.ndarray, np.ndarray]:
    """(images, labels): `per_class` random images of each class, in a shuffled order."""
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.repeat(np.arange(n_classes), per_class))
    return rng.integers(0, 256, size=(len(labels), *shape), dtype=np.uint8), labels


def small_spec(monkeypatch, name: str, train: int, test: int, **changes):
    """The named dataset's spec with a tiny split size, so a test writes hundreds of PNGs, not 60,000."""
    import dataclasses

    from benchmarks.core import datasets

    spec = dataclasses.replace(datasets.DATASETS[name], train_images=train, test_images=test, **changes)
    monkeypatch.setitem(datasets.DATASETS, name, spec)
    return spec


def cifar100_tree(root, monkeypatch, per_class=(2, 1), **spec_changes):
    """CIFAR-100's 100 class folders with `per_class` random images each (train, test), the spec's
    split sizes made to match. Returns the images and labels written."""
    from benchmarks.core import datasets

    names = datasets.DATASETS["cifar100"].classes
    x_tr, y_tr = balanced(100, per_class[0], seed=1)
    x_te, y_te = balanced(100, per_class[1], seed=2)
    small_spec(monkeypatch, "cifar100", len(y_tr), len(y_te), **spec_changes)
    image_folders(root, names, x_tr, y_tr, x_te, y_te)
    return x_tr, y_tr, x_te, y_te


def png(pixels: np.ndarray, color_type: int, bit_depth: int = 16) -> bytes:
    """A PNG written byte by byte (Pillow cannot write 16-bit colour): `pixels` (h, w[, c]) of
    `bit_depth` bits, colour type 0 grey, 2 RGB, 4 grey + alpha, 6 RGBA."""
    import struct
    import zlib

    rows = pixels.reshape(pixels.shape[0], -1).astype(">u2" if bit_depth == 16 else "u1")
    raw = b"".join(b"\x00" + row.tobytes() for row in rows)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", pixels.shape[1], pixels.shape[0], bit_depth, color_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
