"""What a search found: the trial table (search.csv), the best trial as a record the runner can
train (best_hyperparameters.json), and which hyperparameters mattered (search.png)."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from architectures import original_space as space
from benchmarks.core.config import Budget, DataConfig
from benchmarks.core.storage import atomic_write, write_json
from benchmarks.results.tuned import best_path


def _keras_tuner_fatal():
    import keras_tuner as kt

    return kt.errors.FatalError


class SearchFailed(_keras_tuner_fatal()):
    """Trials failed (the message says how many and why); re-running the same command retries them.
    A keras-tuner FatalError, so that raised inside a trial it ends the search at once."""




def summarize(the_tuner, project: Path, results_dir: Path, data: DataConfig, arch: str, budget: Budget,
              tuner: str, recipe: str) -> dict[str, Any]:
    import pandas as pd

    rows = []
    for trial in the_tuner.oracle.trials.values():
        metrics = trial.metrics.metrics
        score = metrics["val_top1"].get_best_value() if "val_top1" in metrics else None
        seconds = metrics["train_seconds"].get_best_value() if "train_seconds" in metrics else None
        rows.append({"trial": trial.trial_id, "status": trial.status, "val_top1": score, "train_seconds": seconds,
                     **{k: v for k, v in trial.hyperparameters.values.items() if k in space.SEARCH_SPACE}})
    table = pd.DataFrame(rows).sort_values("val_top1", ascending=False, na_position="last")
    atomic_write(project / "search.csv", lambda f: f.write(table.to_csv(index=False)))
    done = table[table["status"] == "COMPLETED"]
    failed = [t for t in the_tuner.oracle.trials.values() if t.status in ("FAILED", "INVALID")]
    if done.empty:
        last = next((line for t in failed for line in reversed((t.message or "").splitlines()) if line.strip()), "")
        raise SearchFailed(f"no trial of {project} completed ({len(failed)} failed{', the last with ' + last if last else ''}); "
                           f"fix the cause and run the same command again: failed trials are retried")
    best = done.iloc[0]
    values = {k: _plain(best[k]) for k in space.SEARCH_SPACE}
    record = {"arch": arch, "variant": f"{arch}-tuned", "dataset": data.name, "tuner": tuner, "budget_per_trial": str(budget),
              "objective": "val_top1 (validation split; the test set is never used)",
              "score": float(best["val_top1"]), "hyperparameters": values,
              "builder": _jsonable(space.builder_options({k: v for k, v in values.items()
                                                            if k not in space.RECIPE_KEYS})),
              "recipe": {"name": recipe, **{k: values[k] for k in space.RECIPE_KEYS}},
              "trials": int(len(done)), "failed_trials": len(failed),
              "compute_seconds": float(done["train_seconds"].sum()), "search": str(project)}
    write_json(project / "best_hyperparameters.json", record)
    write_json(best_path(results_dir, data.name, arch), record)
    _figure(done, project)
    return record


def _plain(value):
    return value.item() if hasattr(value, "item") else value


def _jsonable(options: dict) -> dict:
    return {k: [list(b) for b in v] if k == "filters" else v for k, v in options.items()}


def influence(done) -> list[str]:
    """Hyperparameters ordered by the share of score variance their values explain (eta squared)."""
    total = statistics.pvariance(done["val_top1"]) if len(done) > 1 else 0.0
    shares = {}
    for name in space.SEARCH_SPACE:
        if done[name].nunique() < 2 or total == 0:
            continue
        means = done.groupby(name)["val_top1"].transform("mean")
        shares[name] = statistics.pvariance(means) / total
    return sorted(shares, key=shares.get, reverse=True)


def _figure(done, project: Path) -> None:
    from benchmarks.report.style import pyplot, save_png

    top = influence(done)[:2]
    if not top:
        return
    plt, sns = pyplot()
    fig, axes = plt.subplots(1, len(top), figsize=(6 * len(top), 4.2), squeeze=False)
    for ax, name in zip(axes[0], top):
        sns.stripplot(data=done.assign(score=100 * done["val_top1"], value=done[name].astype(str)),
                      x="value", y="score", ax=ax, size=8)
        ax.set(xlabel=name, ylabel="best val top-1 (%)", title=f"search: score by {name}")
    fig.tight_layout()
    save_png(fig, project / "search.png")


