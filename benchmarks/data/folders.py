"""Image-folder datasets: `train/<class>/*.png` and `test/<class>/*.png` (PNG or JPEG), the layout
`keras.utils.image_dataset_from_directory` and torchvision's `ImageFolder` read, decoded once into
a uint8 cache.

Neither of those readers is used: both yield shuffled float batches through their own pipelines,
while archbench needs every split as one uint8 array for the device table (`feed`), labels in the
dataset's own order rather than whatever folders happen to exist, and checks that fail in one line
before anything trains. Decoding 60,000 PNGs takes seconds, so the arrays are cached under
`~/.cache/archbench` (or $ARCHBENCH_CACHE_DIR), keyed by the bytes of every image file: a changed
folder is decoded afresh, a read-only data folder works, and a damaged cache is rebuilt, never
trusted (its arrays' digest is checked on every read).
"""

from __future__ import annotations

import difflib
import hashlib
import os
import stat
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

from benchmarks.core.datasets import DatasetSpec
from benchmarks.core.errors import ConfigError
from benchmarks.core.storage import atomic_write
from benchmarks.data import images

SPLITS = ("train", "test")
CACHE_VERSION = 2  # 2: the cache holds its tree's key, and proves with it that it is that tree's


class FolderError(ConfigError):
    """The image folder is not a dataset archbench can read: one line naming what is wrong."""


def is_image_tree(root: Path | str | None) -> bool:
    """A folder holding `train/` or `test/`: meant as image folders (the layout is checked by `listing`)."""
    if root is None:
        return False
    root = Path(root)
    return any((root / split).is_dir() for split in SPLITS)  # a missing one is named by `listing`


def cache_dir() -> Path:
    base = os.environ.get("ARCHBENCH_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "archbench")
    return Path(base) / "folders"


# ------------------------------------------------------------------------------------- listing
def listing(root: Path, spec: DatasetSpec) -> tuple[tuple[str, ...], dict[str, list[tuple[int, Path]]], list[str]]:
    """(class names in label order, split -> [(label, file)], warnings), checked against `spec`: for
    a named dataset the folder names must be exactly its classes, in any order on disk. Only what is
    inside the tree is read: a linked split or class folder is refused, and a linked or non-regular
    image file (a link, a FIFO) is skipped with a warning."""
    found = {split: _class_folders(root / split) for split in SPLITS}
    if spec.classes:
        names = spec.classes
        for split in SPLITS:
            _check_names(root / split, set(found[split]), names, spec.name)
    else:
        names = tuple(sorted(found["train"]))
        if len(names) < 2:
            raise FolderError(f"{root / 'train'} has {len(names)} class folder(s); a dataset needs at least 2")
        if set(found["test"]) != set(names):
            _check_names(root / "test", set(found["test"]), names, "train/")
    label = {name: i for i, name in enumerate(names)}
    files, skipped = {}, []
    for split in SPLITS:
        files[split] = []
        for name in names:
            kept, not_read = _images(root / split / name)
            files[split] += [(label[name], f) for f in kept]
            skipped += not_read
        expected = getattr(spec, f"{split}_images")
        if expected and len(files[split]) != expected:
            why = f"; {len(skipped)} linked or non-regular file(s) skipped, such as {skipped[0]}" if skipped else ""
            raise FolderError(f"{root / split} holds {len(files[split]):,} images; {spec.name}'s {split} split has "
                              f"{expected:,} (a partial copy?){why}")
        empty = [c for c in names if not any(label[c] == i for i, _ in files[split])]
        if empty and not spec.classes:  # a named dataset's split is held to its count instead
            raise FolderError(f"{root / split}: no PNG or JPEG images in {', '.join(empty[:5])}")
    warnings = [f"{len(skipped)} image file(s) under {root} skipped: a symbolic link or not a regular file, never "
                f"read (such as {skipped[0]})"] if skipped else []
    return names, files, warnings


def _class_folders(folder: Path) -> list[str]:
    if folder.is_symlink():
        raise FolderError(f"{folder} is a symbolic link: links in an image folder are never followed "
                          f"(copy the images in, or point --data-dir at the tree they are in)")
    if not folder.is_dir():
        raise FolderError(f"{folder} is missing: an image-folder dataset needs train/<class>/ and test/<class>/")
    entries = [p for p in folder.iterdir() if not p.name.startswith(".")]
    linked = [p for p in entries if p.is_symlink() and p.is_dir()]
    if linked:
        raise FolderError(f"{linked[0]} is a symbolic link to a folder: links in an image folder are never followed "
                          f"(copy the images in)")
    return sorted(p.name for p in entries if p.is_dir())


def _images(folder: Path) -> tuple[list[Path], list[Path]]:
    """(regular image files, image names that are links or not regular files): a link could reach
    any file the user can read, a FIFO would wait forever."""
    named = sorted(p for p in folder.iterdir() if images.is_image_name(p))
    regular = [p for p in named if stat.S_ISREG(os.lstat(p).st_mode)]
    return regular, [p for p in named if p not in set(regular)]


def _check_names(folder: Path, found: set[str], names: tuple[str, ...], what: str) -> None:
    missing, extra = sorted(set(names) - found), sorted(found - set(names))
    if not missing and not extra:
        return
    parts = []
    for name in extra[:5]:
        close = difflib.get_close_matches(name, missing, n=1)
        parts.append(f"'{name}'" + (f" (did you mean '{close[0]}'?)" if close else ""))
    said = f"unexpected folder(s) {', '.join(parts)}" if extra else ""
    if missing:
        said += ("; " if said else "") + f"missing {', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}"
    raise FolderError(f"{folder}: the class folders must be exactly {what}'s {len(names)} classes: {said}")


# ---------------------------------------------------------------------------------- decoding
def read(root: Path, spec: DatasetSpec, progress: bool = True) -> tuple[dict, dict]:
    """(arrays, provenance): x/y train and test (uint8 HWC, int64), class names, and where they came
    from. Decoded from the files, or read from the cache when its key and digest both hold."""
    root = Path(root)
    names, files, warnings = listing(root, spec)
    started = time.perf_counter()
    blobs = {split: [_read(f) for _, f in files[split]] for split in SPLITS}
    key = _key(names, files, blobs, root)
    cache = cache_dir() / f"{key}.npz"
    arrays, note = _from_cache(cache, names, key)
    if arrays is None:
        arrays, shape = {"names": names}, spec.image_shape
        for split in SPLITS:  # test images must have the train images' shape
            arrays[f"x_{split}"] = _decode(root / split, files[split], blobs[split], spec, shape, progress)
            arrays[f"y_{split}"] = np.array([label for label, _ in files[split]], dtype=np.int64)
            shape = arrays[f"x_{split}"].shape[1:]
        note = _to_cache(cache, arrays, key) or note
    provenance = dict(source="folder", location=str(root.resolve()), cache=str(cache), cache_note=note,
                      read_seconds=round(time.perf_counter() - started, 2), warnings=tuple(warnings))
    return arrays, provenance


def _read(path: Path) -> bytes:
    """An image file's bytes, opened without following a link or waiting on a FIFO swapped in
    since `listing` looked."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError as error:
        raise FolderError(f"{path} cannot be read ({error.strerror or error})")
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise FolderError(f"{path} is not a regular file")
        return f.read()


def _key(names, files, blobs, root: Path) -> str:
    digest = hashlib.blake2b(f"archbench-folder-v{CACHE_VERSION}".encode(), digest_size=16)
    digest.update("\n".join(names).encode())
    for split in SPLITS:
        for (label, path), blob in zip(files[split], blobs[split]):
            digest.update(f"\n{split}/{label}/{path.relative_to(root / split).as_posix()}/{len(blob)}\n".encode())
            digest.update(blob)
    return digest.hexdigest()


def _decode(folder: Path, files, blobs, spec: DatasetSpec, shape, progress: bool) -> np.ndarray:
    """Every image of one split as uint8 (n, h, w, 3). All must have `shape` (the dataset's, or the
    train split's), else the size most of them have: the error names the odd ones out."""
    decoded = []
    bar = _Progress(f"decoding {folder}", len(blobs), enabled=progress)
    for i, ((_, path), blob) in enumerate(zip(files, blobs)):
        try:
            decoded.append(images.decode(blob, path.suffix))
        except images.ImageError as error:
            raise FolderError(f"{path} {error}")
        bar.update(i + 1)
    bar.close()
    sizes = Counter(p.shape for p in decoded)
    expected = tuple(shape) if shape is not None else sizes.most_common(1)[0][0] if sizes else (0, 0, 3)
    odd = [(path, p.shape) for (_, path), p in zip(files, decoded) if p.shape != expected]
    if odd:
        (path, (h, w, _)), more = odd[0], f" (and {len(odd) - 1} more)" if len(odd) > 1 else ""
        why = "" if spec.image_shape else " (the training images' size)" if shape is not None else \
            f" (the size of {len(decoded) - len(odd):,} of its {len(decoded):,} images)"
        raise FolderError(f"{path}{more} is {w}x{h} pixels; every image of "
                          f"{spec.name if spec.image_shape else 'the dataset'} must be {expected[1]}x{expected[0]}{why}")
    return np.stack(decoded) if decoded else np.empty((0, *expected), np.uint8)


class _Progress:
    """A progress line on stderr (images, share, ETA). Not keras.utils.Progbar: importing Keras loads
    its backend (TensorFlow: seconds), and reading data needs none."""

    def __init__(self, what: str, total: int, enabled: bool = True, every: float = 1.0):
        self.what, self.total, self.every = what, total, every
        self.enabled = enabled and total > 0
        self.started = self.last = time.perf_counter()
        self.tty = sys.stderr.isatty()
        self.shown = -1

    def update(self, done: int) -> None:
        now = time.perf_counter()
        if not self.enabled or done == self.shown or (now - self.last < self.every and self.shown < 0) or \
                (now - self.last < self.every and done < self.total):
            return
        self.last, self.shown = now, done
        eta = (now - self.started) / done * (self.total - done)
        line = f"{self.what}: {done:,}/{self.total:,} images ({done / self.total:.0%}), ETA {eta:.0f}s"
        print(("\r" if self.tty else "") + line, end="" if self.tty else "\n", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.enabled and self.shown >= 0:  # a decode too short to show progress stays silent
            self.update(self.total)
            if self.tty:
                print(file=sys.stderr, flush=True)


# -------------------------------------------------------------------------------------- cache
def arrays_digest(arrays: dict) -> str:
    digest = hashlib.blake2b(digest_size=16)
    for key in ("x_train", "y_train", "x_test", "y_test"):
        digest.update(np.ascontiguousarray(arrays[key]).tobytes())
    return digest.hexdigest()


def _from_cache(path: Path, names: tuple[str, ...], key: str) -> tuple[dict | None, str]:
    """The cached arrays when the file proves it is this tree's (the key of its files' bytes is
    stored in it: a cache copied under another tree's name is refused) and intact (digest)."""
    if not path.is_file() or path.is_symlink():
        return None, "decoded"
    try:
        with np.load(path, allow_pickle=False) as stored:
            arrays = {k: stored[k] for k in ("x_train", "y_train", "x_test", "y_test")}
            ok = (str(stored["key"]) == key and tuple(str(n) for n in stored["names"]) == names
                  and str(stored["digest"]) == arrays_digest(arrays)
                  and all(arrays[f"x_{s}"].dtype == np.uint8 and arrays[f"x_{s}"].ndim == 4 for s in SPLITS))
    except Exception:  # any damage (truncated zip, missing key, wrong dtype): rebuilt below
        ok = False
    if not ok:
        print(f"warning: decode cache {path} is damaged or another tree's; decoding the images afresh", file=sys.stderr)
        return None, "decoded (cache damaged or another tree's)"
    return {**arrays, "names": names}, "cache"


def _to_cache(path: Path, arrays: dict, key: str) -> str | None:
    fields = dict(key=np.array(key), names=np.array(arrays["names"]), digest=np.array(arrays_digest(arrays)),
                  **{k: arrays[k] for k in ("x_train", "y_train", "x_test", "y_test")})
    try:
        atomic_write(path, lambda f: np.savez(f, **fields), mode="wb")
    except OSError as error:
        print(f"warning: cannot write the decode cache {path} ({error.strerror or error}); "
              f"the images will be decoded again next time", file=sys.stderr)
        return "decoded (not cached)"
    return None
