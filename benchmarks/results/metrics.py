"""Every metric of a run, declared once: the summary.json field it lives in, its JSON types and
meaning (the schema and the README read them), how `reading.load` types its column, how the report
and `compare` show it, and which direction is better (the report's bold marks, compare's verdicts).

Adding a metric is one entry in METRICS plus its computation in the runner's summary record.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from benchmarks.core.units import format_duration

_NUM = (int, float)
_NULL = (type(None),)
_PERCENT = ("%", "pts")  # stored as fractions, shown x100
_SI = {"FLOPs": "FLOP"}  # shown with an SI prefix: 1.2 PFLOP
_SUFFIX = {"%": "%", "count": "", "": ""}  # any other unit follows its number after a space


@dataclasses.dataclass(frozen=True)
class Metric:
    name: str  # reading.load's column and compare's --metric; the summary field unless `path` is given
    label: str  # for a person: compare's rows and verdicts
    unit: str  # of a value: %, pts (percentage points), s, img/s, FLOPs, MMACs, epochs, count
    higher_is_better: bool | None  # None: describes the run or the model, neither side is "better"
    meaning: str  # the summary field's meaning (SUMMARY_SCHEMA, the README's field table)
    types: tuple[type, ...] = _NUM + _NULL  # JSON types the summary may hold
    path: tuple[str, ...] = ()  # where a nested value lives in summary.json; () for the field `name`
    decimals: int = 0
    column: str = ""  # header in the report's main table ('' : the label, with ' %' for a % unit)
    better: str = ""  # the verdict's phrase for the better side ('' : "has the higher <label>")
    shown: bool = False  # a column of the report's main table and a row of compare
    per_model: bool = False  # a property of the model, the same for every seed: shown even with no complete seed
    spread: bool = False  # the report shows mean ± std (n=k)
    absent: str = ""  # what the report says when some complete seed lacks it ('' : "-")
    optional: bool = False  # a summary may lack it (written before it existed): read as missing, shown "-"
    timed: bool = False  # a time or a speed: a property of the device, never averaged over seeds of two devices

    @property
    def header(self) -> str:
        return self.column or self.label + (" %" if self.unit == "%" else "")

    @property
    def phrase(self) -> str:
        if self.higher_is_better is None:
            return ""
        return self.better or f"has the {'higher' if self.higher_is_better else 'lower'} {self.label}"

    @property
    def dtype(self) -> str | None:
        return dtype(self.types)

    def read(self, record: dict[str, Any]):
        """This metric's value in a summary record (None when absent)."""
        value: Any = record
        for key in self.path or (self.name,):
            value = value.get(key) if isinstance(value, dict) else None
        return value

    def over_seeds(self, complete):
        """Its values over a row's complete runs, or none when a complete run lacks it: a mean over
        the others would flatter the row (time to 52% when one seed never got there)."""
        import pandas as pd

        values = pd.to_numeric(complete[self.name], errors="coerce").astype(float)
        return values if values.notna().all() else values.iloc[:0]

    def text(self, value, *, signed: bool = False, unit: str | None = None) -> str:
        """'52.3%', '+4.1 pts', '1,234 s', '269,722', '1.2 PFLOP'; '-' when missing."""
        if _missing(value):
            return "-"
        unit = self.unit if unit is None else unit
        shown = float(value) * (100 if self.unit in _PERCENT else 1)
        signed = signed or self.unit == "pts"
        if self.unit in _SI:  # the sign by hand: matplotlib writes a Unicode minus
            from matplotlib.ticker import EngFormatter

            number = EngFormatter(unit=_SI[self.unit], places=self.decimals, sep=" ")(abs(shown))
            return ("-" if shown < 0 else "+" if signed else "") + number
        return f"{shown:{'+' if signed else ''},.{self.decimals}f}" + _SUFFIX.get(unit, f" {unit}")

    def difference(self, value) -> str:
        """'+12.3 pts', '-40 s', '+1,200 img/s': signed, in the unit of a difference."""
        return self.text(value, signed=True, unit="pts" if self.unit == "%" else None)

    def cell(self, value) -> str:
        """The report table's cell, whose header names the unit: '52.3', '+4.1', '0:20:34', '1.2 PFLOP'."""
        return format_duration(value, missing="-") if self.unit == "s" else self.text(value, unit="")


def _missing(value) -> bool:
    """None, NaN, or not a finite number (a mean that overflowed): shown as '-', never as a figure."""
    import math

    import pandas as pd

    if value is None or bool(pd.isna(value)):
        return True
    return isinstance(value, (int, float)) and not math.isfinite(value)


def dtype(types: tuple[type, ...]) -> str | None:
    """The pandas dtype of a column whose summary values have these JSON types (None: left as objects)."""
    if float in types:
        return "float64"
    return "Int64" if int in types and bool not in types else None


# ---------------------------------------------------------------------------------- the table
# In the order of the summary's fields, the report's columns and compare's rows.
_ACC = dict(unit="%", decimals=1)
METRICS: dict[str, Metric] = {m.name: m for m in (
    # the model
    Metric("params", "trainable parameters", "count", None, "trainable parameters", (int, *_NULL),
           column="params", shown=True, per_model=True),
    Metric("mmacs", "MMACs per image", "MMACs", None, "multiply-accumulates per image, millions", decimals=1,
           column="MMACs", shown=True, per_model=True),
    Metric("train_flops_per_image", "training FLOPs per image", "FLOPs", None,
           "6 x MACs: a training image is 3 forward passes of 2 FLOPs per MAC", decimals=1, per_model=True,
           optional=True),
    # what the run spent
    Metric("budget_used", "budget used", "%", None, "share of the budget spent, 0..1", _NUM, decimals=1),
    Metric("epochs", "epochs reached", "epochs", None, "epochs started (a partial last epoch counts)", (int,),
           decimals=1, column="epochs", shown=True),
    Metric("epochs_completed", "whole epochs", "epochs", None, "whole epochs", (int,)),
    Metric("steps", "training steps", "count", None, "training steps done", (int,)),
    Metric("train_seconds", "training time", "s", None,
           "seconds in training steps, summed over resumes (charged to the budget)", _NUM, column="train time",
           shown=True, timed=True),
    Metric("wall_seconds", "wall time", "s", None, "the run's wall clock: building, compiling, training, evaluating "
           "and checkpointing, summed over resumes", _NUM, column="wall time", shown=True, optional=True, timed=True),
    Metric("train_flops", "training FLOPs", "FLOPs", None, "training FLOPs spent: steps x batch x train_flops_per_image",
           decimals=1, column="train FLOPs", shown=True, optional=True),
    Metric("compile_seconds", "compile time", "s", None,
           "first step of each segment (tracing/compiling), included above", _NUM, timed=True),
    Metric("eval_seconds", "evaluation time", "s", None, "seconds evaluating (not charged)", _NUM, timed=True),
    Metric("checkpoint_seconds", "checkpoint time", "s", None, "seconds writing checkpoints (not charged)", _NUM, timed=True),
    Metric("images_per_second", "training throughput", "img/s", True,
           "median training images/s over epochs, first excluded", column="images/s", better="trains faster",
           shown=True, timed=True),
    # what it reached
    Metric("test_top1", "test top-1", higher_is_better=True, meaning="test top-1 with the best-on-validation weights",
           shown=True, spread=True, **_ACC),
    Metric("test_top5", "test top-5", higher_is_better=True, meaning="test top-5 with the best-on-validation weights",
           shown=True, spread=True, **_ACC),
    Metric("best_val_top1", "best val top-1", higher_is_better=True, meaning="best validation top-1 (selection split)",
           shown=True, **_ACC),
    Metric("best_epoch", "best epoch", "epochs", None, "epoch of best_val_top1 (1-based)", (int, *_NULL)),
    Metric("final_val_top1", "final val top-1", higher_is_better=True, meaning="validation top-1 after the last epoch",
           **_ACC),
    Metric("final_val_ce", "final val cross-entropy", "nats", False,
           "validation cross-entropy after the last epoch, without the weight-decay penalty: against ln(classes), "
           "a uniform guess's", decimals=2, column="val CE", shown=True, optional=True, better="has the lower "
           "cross-entropy"),
    Metric("final_penalty", "weight-decay penalty", "nats", None,
           "the L2 term of the final weights, included in the history's loss and val_loss", decimals=2,
           optional=True),
    Metric("test_top1_final", "test top-1, final weights", higher_is_better=True,
           meaning="test top-1 with the final weights", **_ACC),
    Metric("test_top5_final", "test top-5, final weights", higher_is_better=True,
           meaning="test top-5 with the final weights", **_ACC),
    # Higher accuracy on training images is not better by itself (it may be overfitting).
    Metric("train_eval_top1", "train-eval top-1", higher_is_better=None, shown=True,
           meaning="top-1 on the fixed train subset, inference mode, final weights", **_ACC),
    Metric("gap", "overfitting gap (train-eval - val)", "pts", False,
           "train_eval_top1 - final_val_top1 (overfitting gap)", decimals=1, column="gap (pts)",
           better="overfits less (smaller gap)", shown=True),
    Metric("time_to_52", "time to 52% val", "s", False, "training seconds until val top-1 first reached 52%",
           path=("time_to_target", "0.52"), better="is faster to 52%", shown=True, absent="not reached", timed=True),
    Metric("resume_count", "resumes", "count", None, "times the run was resumed", (int,)),
)}


def shown() -> list[Metric]:
    """The metrics of the report's main table and of compare's rows, in order."""
    return [m for m in METRICS.values() if m.shown]


def summary_fields() -> dict[str, tuple[tuple[type, ...], str]]:
    """The metric fields of summary.json (SUMMARY_SCHEMA's entries); a nested metric's field is not one."""
    return {m.name: (m.types, m.meaning) for m in METRICS.values() if not m.path}
