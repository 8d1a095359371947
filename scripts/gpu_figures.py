"""Collect the GPU check's figures into one JSON (and print the lines README's speed section takes).

    python scripts/gpu_figures.py OUT_DIR      # reads OUT_DIR/speed.json and OUT_DIR/results/
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.results import reading  # noqa: E402


def main(out_dir: str) -> int:
    out = Path(out_dir)
    speed = json.loads((out / "speed.json").read_text())
    runs, _ = reading.load(out / "results")
    figures = {
        "device": speed["device"], "backend": speed["backend"], "precision": speed["config"]["precision"],
        "jit": speed["config"]["jit"], "peak_tflops": speed["peak_tflops"],
        "host_images_per_second": speed["pipeline_images_per_second"],
        "speed": [{k: r[k] for k in ("arch", "train_images_per_second", "infer_images_per_second", "train_gflops",
                                     "train_peak_share", "verdict", "compile_seconds", "params", "mmacs")}
                  for r in speed["results"]],
        "runs": [{k: (None if v != v else v) for k, v in r.items()}  # NaN -> null
                 for r in runs[["arch", "status", "budget", "epochs", "steps", "train_seconds", "images_per_second",
                                "best_val_top1", "test_top1", "resume_count"]].to_dict("records")],
    }
    figures["input_bound"] = [r["arch"] for r in figures["speed"] if r["verdict"] == "input-bound"]
    figures["resumed"] = [r["arch"] for r in figures["runs"] if (r["resume_count"] or 0) > 0]
    (out / "gpu_check.json").write_text(json.dumps(figures, indent=2, default=str))
    print(f"{figures['device']} ({figures['backend']}, {figures['precision']}, XLA {figures['jit']}); "
          f"host side of the input path {figures['host_images_per_second']:,.0f} img/s")
    for r in figures["speed"]:
        share = "-" if r["train_peak_share"] is None else f"{100 * r['train_peak_share']:.1f}%"
        print(f"| {r['arch']} | {r['train_images_per_second']:,.0f} | {r['infer_images_per_second']:,.0f} | {share} "
              f"| {r['verdict']} |")
    for r in figures["runs"]:
        print(f"run {r['arch']}: {r['status']}, {r['steps']} steps, {r['images_per_second'] or 0:,.0f} img/s, "
              f"test top-1 {r['test_top1']}, resumed {r['resume_count']}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1] if len(sys.argv) > 1 else "gpu-check"))
