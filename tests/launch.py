"""`python -m tests.launch VERB ARGS`: archbench's own command line in a real process, for the
tests about processes (SIGKILL and resume, SIGTERM, workers sharing a suite or a search). What
they test is the process, not a network, so two things differ from `python -m benchmarks`:

- `tiny-test` (tests/helpers.py) is registered and the `smoke` preset's data is `helpers.SMALL`
  (600 training images, 10 classes): a run takes a second or two after the imports, not half a
  minute. Both are set once the real command has loaded Keras as it always does.
- ARCHBENCH_TEST_HOLD="STEP:PATH[:FOLDER]": after the first checkpoint at or past global step STEP
  (of the first run whose folder's path contains FOLDER, when given), the run writes its position
  (epoch, step, step_in_epoch) to PATH and waits there until a signal comes (SIGTERM, SIGINT: the
  run then goes on to its own handling). A tiny model trains an epoch in a fraction of a second,
  faster than a test watching the checkpoints from outside can react; held, it is stopped
  exactly where the test says. A held run checkpoints after every step: `--checkpoint-every`'s
  timer, however short, is missed by a step faster than it (a bf16 step under XLA on JAX).
- ARCHBENCH_TEST_GPU="NAME:MAJOR.MINOR": `--precision auto` and `--jit` unset resolve as they would
  on that GPU (an H100 is "NVIDIA H100 80GB HBM3:9.0"), and the run trains on the CPU with what
  they resolved to: the GPU's default path, run by CI that has no GPU. Only the resolution sees
  the described GPU; the run records the device it really ran on.
"""

import json
import os
import sys
import time
from pathlib import Path

HOLD = "ARCHBENCH_TEST_HOLD"
GPU = "ARCHBENCH_TEST_GPU"


def _hold_after_checkpoint(step: int, marker: Path, folder: str) -> None:
    from benchmarks.train import checkpoint, control, runner

    checkpoint.Checkpointer.due = lambda self, every_minutes: True
    save = runner.Run.save_checkpoint

    def save_and_hold(self) -> None:
        save(self)
        state = self.state
        if state.step < step or folder not in str(self.folder) or marker.exists():
            return
        position = {"epoch": state.epoch, "step": state.step, "step_in_epoch": state.step_in_epoch}
        written = marker.with_name(marker.name + ".tmp")
        written.write_text(json.dumps(position))
        written.replace(marker)  # whole, for the test that reads it
        while True:  # until a signal: SIGKILL ends the process here, the others are the run's to handle
            try:
                control.check_signal()
            except control.Interrupted:
                return
            time.sleep(0.01)

    runner.Run.save_checkpoint = save_and_hold


def _resolve_as_on(name: str, capability: str) -> None:
    from benchmarks.train import backends

    described = {"kind": "gpu", "name": name, "count": 1, "memory": None,
                 "capability": tuple(int(p) for p in capability.split("."))}
    resolve, real = backends.resolve_precision, backends.accelerator

    def resolve_as_on_the_gpu(precision, jit):
        backends.accelerator = lambda: described
        try:
            return resolve(precision, jit)
        finally:
            backends.accelerator = real

    backends.resolve_precision = resolve_as_on_the_gpu


def _with_test_setup(command):
    def run(args) -> int:
        import dataclasses

        from benchmarks.core import config
        from tests import helpers  # registers tiny-test (imports Keras, which the command has loaded)

        config.PRESETS["smoke"] = dataclasses.replace(config.PRESETS["smoke"], data=helpers.SMALL)
        if hold := os.environ.get(HOLD):
            step, marker, folder = (hold.split(":", 2) + [""])[:3]
            _hold_after_checkpoint(int(step), Path(marker), folder)
        if gpu := os.environ.get(GPU):
            _resolve_as_on(*gpu.rsplit(":", 1))
        return command(args)

    return run


def main() -> int:
    from benchmarks.cli import commands

    for verb in ("run", "tune"):
        commands.COMMANDS[verb] = _with_test_setup(commands.COMMANDS[verb])
    return commands.main()


if __name__ == "__main__":
    sys.exit(main())
