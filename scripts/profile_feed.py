"""Where a training step's time goes, by TensorFlow op, with 1,000 and 500,000 images on the
device: TensorFlow's profiler (`tf.profiler.experimental`) traces a few ResNet-20 steps, and its
XSpace (the .xplane.pb it writes) is summed here by op name, so no TensorBoard plugin is needed.
Prints each size's top ops and the ops that touch the pixel table. (Issue 18; on JAX, XLA's dump
shows the same thing: see README, "At the real size".)

    python scripts/profile_feed.py [OUT_DIR]
"""

import collections
import pathlib
import sys
import tempfile

import numpy as np
import tensorflow as tf
from tensorflow.tsl.profiler.protobuf import xplane_pb2

from benchmarks.core.config import RECIPES
from benchmarks.data import feed
from benchmarks.train import models

out = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp())
for n in (1_000, 500_000):
    pixels = np.random.default_rng(0).integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
    model = models.compile_model("resnet20", 100, RECIPES["paper"], pixels=pixels, mean=(0.5,) * 3, std=(0.25,) * 3,
                                 jit=False, learning_rate=1e-3)
    plan = feed.epoch_plan(np.random.default_rng(1).integers(0, n, 8 * 128), 0, 0, 128, "standard", (32, 32))
    arguments = feed.fit_arguments(feed.model_inputs(plan), np.zeros(8 * 128, int), 128)
    model.fit(**arguments, epochs=1, verbose=0)  # tracing
    tf.profiler.experimental.start(str(out / f"table-{n}"))
    model.fit(**arguments, epochs=1, verbose=0)
    tf.profiler.experimental.stop()
    space = xplane_pb2.XSpace()
    space.ParseFromString(next((out / f"table-{n}").rglob("*.xplane.pb")).read_bytes())
    total = collections.Counter()
    for plane in space.planes:
        names = {k: m.name for k, m in plane.event_metadata.items()}
        for line in plane.lines:
            if "TraceMe" in line.name or "tf_Compute" in line.name or "Op" in line.name:
                for event in line.events:
                    total[names.get(event.metadata_id, "?")] += event.duration_ps / 1e9  # ms
    print(f"\n{n:,} images on the device: top ops over 8 steps (ms, summed over threads)")
    for name, ms in total.most_common(4):
        print(f"  {ms:9.1f}  {name[:90]}")
    feed_ms = sum(v for k, v in total.items() if "device_images" in k and "gradient_tape" not in k)
    read_ms = sum(v for k, v in total.items() if "device_images" in k and "ReadVariableOp" in k)
    print(f"  the device_images layer (gather, crop, flip, normalise, cutout): {feed_ms:.1f} ms, of which reading "
          f"the table variable {read_ms:.2f} ms; all executor work {total['ExecutorState::Process']:.0f} ms")
