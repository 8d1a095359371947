"""What a run ran on: versions, device, host and the project's git revision (the device itself is
described by `backends.device`)."""

from __future__ import annotations

import functools
import os
import platform
import socket
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
# What a run executes: a change anywhere else in the checkout (results, reports, README, as the
# reference job regenerates in its own worktree) leaves the code a run records clean.
SOURCE_PATHS = ("architectures", "benchmarks", "scripts", "pyproject.toml")


@functools.cache
def git_revision(root: Path = ROOT) -> str | None:
    """The checkout's commit (with '+dirty' when its code has changes), or None outside a checkout."""
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                             timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", *SOURCE_PATHS],
                               cwd=root, capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{rev}+dirty" if dirty else rev


DIFF_LIMIT = 256 << 10  # bytes of `git diff` kept beside a run from a checkout with changes


def write_source_diff(folder: Path, root: Path = ROOT) -> Path | None:
    """A run from a checkout with uncommitted changes records only "+dirty" in its versions: keep
    the changes to its code themselves (`git diff HEAD`, capped at DIFF_LIMIT) in the run's folder as
    source.diff, as airbench keeps its own source beside its results. None when the tree is clean."""
    from benchmarks.core.storage import atomic_write

    revision = git_revision(root)
    if not revision or not revision.endswith("+dirty"):
        return None
    try:
        diff = subprocess.run(["git", "diff", "HEAD", "--", *SOURCE_PATHS], cwd=root, capture_output=True,
                              timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    if len(diff) > DIFF_LIMIT:
        diff = diff[:DIFF_LIMIT] + f"\n# ... cut at {DIFF_LIMIT:,} of {len(diff):,} bytes\n".encode()
    path = Path(folder) / "source.diff"
    atomic_write(path, lambda f: f.write(diff), mode="wb")
    return path


def versions() -> dict[str, str | None]:
    from importlib.metadata import PackageNotFoundError, version

    import keras
    import numpy

    def installed(name):
        try:
            return version(name)
        except PackageNotFoundError:
            return None

    return {"python": platform.python_version(), "tensorflow": installed("tensorflow"), "jax": installed("jax"),
            "torch": installed("torch"), "keras": keras.__version__, "numpy": numpy.__version__,
            "archbench": installed("archbench"), "git_revision": git_revision()}


def describe() -> dict[str, object]:
    from benchmarks.train import backends

    described = {"host": socket.gethostname(), "platform": platform.platform(), "device": backends.device(),
                 "versions": versions(), "backend": backends.current()}
    if described["device"].startswith("CPU"):  # what `auto` read to choose the precision
        described["cpu_bf16"] = backends.cpu_bf16()
    return described


def segment(from_step: int, jit: bool) -> dict[str, object]:
    """One process's stretch of a run: where and when it started training, from which step, and
    with XLA or not (a run may be resumed with another --jit: each segment says how it ran)."""
    from benchmarks.train import backends

    return {"host": socket.gethostname(), "pid": os.getpid(), "device": backends.device(),
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "from_step": from_step, "jit": jit}
