"""The GPU check, in one process: `speed` for the default suite in float32 and in mixed bf16 (XLA
on), then a short time-to-accuracy run on synthetic data, fed as arrays (the GPU machine has JAX
and no TensorFlow). Writes one JSON. Sized for under 5 minutes on one modern GPU.

    KERAS_BACKEND=jax python scripts/gpu_check.py --out gpu_check.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import keras  # noqa: E402
import numpy as np  # noqa: E402

from benchmarks import speed, synthetic  # noqa: E402
from benchmarks.config import DEFAULT_SUITE, RECIPES  # noqa: E402
from benchmarks.runner import compile_model  # noqa: E402


def time_to_accuracy(arch: str, seconds: float, precision: str, jit: bool, batch: int = 256) -> dict:
    """Train on synthetic 100-class data for `seconds`; val top-1 after each epoch, with time."""
    x, y, xv, yv = synthetic.make(100, 20_000, 2_000)
    x, xv = (a.astype(np.float32) / 255.0 - 0.5 for a in (x, xv))
    keras.mixed_precision.set_global_policy(precision)
    keras.utils.set_random_seed(0)
    model = compile_model(arch, 100, RECIPES["post"], jit=jit, learning_rate=1e-3)
    curve, trained = [], 0.0
    while trained < seconds:
        started = time.perf_counter()
        model.fit(x, y, batch_size=batch, epochs=1, verbose=0)
        trained += time.perf_counter() - started
        curve.append({"train_seconds": trained, "val_top1": float(model.evaluate(xv, yv, batch_size=1024,
                                                                                    verbose=0)[1])})
    keras.mixed_precision.set_global_policy("float32")
    return {"arch": arch, "precision": precision, "jit": jit, "curve": curve}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="gpu_check.json")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--archs", nargs="*", default=list(DEFAULT_SUITE))
    parser.add_argument("--tta-seconds", type=float, default=20.0)
    parser.add_argument("--batch-size", type=int, default=128)
    args = parser.parse_args()
    out = {"started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "speed": {}}
    for precision, jit in (("float32", False), ("float32", True), ("mixed_bfloat16", True)):
        config = speed.SpeedConfig(batch_size=args.batch_size, precision=precision, jit=jit, steps=args.steps,
                                   warmup=3, repeats=3, budget="30m")
        out["speed"][f"{precision}{'-xla' if jit else ''}"] = speed.run(args.archs, config)
        Path(args.out).write_text(json.dumps(out, indent=2))  # partial results survive a timeout
    out["time_to_accuracy"] = [time_to_accuracy(a, args.tta_seconds, "mixed_bfloat16", True)
                               for a in ("original", "resnet20")]
    Path(args.out).write_text(json.dumps(out, indent=2))
    print(json.dumps({k: [(r["arch"], round(r["train_images_per_second"])) for r in v["results"]]
                      for k, v in out["speed"].items()}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
