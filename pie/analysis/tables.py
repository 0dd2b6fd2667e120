"""The analyses' rows, stacked over population pairs into one table per analysis."""

from __future__ import annotations

import pandas as pd

from pie.analysis.effectiveness import effectiveness_table
from pie.analysis.training_measures import prune_stability_table

IDENTITY = ["dataset", "model", "method", "sparsity", "model_key"]
# Per-example / per-class / per-bin frames of each pair, stacked over pairs with its identity.
PAIR_FRAMES = ("pies", "classes", "class_change", "influence", "text", "overlap", "examples", "generalisation_gap")


def assemble(rows: dict[str, list], runs: list[dict]) -> dict[str, pd.DataFrame]:
    """Tables from the pairs' rows: `summary` and `accuracy` rows (dicts) and the PAIR_FRAMES
    (frames carrying their pair's identity), plus A1 `effectiveness` from one row per run
    (dataset, model, method, sparsity, seed, measure, metric) and `prune_stability` from the
    runs' `prunes` where they were measured."""
    tables = {
        "summary": pd.DataFrame(rows["summary"]).sort_values(["dataset", "model", "model_key", "sparsity", "method"], kind="stable"),
        "accuracy": pd.DataFrame(rows["accuracy"]),
    }
    for name in PAIR_FRAMES:
        if rows.get(name):
            frame = pd.concat(rows[name], ignore_index=True)
            tables[name] = frame[IDENTITY + [c for c in frame.columns if c not in IDENTITY]]
    tables["effectiveness"] = effectiveness_table(pd.DataFrame(runs).drop(columns="prunes", errors="ignore"))
    stability = prune_stability_table(runs)
    if len(stability):
        tables["prune_stability"] = stability
    return tables
