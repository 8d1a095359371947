"""The command line's grammar: every verb, its flags and their help. `commands` runs what it parses."""

from __future__ import annotations

import argparse

from benchmarks.core.budget import Budget, parse_sweep
from benchmarks.core.config import AUGMENTATIONS, DATASETS, PRECISIONS, PRESETS, RECIPES, STRATEGIES
from benchmarks.core.errors import ConfigError
from benchmarks.train import backends


def _budget(text: str):
    """--budget of `speed` and `tune`: one budget, parsed once, here (a malformed one is one line)."""
    try:
        return Budget.parse(text)
    except ConfigError as error:
        raise argparse.ArgumentTypeError(str(error))


def _sweep(text: str):
    """--budget of `run`: one budget or a sweep ('5m,15m,1h')."""
    try:
        return parse_sweep(text)
    except ConfigError as error:
        raise argparse.ArgumentTypeError(str(error))


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2 (argparse prints the whole usage)
        self.exit(2, f"{self.prog}: error: {message}\n")


def _list(sub):
    p = sub.add_parser("list", help="the registered architectures, with measured sizes")
    p.add_argument("--num-classes", type=int, default=100, help="head size (default 100)")
    p.add_argument("--format", choices=("markdown", "csv", "json"), default="markdown")
    p.set_defaults(func="list")


def _run(sub):
    p = sub.add_parser("run", help="train architectures under one budget (resumes by default)")
    p.add_argument("archs", nargs="*", metavar="ARCH", help="architectures (see `list`)")
    p.add_argument("--all", action="store_true", help="the preset's whole suite")
    p.add_argument("--preset", default="quick", help=f"one of {', '.join(PRESETS)} (default quick)")
    p.add_argument("--recipe", help=f"one of {', '.join(RECIPES)} (default: the preset's)")
    p.add_argument("--budget", type=_sweep, help="50epochs, 20000steps, 5e6images, 5pflop, 90s, 30m, 2h, or a sweep: "
                                    "5m,15m,1h (default: the preset's)")
    seeds = p.add_mutually_exclusive_group()
    seeds.add_argument("--seeds", type=int, help="run seeds 0..N-1")
    seeds.add_argument("--seed", type=int, help="run this one seed (default 0)")
    p.add_argument("--dataset", choices=DATASETS)
    p.add_argument("--data-dir", help="folder with the dataset: CIFAR archives, image folders "
                                      "(train/<class>/, test/<class>/) or tfds data")
    p.add_argument("--labels", choices=("fine", "coarse"), help="cifar100: fine (100) or coarse (20)")
    p.add_argument("--val-split", dest="val_size", type=int, help="held-out training images (default 5000)")
    p.add_argument("--select-on", choices=("val", "test"), help="test: the post's protocol (flagged)")
    p.add_argument("--augment", choices=AUGMENTATIONS, help="default: the recipe's")
    p.add_argument("--batch-size", type=int, help="default: the recipe's")
    p.add_argument("--lr", type=float, dest="learning_rate",
                   help="the recipe's peak learning rate at its reference batch (paper: 0.1 at 128, scaled with "
                        "--batch-size); part of the run's identity")
    p.add_argument("--warmup", type=float, help="share of the budget warming up linearly (paper: 0.02)")
    p.add_argument("--weight-decay", type=float, help="the papers' decay wd (paper: 5e-4; the post: 0)")
    p.add_argument("--train-eval-size", type=int, help="train subset for the honest gap (default 5000)")
    p.add_argument("--results-dir", default="results")
    p.add_argument("--precision", choices=(*PRECISIONS, "auto"),
                   help="default: the preset's (reference: float32), else auto: mixed_bfloat16 on GPUs and on "
                        "TensorFlow on CPUs with bf16 (AVX512_BF16, AMX), mixed_float16 on older GPUs, else float32")
    p.add_argument("--jit", action=argparse.BooleanOptionalAction, default=None,
                   help="XLA (default: on for JAX and for TensorFlow on GPUs)")
    _backend_flag(p)
    p.add_argument("--strategy", choices=STRATEGIES, default="default")
    p.add_argument("--shard", help="I/N: this worker's interleaved share of the run matrix")
    p.add_argument("--restart", action="store_true", help="start over; the old run is moved aside")
    p.add_argument("--checkpoint-every", type=float, default=10.0, help="minutes (default 10)")
    p.add_argument("--train-eval-every", type=int, default=0, help="epochs (default 0: at the end)")
    p.add_argument("--hparams", help="builder options: a JSON file (e.g. a tuner's best) or inline JSON")
    p.add_argument("--deterministic", action="store_true",
                   help="bitwise-repeatable runs (one CPU thread per op; slower)")
    verbosity = p.add_mutually_exclusive_group()
    verbosity.add_argument("--quiet", action="store_true")
    verbosity.add_argument("--verbose", action="store_true")
    p.set_defaults(func="run")


def _backend_flag(p) -> None:
    p.add_argument("--backend", choices=backends.BACKENDS, help="Keras backend (default: $KERAS_BACKEND, else tensorflow)")


def _report(sub):
    p = sub.add_parser("report", help="markdown/HTML tables and figures from the results folder")
    p.add_argument("--results-dir", default="results")
    p.add_argument("--out", default="reports", help="output folder (default reports/)")
    p.add_argument("--format", choices=("md", "html"), default="md")
    p.set_defaults(func="report")


def _compare(sub):
    p = sub.add_parser("compare", help="architectures side by side, with the difference's 95%% interval")
    p.add_argument("archs", nargs="+", metavar="ARCH", help="two or more; each is compared with the first")
    p.add_argument("--results-dir", default="results")
    p.add_argument("--out", default="reports")
    p.add_argument("--metric", default="test_top1", help="the metric of the verdict (default test_top1)")
    p.set_defaults(func="compare")


def _tune(sub):
    p = sub.add_parser("tune", help="keras-tuner search over the original model's design space")
    p.add_argument("arch", metavar="ARCH", help="the architecture to tune (original)")
    p.add_argument("--tuner", choices=("hyperband", "bayesian", "random"), default="bayesian")
    p.add_argument("--max-trials", type=int, default=20)
    p.add_argument("--budget", type=_budget, default="15m", help="per trial, as the runner's budgets (default 15m)")
    p.add_argument("--recipe", default="post", help="base recipe; lr and batch size are tuned (default post)")
    p.add_argument("--dataset", choices=DATASETS, default="cifar100")
    p.add_argument("--data-dir")
    p.add_argument("--val-split", dest="val_size", type=int, help="held-out images (default 5000; synthetic 500)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--results-dir", default="results")
    p.add_argument("--quiet", action="store_true")
    _backend_flag(p)
    p.set_defaults(func="tune")


def _speed(sub):
    p = sub.add_parser("speed", help="training/inference throughput per architecture, and the pipeline's")
    p.add_argument("archs", nargs="*", metavar="ARCH")
    p.add_argument("--all", action="store_true", help="the default suite")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--precision", choices=(*PRECISIONS, "auto"), default="auto",
                   help="auto: mixed_bfloat16 on GPUs and on TensorFlow on CPUs with bf16 (AVX512_BF16, AMX), "
                        "mixed_float16 on older GPUs, else float32")
    p.add_argument("--jit", action=argparse.BooleanOptionalAction, default=None, help="XLA (default: auto)")
    p.add_argument("--steps", type=int, default=20, help="timed steps per repeat")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps (compile time reported apart)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--budget", type=_budget, help="e.g. 30m: how many epochs each architecture would get")
    p.add_argument("--dataset", choices=DATASETS, help="train on this dataset's training split (default: random "
                                                        "pixels of CIFAR-100's size)")
    p.add_argument("--data-dir", help="folder with the dataset: archives, image folders or tfds data")
    p.add_argument("--peak-tflops", type=float, help="the device's peak, if not in the built-in table")
    p.add_argument("--json", help="also write the results as JSON to this file ('-': stdout only)")
    _backend_flag(p)
    p.set_defaults(func="speed")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="archbench", description="Which CNN should I train on CIFAR-100, given the same compute?")
    sub = parser.add_subparsers(dest="verb", required=True, metavar="VERB", parser_class=_Parser)
    for add in (_list, _run, _report, _compare, _speed, _tune):
        add(sub)
    return parser
