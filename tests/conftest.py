import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ["CUDA_VISIBLE_DEVICES"] = ""
os.environ["ARCHBENCH_STRICT_RECORDS"] = "1"  # every summary a test writes is held to the schema
# A CPU without bf16 instructions, whatever CI's is: `auto` trains float32 in every test run (and
# its subprocesses) unless the test describes another CPU (tests/test_speed.py, tests/test_gpu_path.py).
os.environ["ARCHBENCH_CPU_FLAGS"] = "sse2 avx avx2 fma"
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pytest  # noqa: E402


@pytest.fixture
def cli_env(tmp_path):
    """Environment for CLI subprocesses: no GPU, quiet TF, an empty Keras cache (no archives)."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "HOME": str(tmp_path / "home"),
           "PYTHONPATH": str(ROOT), "CUDA_VISIBLE_DEVICES": ""}
    env.pop("TFDS_DATA_DIR", None)
    for name in [n for n in env if n.startswith("PYTEST_XDIST")]:  # a process of its own is no xdist worker
        env.pop(name)
    return env


@pytest.fixture
def cli_in_process(capfd, monkeypatch, tmp_path):
    """`archbench ARGS` run in this process: returns (exit code, stderr lines). A subprocess per
    case would start Python and import TensorFlow every time (about 5 s each); capturing at the
    file-descriptor level still sees anything a library prints. What a real process shows (one
    line, no traceback, no library notices) is checked once per verb in tests/test_cli.py."""
    import signal

    from benchmarks.cli import commands

    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # an empty Keras cache: no archives
    monkeypatch.delenv("TFDS_DATA_DIR", raising=False)

    def call(*argv: str) -> tuple[int, list[str]]:
        handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
        capfd.readouterr()
        try:
            code = commands.main(list(argv))
        except SystemExit as exit_:  # argparse's errors
            code = exit_.code
        finally:
            for s, handler in handlers.items():
                signal.signal(s, handler)
        return code, capfd.readouterr().err.strip().splitlines()

    return call


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    """A decode cache of this test's own (image-folder tests: nothing cached by another test is read)."""
    from benchmarks.data import loader

    monkeypatch.setenv("ARCHBENCH_CACHE_DIR", str(tmp_path / "cache"))
    loader._load_arrays.cache_clear()
    yield tmp_path / "cache" / "folders"
    loader._load_arrays.cache_clear()
