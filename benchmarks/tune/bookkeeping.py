"""Keeping a search's trials whole across kills and failures: keras-tuner reloads its project from
trial.json files and the oracle's state, and one torn file or one failed trial would otherwise
break or shrink every later run of the same search."""

from __future__ import annotations

import os
from pathlib import Path

from architectures import original_space as space
from benchmarks.core import compat
from benchmarks.core.errors import ConfigError
from benchmarks.core.storage import read_json, write_json


def hyperparameters():
    import keras_tuner as kt

    hp = kt.HyperParameters()
    for name, (values, default) in space.SEARCH_SPACE.items():
        if all(isinstance(v, bool) for v in values):
            hp.Boolean(name, default=default)
        else:
            hp.Choice(name, list(values), default=default, ordered=not isinstance(default, str))
    return hp


def repair(project: Path, log=print) -> list[str]:
    """Rebuild trials whose trial.json is unreadable or of the wrong shape (a half-written file, or
    one edited by hand, would break keras-tuner's reload). Each trial's values are also kept in our
    own hyperparameters.json, written atomically before it trains: with it the trial is rebuilt and
    queued for retry (a finished run is then only re-read); without it (or with one of the wrong
    shape) the trial never trained and is rebuilt as FAILED, keeping its id taken. The broken file
    is moved beside as trial.json.broken. An oracle.json of the wrong shape is one line (ConfigError).
    Returns the ids rebuilt."""
    Trial, TrialStatus = compat.keras_tuner_trial_types()

    oracle_file = project / "oracle.json"
    oracle = _object(oracle_file) if os.path.lexists(oracle_file) else {}
    if oracle is None:
        raise ConfigError(f"{oracle_file} is not a keras-tuner oracle's state (unreadable, or not a JSON object): "
                          f"move the search folder {project} away to start the search afresh")
    rebuilt = []
    for path in sorted(project.glob("trial_*/trial.json")):
        if _is_trial(_object(path)):
            continue
        trial_id = path.parent.name.removeprefix("trial_")
        os.replace(path, path.with_name("trial.json.broken"))
        hp = hyperparameters()
        values = _object(path.with_name("hyperparameters.json"))
        if values is not None and set(values) <= set(hp.values):
            hp.values.update(values)
            status = TrialStatus.RUNNING
        else:
            status = TrialStatus.FAILED
        write_json(path, Trial(hp, trial_id=trial_id, status=status).get_state())
        rebuilt.append(trial_id)
        log(f"warning: trial {trial_id} had an unreadable or malformed trial.json (kept as trial.json.broken); "
            f"rebuilt ({status})")
    if rebuilt and oracle:
        running = [t for t in rebuilt if read_json(project / f"trial_{t}" / "trial.json")["status"] == "RUNNING"]
        write_json(oracle_file, compat.keras_tuner_retry(oracle, running))
    return rebuilt


def _object(path: Path) -> dict | None:
    """A JSON object from `path`, or None when it cannot be read or is not an object."""
    try:
        value = read_json(path)
    except (OSError, ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _is_trial(state: dict | None) -> bool:
    """Whether `state` has what keras-tuner's reload reads of a trial."""
    return (isinstance(state, dict) and isinstance(state.get("trial_id"), str) and isinstance(state.get("status"), str)
            and isinstance(state.get("hyperparameters"), dict) and isinstance(state["hyperparameters"].get("values"), dict))


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
