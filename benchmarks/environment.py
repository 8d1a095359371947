"""What a run ran on: versions, device, host and the project's git revision."""

from __future__ import annotations

import functools
import os
import platform
import socket
import subprocess
from pathlib import Path


@functools.cache
def git_revision() -> str | None:
    """The checkout's commit (with '+dirty' when it has changes), or None outside a checkout."""
    root = Path(__file__).resolve().parent.parent
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                             timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{rev}+dirty" if dirty else rev


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device() -> str:
    """'GPU: <name> x N' when TensorFlow sees GPUs, else 'CPU: <model> (<cores> cores)'."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        names = {tf.config.experimental.get_device_details(g).get("device_name", "GPU") for g in gpus}
        return f"GPU: {', '.join(sorted(names))} x {len(gpus)}"
    return f"CPU: {cpu_name()} ({os.cpu_count()} cores)"


def versions() -> dict[str, str | None]:
    from importlib.metadata import PackageNotFoundError, version

    import keras
    import numpy
    import tensorflow as tf

    try:
        project = version("archbench")
    except PackageNotFoundError:
        project = None
    return {"python": platform.python_version(), "tensorflow": tf.__version__,
            "keras": keras.__version__, "numpy": numpy.__version__, "archbench": project,
            "git_revision": git_revision()}


def describe() -> dict[str, object]:
    return {"host": socket.gethostname(), "platform": platform.platform(), "device": device(),
            "versions": versions(), "backend": "tensorflow"}
