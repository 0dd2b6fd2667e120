"""A5: are PIEs the hard examples? Equal-frequency bins of the EL2N difficulty scores (Paul et
al. 2021; the scores in pie.pies.losses), the share of PIEs per bin, and how pruning changes the
loss per bin (Tropeano et al. 2025)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd


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


def _over_pairs(values: np.ndarray) -> np.ndarray:
    """float[N]: the mean over model pairs of each example's values [P, N], undefined ones left out."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an example with no defined ratio stays NaN
        return np.nanmean(values, axis=0)


def _per_bin_sem(values: np.ndarray, means: np.ndarray, bins: np.ndarray, n_bins: int) -> np.ndarray:
    """Per bin: the standard error (ddof=1) of the per-example values [P, N] averaged over the
    model pairs (`means`, _over_pairs(values)), across the bin's examples (pie's error bars); NaN
    below two examples."""
    counts = _bin_counts(bins, n_bins)
    deviations = (means - _bin_means(means, bins, n_bins)[bins - 1]) ** 2
    squares = np.bincount(bins, weights=deviations, minlength=n_bins + 1)[1:]
    sem = np.full(n_bins, np.nan)
    np.divide(np.sqrt(squares), np.sqrt(counts * (counts - 1.0)), out=sem, where=counts > 1)
    return sem


def _per_bin_model_spread(values: np.ndarray, means: np.ndarray, bins: np.ndarray, n_bins: int) -> np.ndarray:
    """Per bin: the mean over its examples of the standard deviation (ddof=0) of the values [P, N]
    across model pairs, divided by √(examples in the bin) (the reference's error bars; `means`
    unused)."""
    spread = np.nanstd(values, axis=0)
    counts = _bin_counts(bins, n_bins)
    error = np.full(n_bins, np.nan)
    np.divide(_bin_means(spread, bins, n_bins), np.sqrt(counts), out=error, where=counts > 0)
    return error


ERROR_BARS = {"sem": _per_bin_sem, "model_std": _per_bin_model_spread}


def loss_ratios(dense_losses: np.ndarray, pruned_losses: np.ndarray) -> np.ndarray:
    """float64[P, N]: L_pruned / L_dense of model pair i (dense model i with pruned model i; the
    caller aligns them by seed; with unequal populations the first P = min(M_dense, M_pruned)), from
    losses [M, N], or per class [M, N, C] (then the mean over the classes of the per-class ratios).
    A dense loss of exactly 0 (a margin beyond what float64 resolves, ~745 in logits, the losses
    being exact below that) leaves its ratio undefined (NaN), never blown up by a floor."""
    pairs = min(len(dense_losses), len(pruned_losses))
    dense, pruned = np.asarray(dense_losses[:pairs], dtype=np.float64), np.asarray(pruned_losses[:pairs], dtype=np.float64)
    ratios = np.full(dense.shape, np.nan)
    np.divide(pruned, dense, out=ratios, where=dense > 0)
    return ratios.mean(axis=2) if ratios.ndim == 3 else ratios


def loss_ratio_from_losses(dense_losses: np.ndarray, pruned_losses: np.ndarray, bins: np.ndarray, n_bins: int,
                           error_bars: str = "sem") -> pd.DataFrame:
    """Per bin: examples, the mean over examples of the per-example loss ratio (`loss_ratios`,
    averaged over model pairs; examples without a defined ratio left out) and its error bar
    (ERROR_BARS: "sem" or "model_std", the analysis conventions' choice)."""
    ratios = loss_ratios(dense_losses, pruned_losses)
    defined = ~np.isnan(ratios).all(axis=0)  # where _over_pairs is defined: the ratios are finite or NaN
    ratios, kept = ratios[:, defined], np.asarray(bins)[defined]
    means = _over_pairs(ratios)  # of the defined examples' own array (its memory layout decides how NumPy's sums round)
    return pd.DataFrame({
        "bin": np.arange(1, n_bins + 1), "examples": _bin_counts(kept, n_bins),
        "mean": _bin_means(means, kept, n_bins), "sem": ERROR_BARS[error_bars](ratios, means, kept, n_bins),
    })
