"""Files that must survive a kill at any moment: atomic writes, run claims with a heartbeat."""

from __future__ import annotations

import json
import os
import socket
import stat
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, Callable


def stale_seconds() -> float:
    """The claim heartbeat's timeout: $ARCHBENCH_CLAIM_STALE_SECONDS, default 600 (read when used,
    so a malformed value is one line from the command that needs it, not a crash at import)."""
    from benchmarks.core.errors import ConfigError

    text = os.environ.get("ARCHBENCH_CLAIM_STALE_SECONDS", "600")
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value < float("inf"):
        raise ConfigError(f"ARCHBENCH_CLAIM_STALE_SECONDS must be a positive number of seconds, got {text!r}")
    return value


def atomic_write(path: Path, write: Callable[[Any], None], mode: str = "w") -> None:
    """Write through `write(file)` to a temporary name, fsync, then rename over `path`.

    A reader sees the old file or the new one, never a half-written one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; results are for the group too
        with os.fdopen(fd, mode) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    """The process umask (read by setting it, then putting it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_json(path: Path, data: Any) -> None:
    atomic_write(path, lambda f: json.dump(data, f, indent=2, sort_keys=True, default=_jsonable))


# What a file of a results folder may weigh: a folder can come from anyone (a colleague, a drive, an
# archive), so no read follows a link, waits on a FIFO or device, or takes more than its kind needs.
LIMITS = {"json": 16 << 20, "summary": 4 << 20, "config": 1 << 20, "history": 16 << 20, "table": 16 << 20,
          "figure": 32 << 20}


class UnsafeFile(OSError):
    """Not a regular file of a bounded size: a link, a FIFO, a device, or too large. `str()` says which."""


def read_regular(path: Path, kind: str = "json") -> bytes:
    """The bytes of `path` if it is a regular file (not a link) of at most LIMITS[kind] bytes."""
    limit = LIMITS[kind]
    info = os.lstat(path)  # FileNotFoundError passes through
    if stat.S_ISLNK(info.st_mode):
        raise UnsafeFile("a symbolic link, never followed in a results folder")
    if not stat.S_ISREG(info.st_mode):
        raise UnsafeFile("not a regular file (a FIFO, device or folder)")
    if info.st_size > limit:
        raise UnsafeFile(f"{info.st_size:,} bytes, more than a {kind} file may have ({limit:,})")
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):  # swapped in since the lstat
            raise UnsafeFile("not a regular file")
        data = f.read(limit + 1)
    if len(data) > limit:
        raise UnsafeFile(f"more than a {kind} file may have ({limit:,} bytes)")
    return data


def read_json(path: Path, kind: str = "json") -> Any:
    return json.loads(read_regular(path, kind))


_ACTIVE = str.maketrans({"[": "(", "]": ")", "<": "‹", ">": "›", "|": "/", "`": "'", "\\": "/"})


def plain(text: Any) -> str:
    """Text from a results folder, inert in markdown and HTML: one line, no [ ] < > | ` or backslash
    (no link, image, tag, table cell or code span can be made of it)."""
    return " ".join(str(text).split()).translate(_ACTIVE)[:1000]


def linked_folders(results_dir: Path) -> list[Path]:
    """Folders below `results_dir` that are symbolic links (`run_folders` never enters them)."""
    return sorted(Path(top) / d for top, dirs, _ in os.walk(results_dir) for d in dirs
                  if os.path.islink(os.path.join(top, d)))


def through_link(root: Path, path: Path) -> bool:
    """Whether `path`, below `root`, is reached through a symbolic link (its real place differs)."""
    real_root = os.path.realpath(root)
    return os.path.realpath(path) != os.path.join(real_root, os.path.relpath(os.path.abspath(path), os.path.abspath(root)))


def _jsonable(value):
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if isinstance(value, (set, tuple)):
        return list(value)
    return str(value)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# ------------------------------------------------------------------------------------ claims
class Claim:
    """An exclusive claim on a run folder, so two workers sharing a results folder never train
    the same run at once. Taken with O_EXCL (atomic on local and NFS-v3+ filesystems); kept
    alive by touching the file; taken over only when its heartbeat is stale or, on this host,
    when the process that held it is gone."""

    def __init__(self, folder: Path):
        self.path = Path(folder) / "claim.json"
        self.token = uuid.uuid4().hex
        self._last_beat = 0.0

    def acquire(self) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                if not self._take_over_if_stale():
                    return False
                continue
            with os.fdopen(fd, "w") as f:
                json.dump({"host": socket.gethostname(), "pid": os.getpid(), "token": self.token,
                           "since": time.time()}, f)
            self._last_beat = time.monotonic()
            return True
        return False

    def heartbeat(self, every: float = 30.0) -> None:
        if time.monotonic() - self._last_beat >= every:
            try:
                os.utime(self.path)
            except OSError:
                pass
            self._last_beat = time.monotonic()

    def release(self) -> None:
        try:
            if read_json(self.path).get("token") == self.token:
                self.path.unlink()
        except (OSError, ValueError):
            pass

    def _take_over_if_stale(self) -> bool:
        try:
            holder = read_json(self.path)
            age = time.time() - self.path.stat().st_mtime
        except (OSError, ValueError):
            holder, age = {}, stale_seconds()  # unreadable: a claim torn by a crash
        dead_here = holder.get("host") == socket.gethostname() and not _alive(holder.get("pid"))
        if age < stale_seconds() and not dead_here:
            return False
        stale = self.path.with_name(f"claim.stale-{uuid.uuid4().hex[:8]}.json")
        try:
            os.rename(self.path, stale)  # only one taker wins the rename
        except OSError:
            return False
        stale.unlink(missing_ok=True)
        return True


class NoClaim:
    """The claim of a non-chief process of a multi-worker run: the chief holds the real one."""

    def acquire(self) -> bool:
        return True

    def heartbeat(self, every: float = 30.0) -> None:
        pass

    def release(self) -> None:
        pass


def _alive(pid) -> bool:
    if not isinstance(pid, int):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
