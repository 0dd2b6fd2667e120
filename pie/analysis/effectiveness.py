"""A1: pruning effectiveness — final test metric per (dataset, model, method, sparsity) over
seeds, as the accuracy-vs-sparsity table of Tropeano et al. 2025 (after Hooker et al. 2019)."""

from __future__ import annotations

import pandas as pd

KEYS = ["dataset", "model", "method", "sparsity"]


def effectiveness_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Seeds, mean and sample std (ddof=1; NaN for one seed) of `metric` per configuration (and
    per `measure`, the metric's name, when the runs carry one).

    Rows are sorted by dataset and model, with the dense rows (method "dense") first within each,
    then by method and sparsity, so the dense baseline heads the rows it is compared with.
    """
    keys = KEYS + [c for c in ("measure",) if c in runs.columns]
    table = (
        runs.groupby(keys, sort=False)["metric"]
        .agg(seeds="count", mean="mean", std=lambda metric: metric.std(ddof=1))
        .reset_index()
    )
    table["seeds"] = table["seeds"].astype(int)
    return (
        table.assign(_pruned=table["method"] != "dense")
        .sort_values(["dataset", "model", "_pruned", "method", "sparsity"], kind="stable")
        .drop(columns="_pruned")
        .reset_index(drop=True)
    )
