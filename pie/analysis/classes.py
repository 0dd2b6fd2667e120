"""A4: how PIEs and pruning's damage spread over the classes — class shares of all examples vs of
the PIEs, and per-class scores (recall, or F1 for multi-label data) of dense vs pruned models with
Welch's t-test, as Hooker et al. 2019 test which classes pruning changes significantly."""

from __future__ import annotations

import numpy as np
import pandas as pd


def _share(counts: np.ndarray) -> np.ndarray:
    """counts / their total; all zeros when the total is zero."""
    total = counts.sum()
    return counts / total if total else np.zeros(len(counts))


def class_distribution(gold: np.ndarray, is_pie: np.ndarray) -> pd.DataFrame:
    """Count and share of each gold class among all examples and among the PIEs, from gold rows
    [N, C] (one-hot; multi-hot rows count every class an example carries: shares of all label
    occurrences)."""
    gold = np.asarray(gold)
    is_pie = np.asarray(is_pie, dtype=bool)
    count_all, count_pies = gold.sum(axis=0, dtype=np.int64), gold[is_pie].sum(axis=0, dtype=np.int64)
    return pd.DataFrame(
        {
            "class": np.arange(gold.shape[1]),
            "count_all": count_all,
            "share_all": _share(count_all),
            "count_pies": count_pies,
            "share_pies": _share(count_pies),
        }
    )


def _welch(pruned: np.ndarray, dense: np.ndarray, testable: np.ndarray) -> tuple[np.ndarray, ...]:
    """Welch's t and p per class (pruned vs dense recalls), NaN where a class is not testable."""
    t = np.full(pruned.shape[1], np.nan)
    p = np.full(pruned.shape[1], np.nan)
    if testable.any():
        from scipy import stats  # imported when needed: it takes a second or two

        result = stats.ttest_ind(pruned[:, testable], dense[:, testable], axis=0, equal_var=False)
        t[testable], p[testable] = result.statistic, result.pvalue
    return t, p


def class_score_change(dense: np.ndarray, pruned: np.ndarray, support: np.ndarray, alpha: float = 0.05) -> pd.DataFrame:
    """Per class: mean per-model score (recall, or F1 for multi-label) of the dense [Md, C] and the
    pruned [Mp, C] models, their change, and Welch's t-test.

    t > 0 means the pruned models score better. A class is tested only when it has examples, each
    population has at least two models, and the scores are not constant in both populations (the
    t statistic is undefined there); otherwise t and p are NaN and the class is not significant.
    A NaN score (undefined for that model) counts as 0 in the means.
    """
    varies = (np.ptp(np.nan_to_num(dense), axis=0) > 0) | (np.ptp(np.nan_to_num(pruned), axis=0) > 0)
    testable = (support > 0) & varies & (len(dense) > 1) & (len(pruned) > 1)
    t, p = _welch(np.nan_to_num(pruned), np.nan_to_num(dense), testable)
    has_examples = support > 0
    dense_mean = np.where(has_examples, np.nan_to_num(dense).mean(axis=0), np.nan)
    pruned_mean = np.where(has_examples, np.nan_to_num(pruned).mean(axis=0), np.nan)
    return pd.DataFrame(
        {
            "class": np.arange(len(support)),
            "support": support,
            "dense_mean": dense_mean,
            "pruned_mean": pruned_mean,
            "change": pruned_mean - dense_mean,
            "t": t,
            "p": p,
            "significant": np.nan_to_num(p, nan=1.0) < alpha,
        }
    )
