"""A5: are PIEs the hard examples? Equal-frequency bins of the EL2N difficulty scores (Paul et
al. 2021; the scores in pie.pies.losses), the share of PIEs per bin, and how pruning changes the
loss per bin (Tropeano et al. 2025)."""

from __future__ import annotations

import numpy as np
import pandas as pd

# Floor on a dense loss before dividing by it: a dense model can fit an example to zero loss in
# float arithmetic, and the ratio must stay finite there.
EPSILON = 1e-12


def rank_bins(scores: np.ndarray, n_bins: int = 20) -> np.ndarray:
    """int[N]: equal-frequency bin of each score by rank, 1 (lowest scores) .. n_bins (highest).

    Ties are ordered by index (stable sort), so bin sizes differ by at most one.
    """
    scores = np.asarray(scores)
    if not 1 <= n_bins <= len(scores):
        raise ValueError(f"n_bins must lie in [1, number of scores = {len(scores)}], got {n_bins}")
    ranks = np.empty(len(scores), dtype=np.int64)
    ranks[np.argsort(scores, kind="stable")] = np.arange(len(scores))
    return ranks * n_bins // len(scores) + 1


def _bin_counts(bins: np.ndarray, n_bins: int) -> np.ndarray:
    """Examples in each bin 1..n_bins."""
    return np.bincount(bins, minlength=n_bins + 1)[1:]


def _bin_means(values: np.ndarray, bins: np.ndarray, n_bins: int) -> np.ndarray:
    """Mean of values per bin 1..n_bins; NaN for an empty bin."""
    counts = _bin_counts(bins, n_bins)
    sums = np.bincount(bins, weights=values, minlength=n_bins + 1)[1:]
    means = np.full(n_bins, np.nan)
    np.divide(sums, counts, out=means, where=counts > 0)
    return means


def per_bin_share(bins: np.ndarray, flags: np.ndarray, n_bins: int) -> pd.DataFrame:
    """Per bin: number of examples and the share of them flagged (e.g. PIEs)."""
    bins = np.asarray(bins)
    return pd.DataFrame(
        {
            "bin": np.arange(1, n_bins + 1),
            "examples": _bin_counts(bins, n_bins),
            "share": _bin_means(np.asarray(flags, dtype=float), bins, n_bins),
        }
    )


def _per_bin_mean_sem(values: np.ndarray, bins: np.ndarray, n_bins: int) -> pd.DataFrame:
    """Per bin: mean of per-example values, its standard error (ddof=1; NaN below two examples)."""
    bins = np.asarray(bins)
    counts = _bin_counts(bins, n_bins)
    means = _bin_means(values, bins, n_bins)
    deviations = (values - means[bins - 1]) ** 2
    squares = np.bincount(bins, weights=deviations, minlength=n_bins + 1)[1:]
    sem = np.full(n_bins, np.nan)
    np.divide(np.sqrt(squares), np.sqrt(counts * (counts - 1.0)), out=sem, where=counts > 1)
    return pd.DataFrame(
        {"bin": np.arange(1, n_bins + 1), "examples": counts, "mean": means, "sem": sem}
    )


def loss_ratio_from_losses(dense_losses: np.ndarray, pruned_losses: np.ndarray, bins: np.ndarray, n_bins: int) -> pd.DataFrame:
    """Per bin: mean and sem over examples of L_pruned / L_dense, from per-model losses [M, N],
    averaged over model pairs: model i of the dense population with model i of the pruned one
    (the caller aligns them by seed; with unequal populations the first min(M_dense, M_pruned)).
    A dense loss is floored at EPSILON before dividing."""
    pairs = min(len(dense_losses), len(pruned_losses))
    ratios = (pruned_losses[:pairs] / np.maximum(dense_losses[:pairs], EPSILON)).mean(axis=0)
    return _per_bin_mean_sem(ratios, bins, n_bins)
