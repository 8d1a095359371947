"""Numbers as a person reads them, in one place: durations, counts, FLOPs."""

from __future__ import annotations

import math


def format_duration(seconds: float | None, missing: str = "--:--:--") -> str:
    """h:mm:ss, the one duration format of the CLI and the report; `missing` for None or nan."""
    if seconds is None or not isinstance(seconds, (int, float)) or not math.isfinite(seconds):
        return missing
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def format_count(value: float | None, unit: str = "") -> str:
    """0.27M, 41M, 1.2G, 3.4P (SI prefixes, 2 significant digits under 10)."""
    if value is None or not math.isfinite(value):
        return "-"
    for prefix, scale in (("E", 1e18), ("P", 1e15), ("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(value) >= scale * (0.1 if prefix == "M" else 1):
            number = value / scale
            return f"{number:.2g}{prefix}{unit}" if abs(number) < 10 else f"{number:,.0f}{prefix}{unit}"
    return f"{value:g}{unit}"
