"""Files that must survive a kill at any moment: atomic writes, run claims with a heartbeat."""

from __future__ import annotations

import json
import os
import socket
import stat
import sys
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


def check_target(path: Path, flag: str = "") -> None:
    """Refuse (UnsafeFile, one line) to write over anything at `path` but a regular file: a link,
    a device node, a FIFO or a folder is never replaced (as root, `--json /dev/stdout` would have
    replaced the system's own). `flag` names the option the path came from, for the message."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISREG(info.st_mode):
        what = "a symbolic link" if stat.S_ISLNK(info.st_mode) else "a folder" if stat.S_ISDIR(info.st_mode) \
            else "not a regular file (a device, FIFO or socket)"
        raise UnsafeFile(f"{flag + ' ' if flag else ''}{path} is {what}: archbench writes only regular files or new paths")


def atomic_write(path: Path, write: Callable[[Any], None], mode: str = "w") -> None:
    """Write through `write(file)` to a temporary name, fsync, then rename over `path`.

    A reader sees the old file or the new one, never a half-written one. Only a regular file or a
    new path is ever replaced (`check_target`).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    check_target(path)
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


def as_written(data: Any) -> Any:
    """`data` as `write_json` writes it and a reader reads it back (a tuple is a list, a dataclass
    a dict): what a schema holds a record to."""
    return json.loads(json.dumps(data, default=_jsonable))


# What a file of a results folder may weigh: a folder can come from anyone (a colleague, a drive, an
# archive), so no read follows a link, waits on a FIFO or device, or takes more than its kind needs.
LIMITS = {"json": 16 << 20, "summary": 4 << 20, "config": 1 << 20, "history": 16 << 20, "table": 16 << 20,
          "figure": 32 << 20}


class UnsafeFile(OSError):
    """Not a regular file of a bounded size: a link, a FIFO, a device, or too large. `str()` says which."""


def read_regular(path: Path, kind: str = "json") -> bytes:
    """The bytes of `path` if it is a regular file (not a link) of at most LIMITS[kind] bytes."""
    if stat.S_ISLNK(os.lstat(path).st_mode):  # FileNotFoundError passes through
        raise UnsafeFile("a symbolic link, never followed in a results folder")
    return _bounded_read(path, LIMITS[kind], f"a {kind} file", follow=False)


def read_json(path: Path, kind: str = "json") -> Any:
    return json.loads(read_regular(path, kind))


def read_user_file(path: Path | str, limit: int = 16 << 20) -> bytes:
    """The bytes of a file the user named on the command line (`--hparams FILE`): a link to a
    regular file is followed (the user chose it), but a FIFO, device or folder is refused before
    it is opened, so nothing waits on it, and so is a file larger than `limit`."""
    return _bounded_read(path, limit, "it", follow=True)


def _bounded_read(path, limit: int, what: str, follow: bool) -> bytes:
    """A regular file's bytes, at most `limit`: checked before opening (a FIFO would wait, a device
    never end) and again on the open file (one swapped in since)."""
    info = os.stat(path)  # FileNotFoundError passes through
    if not stat.S_ISREG(info.st_mode):
        raise UnsafeFile("not a regular file (a FIFO, device or folder)")
    if info.st_size > limit:
        raise UnsafeFile(f"{info.st_size:,} bytes, more than {what} may have ({limit:,})")
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | (0 if follow else getattr(os, "O_NOFOLLOW", 0))
    with os.fdopen(os.open(path, flags), "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise UnsafeFile("not a regular file")
        data = f.read(limit + 1)
    if len(data) > limit:
        raise UnsafeFile(f"more than {what} may have ({limit:,} bytes)")
    return data


def set_aside(path: Path, why: str, log: Callable[[str], None] | None = None) -> Path | None:
    """Move a file that is about to be rewritten (unreadable, hand-edited, of the wrong shape) to
    `<name>.set-aside-<time>` beside it, and say so: a user's file is never replaced without a word.
    Returns where it went (None when nothing was there)."""
    path = Path(path)
    if not os.path.lexists(path):
        return None
    aside = path.with_name(f"{path.name}.set-aside-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:4]}")
    os.rename(path, aside)
    (log or (lambda message: print(message, file=sys.stderr)))(f"warning: {path} {why}: moved to {aside.name} "
                                                                f"and written afresh")
    return aside


_ACTIVE = str.maketrans({"[": "(", "]": ")", "<": "‹", ">": "›", "|": "/", "`": "'", "\\": "/"})


def inert(text: Any) -> str:
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

    BEING_WRITTEN = 5.0  # seconds an empty claim may be one that its taker is still writing

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
        if self._holder().get("token") == self.token:
            self.path.unlink(missing_ok=True)

    def _holder(self) -> dict:
        """The claim file's content, or {} when it is unreadable or not an object (torn by a crash,
        or edited by hand): such a claim holds nothing."""
        try:
            holder = read_json(self.path)
        except (OSError, ValueError, RecursionError):
            return {}
        return holder if isinstance(holder, dict) else {}

    def _take_over_if_stale(self) -> bool:
        try:
            info = os.lstat(self.path)
        except FileNotFoundError:
            return True  # released since: try again
        if not stat.S_ISREG(info.st_mode):  # never removed: it is not a claim archbench wrote
            raise UnsafeFile(f"{self.path} is not a claim file (a folder, link or device): move it away to train this run")
        holder, age = self._holder(), time.time() - info.st_mtime
        if not holder and age > self.BEING_WRITTEN:  # unreadable, and not one being written this moment: torn
            age = stale_seconds()
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
    if not isinstance(pid, int) or isinstance(pid, bool) or not 0 < pid < 2**31:  # no process has such a pid
        return False
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):
        return False
    except PermissionError:
        return True
    return True
