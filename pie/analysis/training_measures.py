"""Two measures of training that the reference code of Tropeano et al. (2025) records beside the
PIEs: the accuracy drop right after each prune (its `stability`, (acc_before - acc_after) /
acc_before per prune) and the generalisation gap (final train loss - final test loss, its A1
notebook). Not A8, which measures how PIE sets from other seeds overlap (pie.analysis.overlap).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pie.pies.task import Task

KEYS = ["dataset", "model", "method", "sparsity"]
STABILITY_COLUMNS = KEYS + ["step", "after_epoch", "measure", "seeds", "before_mean", "after_mean", "stability_mean", "stability_std"]


def relative_drop(before: float, after: float) -> float:
    """(before - after) / before, the reference's stability of one prune; NaN when before is 0."""
    return (before - after) / before if before else float("nan")


def prune_stability_table(runs: list[dict]) -> pd.DataFrame:
    """Per pruned population and prune (1, 2, ...): seeds, the test metric right before and right
    after the prune (mean over seeds) and the stability (before - after) / before, mean and
    sample std (ddof=1; NaN for one seed). `runs` carry their population's KEYS and `prunes`:
    one {after_epoch, measure, before, after} per prune, in order (none for dense runs and for
    runs recorded before these were measured)."""
    rows = [{**{k: run[k] for k in KEYS}, "step": step, "after_epoch": prune["after_epoch"], "measure": prune["measure"],
             "before": prune["before"], "after": prune["after"], "stability": relative_drop(prune["before"], prune["after"])}
            for run in runs for step, prune in enumerate(run.get("prunes") or (), start=1)]
    if not rows:
        return pd.DataFrame(columns=STABILITY_COLUMNS)
    grouped = pd.DataFrame(rows).groupby(KEYS + ["step", "after_epoch", "measure"], sort=True, dropna=False)
    table = grouped.agg(seeds=("stability", "size"), before_mean=("before", "mean"), after_mean=("after", "mean"),
                        stability_mean=("stability", "mean"), stability_std=("stability", lambda s: s.std(ddof=1)))
    return table.reset_index()[STABILITY_COLUMNS]


def generalisation_gap(task: Task, train_logits: np.ndarray, train_labels: np.ndarray, test_logits: np.ndarray,
                       test_labels: np.ndarray, prefix: str) -> dict:
    """`<prefix>_train_loss`, `<prefix>_test_loss` (means over models of the final mean losses) and
    `<prefix>_gap_mean`, `<prefix>_gap_std` (ddof=1) of each model's train loss - test loss,
    from the final logits of one population [M, N, C] on both splits (eval mode, final weights;
    the reference takes the train loss as the mean batch loss of the last training epoch)."""
    return gap_of_losses(task.loss(train_logits, train_labels), task.loss(test_logits, test_labels), prefix)


def gap_of_losses(train_losses: np.ndarray, test_losses: np.ndarray, prefix: str) -> dict:
    """generalisation_gap from each model's per-example losses [M, N] (task.loss) on both splits."""
    train, test = train_losses.mean(axis=1), test_losses.mean(axis=1)
    gap = train - test
    return {f"{prefix}_train_loss": float(train.mean()), f"{prefix}_test_loss": float(test.mean()),
            f"{prefix}_gap_mean": float(gap.mean()), f"{prefix}_gap_std": float(gap.std(ddof=1)) if len(gap) > 1 else float("nan")}
