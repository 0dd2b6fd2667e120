"""A3: the headline metric on all examples vs on the PIEs, of each population's decision (modal
label, or majority decisions) and of its individual models (Hooker et al. 2019; Tropeano et al.
2025): accuracy, or macro-F1 for multi-label data."""

from __future__ import annotations

import numpy as np

from pie.pies.task import Task


def accuracy_row(task: Task, labels: np.ndarray, dense: np.ndarray, pruned: np.ndarray, result, pies: np.ndarray | None = None) -> dict:
    """pies, metric, and per side (dense, pruned) x subset (all, pies): `<side>_modal_<subset>`,
    the population decision's score, and `<side>_mean_<subset>`, the mean per-model score; NaN on
    an empty subset. `dense`/`pruned` are per-model decisions, `result` the pair's verdicts and
    `pies` the PIE set studied (the modal PIEs of `result` by default)."""
    pies = result.is_pie if pies is None else pies
    row = {"pies": int(pies.sum()), "metric": task.metric}
    for side, decisions, decision in (("dense", dense, result.dense_decision), ("pruned", pruned, result.pruned_decision)):
        for name, subset in (("all", None), ("pies", pies)):
            row[f"{side}_modal_{name}"] = task.score(decision, labels, subset)
            row[f"{side}_mean_{name}"] = task.mean_score(decisions, labels, subset)
    return {key: row[key] for key in task.accuracy_order}
