"""`list`: the zoo as a table, with sizes and costs measured on the built models."""

from __future__ import annotations

import pandas as pd

import architectures
from architectures import complexity


def zoo_table(num_classes: int = 100) -> pd.DataFrame:
    rows = []
    for name in architectures.names():
        spec = architectures.spec(name)
        model = architectures.build(name, num_classes=num_classes)
        paper = spec.paper_params_text or ""
        if paper and spec.paper_classes != num_classes:
            paper += f" ({spec.paper_classes} classes)"
        rows.append({"name": name, "family": spec.family,
                     "params": complexity.trainable_params(model),
                     "MMACs": round(complexity.macs(model) / 1e6, 1),
                     "paper params": paper, "reference": spec.reference})
    return pd.DataFrame(rows)


def render(table: pd.DataFrame, fmt: str) -> str:
    if fmt == "csv":
        return table.to_csv(index=False)
    if fmt == "json":
        return table.to_json(orient="records", indent=2)
    shown = table.assign(params=table["params"].map("{:,}".format))
    return shown.to_markdown(index=False)
