"""The command line: parse, call, print. Every verb has --help; bad input exits 2 in one line."""

from __future__ import annotations

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow is imported

from benchmarks.cli.options import build_parser  # noqa: E402
from benchmarks.core.config import PRESETS, ConfigError  # noqa: E402
from benchmarks.train import backends  # noqa: E402


def cmd_list(args) -> int:
    from benchmarks.cli.listing import render, zoo_table

    if not 2 <= args.num_classes <= 100_000:  # a dense head of more would not fit in memory (vgg: 512 x N)
        raise ConfigError(f"--num-classes must be in 2..100000, got {args.num_classes}")
    print(render(zoo_table(args.num_classes), args.format))
    return 0


def cmd_run(args) -> int:
    from pathlib import Path

    from benchmarks.train import control, matrix, preflight, suite

    seeds = range(args.seeds) if args.seeds is not None else [args.seed or 0]  # each seed checked by DataConfig
    if args.seeds is not None and not 1 <= args.seeds <= 1000:
        raise ConfigError(f"--seeds must be in 1..1000, got {args.seeds}")
    data_flags = {k: getattr(args, k) for k in matrix.DATA_FLAGS}
    _outside_data(Path(args.results_dir), args.data_dir, "--results-dir")
    if args.restart:
        _check_restart_folder(Path(args.results_dir))
    backends.configure_runtime(args.deterministic)
    strategy, chief = backends.make_strategy(args.strategy)  # JAX's multi-host runtime starts before its devices
    asked = matrix.precision_asked(args.precision, args.preset)
    precision, jit = backends.resolve_precision(asked, args.jit)
    run_flags = {"precision": precision, "jit": jit, "strategy": args.strategy, "backend": backends.current(),
                 "checkpoint_every_minutes": args.checkpoint_every, "train_eval_every": args.train_eval_every,
                 "deterministic": args.deterministic}
    tuned_file = args.hparams if any(a.endswith("-tuned") for a in args.archs) else None
    if args.hparams and not tuned_file:
        run_flags["hparams"] = matrix.load_hparams(args.hparams)
    configs, note = matrix.configs(args.archs, all_=args.all, preset=args.preset, seeds=list(seeds),
                              budget=args.budget, recipe=args.recipe, data_flags=data_flags, run_flags=run_flags,
                              results_dir=args.results_dir, tuned_file=tuned_file,
                              recipe_flags={k: getattr(args, k) for k in matrix.RECIPE_FLAGS})
    if args.strategy == "multi-worker" and any(c.budget.kind == "seconds" for c in configs):
        raise ConfigError("--strategy multi-worker needs a step-like budget (epochs, steps, images): processes "
                          "would each read their own clock and stop at different steps")
    if args.shard is not None:
        configs = matrix.shard(configs, *matrix.parse_shard(args.shard))
    configs = preflight.prepare(configs)  # the data and every model checked before anything is written
    results_dir = Path(args.results_dir)
    _check_writable(results_dir)
    if note and not args.quiet:
        print(f"note: {note}")
    cpu_auto_bf16 = asked == "auto" and backends.accelerator()["kind"] == "cpu"  # before issue 29: float32
    if cpu_auto_bf16 and (twins := matrix.unfinished_float32_twins(configs, results_dir)):
        print(f"note: auto trains in mixed_bfloat16 on this CPU (bf16 instructions: {', '.join(backends.cpu_bf16())}); "
              f"{len(twins)} unfinished float32 run(s) of these settings stay as they are, and "
              f"--precision float32 resumes them (first: {twins[0]})", file=sys.stderr)
    control.install_signal_handlers()
    verbose = 0 if args.quiet else (2 if args.verbose else 1)
    try:
        rows = suite.run_all(configs, results_dir, restart=args.restart, strategy=strategy, chief=chief,
                             verbose=verbose)
    except control.Interrupted as stopped:
        if stopped.at_once:  # a second Ctrl-C: leave now; tearing down with work in flight can crash (JAX)
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(128 + stopped.signum)
        return 128 + stopped.signum
    _print_table(rows)
    failed = [r for r in rows if r["status"] == "failed"]
    if failed:
        names = "; ".join(f"{r['arch']} ({r['recipe']}) seed {r['seed']}: {r['error']}" for r in failed)
        print(f"archbench run: {len(failed)} of {len(rows)} runs failed: {names}", file=sys.stderr)
    return 1 if failed else 0


def cmd_report(args) -> int:
    from pathlib import Path

    from benchmarks.report import document

    _check_results_dir(Path(args.results_dir))
    try:  # a read-only or full --out; unreadable results are warnings, not errors
        path = document.write(Path(args.results_dir), Path(args.out), args.format)
    except OSError as error:
        raise ConfigError(f"cannot write the report to {error.filename or args.out} ({error.strerror or error})")
    print(f"wrote {path}")
    return 0


def cmd_compare(args) -> int:
    from pathlib import Path

    from benchmarks.report import compare

    _check_results_dir(Path(args.results_dir))
    try:
        text, path = compare.run(args.archs, Path(args.results_dir), Path(args.out), args.metric)
    except OSError as error:
        raise ConfigError(f"cannot write the comparison to {error.filename or args.out} ({error.strerror or error})")
    print(text)
    print(f"wrote {path}")
    return 0


def cmd_tune(args) -> int:
    import dataclasses
    from pathlib import Path

    from benchmarks.core.config import DataConfig
    from benchmarks.results import tuned
    from benchmarks.train import control
    from benchmarks.tune import engine, findings

    if args.val_size == 0:  # the post's protocol (select on test) has no place in a search
        raise ConfigError("--val-split must be > 0: tune selects on the validation split, never on test")
    base = PRESETS["smoke"].data if args.dataset == "synthetic" else DataConfig()
    data = dataclasses.replace(base, dataset=args.dataset, data_dir=args.data_dir, seed=args.seed,
                               val_size=base.val_size if args.val_size is None else args.val_size)
    budget = args.budget  # parsed by the command line's grammar
    _outside_data(Path(args.results_dir), args.data_dir, "--results-dir")
    _check_writable(Path(args.results_dir))
    control.install_signal_handlers()
    try:  # options and data are checked before the search folder exists (ConfigError: exit 2)
        best = engine.search(args.arch, tuner=args.tuner, max_trials=args.max_trials, budget=budget, data=data,
                           recipe=args.recipe, results_dir=Path(args.results_dir),
                           log=(lambda *_: None) if args.quiet else print)
    except control.Interrupted as stopped:
        print(f"tune: {stopped} received; the trial's checkpoint is written. Run the same command to continue.")
        return 128 + stopped.signum
    except findings.SearchFailed as failed:
        print(f"archbench tune: error: {failed}", file=sys.stderr)
        return 1
    if best.get("role") == "worker":
        print(f"worker done: the chief's search in {best['search']} has no trials left")
        return 0
    print(f"best of {best['trials']} trials: val top-1 {best['score']:.2%}; "
          f"{best['compute_seconds']:.0f}s of training in all")
    if best.get("failed_trials"):
        print(f"warning: {best['failed_trials']} trial(s) failed (see {best['search']}); "
              f"run the same command again to retry them", file=sys.stderr)
    print(f"wrote {tuned.best_path(Path(args.results_dir), data.name, args.arch)}; "
          f"train it with: python -m benchmarks run {args.arch}-tuned --dataset {args.dataset}")
    return 0


def cmd_speed(args) -> int:
    import json

    from benchmarks.core.config import DEFAULT_SUITE
    from benchmarks.train import matrix, speed

    if not args.archs and not args.all:
        raise ConfigError("name at least one architecture, or --all for the default suite")
    for name, value in (("--batch-size", args.batch_size), ("--steps", args.steps), ("--repeats", args.repeats),
                        ("--warmup", args.warmup)):
        if value < 1:
            raise ConfigError(f"{name} must be >= 1, got {value}")
    if args.peak_tflops is not None and not 0 < args.peak_tflops < float("inf"):
        raise ConfigError(f"--peak-tflops must be a positive number, got {args.peak_tflops}")
    if args.json not in (None, "-"):
        _check_json_target(args.json)  # before minutes of measuring, not after
    archs = list(DEFAULT_SUITE) if args.all else list(dict.fromkeys(matrix.check_arch(a) for a in args.archs))
    config = speed.SpeedConfig(batch_size=args.batch_size, precision=args.precision, jit=args.jit,
                               steps=args.steps, warmup=args.warmup, repeats=args.repeats, budget=args.budget,
                               peak_tflops=args.peak_tflops, dataset=args.dataset, data_dir=args.data_dir)
    quiet = args.json == "-"
    measured = speed.run(archs, config, log=(lambda *_: None) if quiet else print)
    if quiet:
        print(json.dumps(measured, indent=2))
        return 0
    print(f"device: {speed.describe(measured)}, input pipeline {measured['pipeline_images_per_second'] or 0:,.0f} img/s")
    print(speed.table(measured).to_markdown(index=False))
    if args.json:
        from pathlib import Path

        from benchmarks.core.storage import write_json

        try:
            write_json(Path(args.json), measured)
        except OSError as error:
            raise ConfigError(f"cannot write --json {args.json} ({error.strerror or error})")
        print(f"wrote {args.json}")
    return 0


def _check_json_target(path: str) -> None:
    """--json names a regular file or a new one, in a folder that exists and is writable: a folder,
    a link, a device node or a FIFO is refused before minutes of measuring, never replaced."""
    from pathlib import Path

    from benchmarks.core.storage import check_target

    target = Path(path)
    folder = target.parent
    try:
        check_target(target, "--json")
    except OSError as error:
        raise ConfigError(str(error))
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        raise ConfigError(f"--json {path} is in a folder that does not exist or is not writable: give a file path "
                          f"such as speed.json")


def _outside_data(folder, data_dir: str | None, flag: str) -> None:
    """An output folder inside the data tree is refused: its files would be read as images, or as
    class folders, by the next run on that data."""
    from pathlib import Path

    if not data_dir:
        return
    data, out = Path(data_dir).resolve(), Path(folder).resolve()
    if out == data or data in out.parents:
        raise ConfigError(f"{flag} {folder} is inside the data folder {data_dir}: keep results outside the data")


def _check_restart_folder(results_dir) -> None:
    """--restart moves old runs under `.restarted/`: it must be a folder, or not exist yet."""
    aside = results_dir / ".restarted"
    if os.path.lexists(aside) and (os.path.islink(aside) or not aside.is_dir()):
        raise ConfigError(f"{aside} is not a folder: --restart moves old runs there; move it away first")


def _check_results_dir(folder) -> None:
    if not folder.is_dir():
        raise ConfigError(f"results folder {folder} does not exist: run `python -m benchmarks run ...` first")


def _check_writable(folder) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write-test-{os.getpid()}"  # several processes may probe at once
        probe.write_text("")
        probe.unlink()
    except OSError as error:
        raise ConfigError(f"results folder {folder} is not writable ({error.strerror or error})")


def _print_table(rows) -> None:
    import pandas as pd

    if not rows:
        print("nothing to run (this shard is empty)")
        return
    table = pd.DataFrame(rows).drop(columns=["error"], errors="ignore")  # errors: one line on stderr
    for column in ("best val top-1", "test top-1"):
        table[column] = table[column].map(lambda v: "" if v is None or v != v else f"{v:.1%}")
    print(table.to_markdown(index=False))


def _data_first(args) -> None:
    """A dataset that is nowhere here is one line in a second or two, not after TensorFlow loads (a
    malformed budget was said before, by the grammar; the other checks need the registry and come after)."""
    from benchmarks.data import sources

    dataset = getattr(args, "dataset", None)
    if args.verb == "run" and dataset is None and args.preset in PRESETS:
        dataset = PRESETS[args.preset].data.dataset
    if args.verb in ("run", "speed", "tune") and dataset is not None:
        sources.fail_fast(dataset, args.data_dir)


READERS = ("report", "compare")  # read a results folder, train nothing
COMMANDS = {"list": cmd_list, "run": cmd_run, "report": cmd_report, "compare": cmd_compare, "tune": cmd_tune,
            "speed": cmd_speed}


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if hasattr(args, "backend"):  # before anything imports Keras
            backends.select(args.backend)
            backends.jax_flags(getattr(args, "deterministic", False))
        if getattr(args, "verbose", False):  # TensorFlow's own notices too
            os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0"
        _data_first(args)
        if args.verb not in READERS:  # the readers import no framework (an import-linter contract holds it)
            backends.import_tensorflow_quietly(trains=hasattr(args, "backend"))
        return COMMANDS[args.func](args)
    except ConfigError as error:
        print(f"archbench {args.verb}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl-C before control.install_signal_handlers() ran
        print(f"archbench {args.verb}: interrupted", file=sys.stderr)
        return 130
