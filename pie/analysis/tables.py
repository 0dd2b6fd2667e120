"""The analyses' rows, stacked over population pairs into one table per analysis."""

from __future__ import annotations

import pandas as pd

from pie.analysis.effectiveness import effectiveness_table
from pie.analysis.training_measures import prune_stability_table

IDENTITY = ["dataset", "model", "method", "sparsity", "model_key"]
COMPARISON = [
    "dataset", "model", "method", "sparsity", "seeds", "metric", "accuracy_mean", "accuracy_std", "macro_f1_mean", "macro_f1_std",
    "pie_percent", "pie_percent_low", "pie_percent_high", "noise_size", "noise_rule", "pie_percent_at_size", "null_percent",
    "excess_percent", "excess_low", "excess_high", "robust_pies", "dense_modal_accuracy_all", "dense_modal_accuracy_pies",
    "pruned_modal_accuracy_all", "pruned_modal_accuracy_pies", "degenerate_models", "degenerate",
]
# Beyond the paper: seed noise, confidence, agreement with dense-vs-dense baselines, degeneracy.
TRUST = [
    "noise_size", "noise_rule", "noise_draws", "pie_percent_at_size", "pie_percent_at_size_low", "pie_percent_at_size_high",
    "null_percent", "null_low", "null_high", "excess_percent", "excess_low", "excess_high", "robust_level", "robust_pies",
    "robust_percent", "seed_pairs", "churn", "churn_dense", "label_loyalty", "label_loyalty_dense", "probability_loyalty",
    "probability_loyalty_dense", "taxicab_mean", "taxicab_at_size", "taxicab_null", "degenerate_models", "degenerate",
]
# Per-example / per-class / per-bin frames of each pair, stacked over pairs with its identity.
PAIR_FRAMES = ("pies", "classes", "class_change", "influence", "text", "overlap", "examples", "cie", "generalisation_gap")


def assemble(rows: dict[str, list], runs: list[dict]) -> dict[str, pd.DataFrame]:
    """Tables from the pairs' rows: `summary` and `accuracy` rows (dicts) and the PAIR_FRAMES
    (frames carrying their pair's identity), `recovery` rows when there are any, plus A1
    `effectiveness` from one row per run (dataset, model, method, sparsity, seed, measure, metric)
    and `prune_stability` from the runs' `prunes` where they were measured."""
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
    tables["comparison"] = comparison_table(tables["summary"])
    if rows.get("recovery"):
        tables["recovery"] = pd.DataFrame(rows["recovery"]).sort_values(["dataset", "model", "sparsity", "method"], kind="stable")
    tables["trust"] = tables["summary"].loc[tables["summary"]["method"] != "dense", IDENTITY[:4] + [
        c for c in TRUST if c in tables["summary"]]].reset_index(drop=True)
    return tables


def comparison_table(summary: pd.DataFrame) -> pd.DataFrame:
    """One row per pruned population of every sweep given: the headline metric, % PIEs, the
    seed-noise null and the excess over it (with intervals), the decisions' metric on all
    examples vs on the PIEs, and degeneracy; sorted by dataset, model, method and sparsity (the
    paper's "which models are more susceptible" as one table)."""
    pruned = summary[summary["method"] != "dense"]
    columns = [c for c in COMPARISON if c in pruned]
    return pruned[columns].sort_values(["dataset", "model", "method", "sparsity"], kind="stable").reset_index(drop=True)
