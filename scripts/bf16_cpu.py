"""float32 against mixed bfloat16 on this machine's CPU, side by side: `speed`'s measurement of each
reference architecture, the two precisions interleaved round by round in one process (same table
of 50,000 images on the device, same data order), so a drift of the machine's load falls on both.

    python scripts/bf16_cpu.py [--rounds 2] [--steps 15] [--json out.json] [ARCH ...]

Prints one markdown row per (architecture, precision): train and inference images/s, the median
of every round's median, with the range over rounds, and bf16's ratio to float32.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

REFERENCE_ROWS = ("original", "vgg16", "resnet20", "wrn-16-4")
PRECISIONS = ("float32", "mixed_bfloat16")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("archs", nargs="*", default=list(REFERENCE_ROWS))
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--steps", type=int, default=15)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--json", help="also write every measurement here")
    args = parser.parse_args()

    from benchmarks.train import backends, speed

    base = speed.SpeedConfig(batch_size=args.batch_size, steps=args.steps, repeats=args.repeats, jit=False)
    images = speed.pool(base)
    measured = {(a, p): [] for a in args.archs for p in PRECISIONS}
    for round_ in range(args.rounds):
        for arch in args.archs:
            order = PRECISIONS if round_ % 2 == 0 else PRECISIONS[::-1]  # neither always goes first
            for precision in order:
                row = speed.measure(arch, speed.resolve(speed.SpeedConfig(**{**vars(base), "precision": precision})), images)
                measured[(arch, precision)].append(row)
                print(f"round {round_ + 1}: {arch} {precision}: {row['train_images_per_second']:,.0f} train, "
                      f"{row['infer_images_per_second']:,.0f} inference img/s", file=sys.stderr, flush=True)
    print(f"device: {backends.device()}, {args.rounds} rounds x {args.repeats} repeats x {args.steps} steps, "
          f"batch {args.batch_size}, no XLA (TensorFlow's CPU default)\n")
    print(table(measured, args.archs))
    if args.json:
        Path(args.json).write_text(json.dumps({f"{a} {p}": rows for (a, p), rows in measured.items()}, indent=1))
    return 0


def table(measured: dict, archs) -> str:
    lines = ["| architecture | precision | train img/s | inference img/s | train bf16/f32 | inference bf16/f32 |",
             "|:---|:---|---:|---:|---:|---:|"]
    for arch in archs:
        medians = {}
        for precision in PRECISIONS:
            rows = measured[(arch, precision)]
            train = [r["train_images_per_second"] for r in rows]
            infer = [r["infer_images_per_second"] for r in rows]
            medians[precision] = statistics.median(train), statistics.median(infer)
            ratio = ("", "") if precision == "float32" else tuple(
                f"{medians[precision][i] / medians['float32'][i]:.2f}x" for i in (0, 1))
            lines.append(f"| {arch} | {precision} | {medians[precision][0]:,.0f} [{min(train):,.0f}-{max(train):,.0f}] | "
                         f"{medians[precision][1]:,.0f} [{min(infer):,.0f}-{max(infer):,.0f}] | {ratio[0]} | {ratio[1]} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
