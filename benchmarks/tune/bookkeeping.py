"""Keeping a search's trials whole across kills and failures: keras-tuner reloads its project from
trial.json files and the oracle's state, and one torn file or one failed trial would otherwise
break or shrink every later run of the same search."""

from __future__ import annotations

import shutil
from pathlib import Path

from architectures import original
from benchmarks.core import compat
from benchmarks.core.storage import read_json, write_json


def hyperparameters():
    import keras_tuner as kt

    hp = kt.HyperParameters()
    for name, (values, default) in original.SEARCH_SPACE.items():
        if all(isinstance(v, bool) for v in values):
            hp.Boolean(name, default=default)
        else:
            hp.Choice(name, list(values), default=default, ordered=not isinstance(default, str))
    return hp


def repair(project: Path, log=print) -> list[str]:
    """Rebuild trials whose trial.json is unreadable (a half-written file would break keras-tuner's
    reload). Each trial's values are also kept in our own hyperparameters.json, written
    atomically before it trains: with it the trial is rebuilt and queued for retry (a finished run
    is then only re-read); without it the trial never trained and is rebuilt as FAILED, keeping
    its id taken. The broken file is kept beside as trial.json.broken. Returns the ids rebuilt."""
    Trial, TrialStatus = compat.keras_tuner_trial_types()

    rebuilt = []
    for path in sorted(project.glob("trial_*/trial.json")):
        try:
            read_json(path)
            continue
        except (OSError, ValueError):
            pass
        trial_id = path.parent.name.removeprefix("trial_")
        shutil.copyfile(path, path.with_name("trial.json.broken"))
        hp = hyperparameters()
        try:
            hp.values.update(read_json(path.with_name("hyperparameters.json")))
            status = TrialStatus.RUNNING
        except (OSError, ValueError):
            status = TrialStatus.FAILED
        write_json(path, Trial(hp, trial_id=trial_id, status=status).get_state())
        rebuilt.append(trial_id)
        log(f"warning: trial {trial_id} had a half-written trial.json; rebuilt ({status})")
    oracle_file = project / "oracle.json"
    if rebuilt and oracle_file.exists():
        running = [t for t in rebuilt if read_json(project / f"trial_{t}" / "trial.json")["status"] == "RUNNING"]
        write_json(oracle_file, compat.keras_tuner_retry(read_json(oracle_file), running))
    return rebuilt


def requeue_failed(project: Path, log=print) -> list[str]:
    """Send trials that failed back for retry: a failure is a fault to fix (data, memory, a bug),
    not a result, so it must not count against --max-trials for ever and leave the search with
    "no trial completed". Trials rebuilt by repair() without values never trained: kept as they
    are. Returns the ids sent back."""
    oracle_file = project / "oracle.json"
    if not oracle_file.exists():
        return []
    failed = {}
    for path in sorted(project.glob("trial_*/trial.json")):
        trial = read_json(path)
        if trial.get("status") in ("FAILED", "INVALID") and path.with_name("hyperparameters.json").exists():
            failed[trial["trial_id"]] = (path, trial)
    if not failed:
        return []
    # The oracle first: killed in between, the trials still read FAILED and are found again.
    write_json(oracle_file, compat.keras_tuner_retry(read_json(oracle_file), list(failed), unend=True))
    for path, trial in failed.values():
        write_json(path, {**trial, "status": "RUNNING"})
    log(f"retrying {len(failed)} failed trial(s): {', '.join(failed)}")
    return list(failed)
