"""A5: are PIEs the hard examples? EL2N difficulty scores (Paul et al. 2021), equal-frequency
difficulty bins, the share of PIEs per bin, and how pruning changes the loss per bin
(Tropeano et al. 2025)."""

from __future__ import annotations

import numpy as np
import pandas as pd

# Floor on a dense loss before dividing by it: a dense model can fit an example to zero loss in
# float arithmetic, and the ratio must stay finite there.
EPSILON = 1e-12


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    """Numerically stable log-softmax over the last axis."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def el2n(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """float[N]: EL2N, the mean over models of ||softmax(z) - onehot(y)||_2 (Paul et al. 2021)."""
    logits = np.asarray(logits, dtype=np.float32)
    probabilities = np.exp(_log_softmax(logits))  # [M, N, C]
    one_hot = np.asarray(labels)[:, None] == np.arange(logits.shape[2])[None, :]  # [N, C]
    return np.linalg.norm(probabilities - one_hot[None], axis=2).mean(axis=0)


def el2n_multi_label(logits: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """float[N]: multi-label EL2N, the mean over models of ||sigmoid(z) - y||_2 (the reference's)."""
    probabilities = 1.0 / (1.0 + np.exp(-np.asarray(logits, dtype=np.float32)))  # [M, N, C]
    return np.linalg.norm(probabilities - np.asarray(targets, dtype=np.float32)[None], axis=2).mean(axis=0)


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


def cross_entropy(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """float64[M, N]: cross-entropy loss of each model on each example, logsumexp(z) - z_y, in
    float64 so that tiny losses of confident models stay distinguishable in loss ratios."""
    logits = np.asarray(logits)
    top = logits.max(axis=-1).astype(np.float64)
    total = np.zeros(top.shape)
    for c in range(logits.shape[-1]):
        total += np.exp(logits[..., c] - top)
    gold = np.take_along_axis(logits, np.asarray(labels)[None, :, None], axis=2)[..., 0]
    return top + np.log(total) - gold


def binary_cross_entropy(logits: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """float64[M, N]: binary cross-entropy of each model on each example, mean over the classes
    (BCEWithLogits: softplus(z) - y z, stable for large |z|), in float64 as cross_entropy."""
    logits = np.asarray(logits, dtype=np.float64)
    softplus = np.logaddexp(0.0, logits)
    return (softplus - np.asarray(targets, dtype=np.float64)[None] * logits).mean(axis=2)


def loss_ratio_per_bin(
    dense_logits: np.ndarray,
    pruned_logits: np.ndarray,
    labels: np.ndarray,
    bins: np.ndarray,
    n_bins: int,
) -> pd.DataFrame:
    """Per bin: mean and sem over examples of L_pruned / L_dense, averaged over model pairs.

    Model i of the dense population is paired with model i of the pruned one (the caller aligns
    them, e.g. by seed); with unequal populations the first min(M_dense, M_pruned) of each are used.
    A dense loss is floored at EPSILON before dividing.
    """
    pairs = min(len(dense_logits), len(pruned_logits))
    dense = cross_entropy(np.asarray(dense_logits)[:pairs], labels)
    pruned = cross_entropy(np.asarray(pruned_logits)[:pairs], labels)
    return loss_ratio_from_losses(dense, pruned, bins, n_bins)


def loss_ratio_from_losses(dense_losses: np.ndarray, pruned_losses: np.ndarray, bins: np.ndarray, n_bins: int) -> pd.DataFrame:
    """loss_ratio_per_bin from per-model losses [M, N] already computed (model i with model i)."""
    pairs = min(len(dense_losses), len(pruned_losses))
    ratios = (pruned_losses[:pairs] / np.maximum(dense_losses[:pairs], EPSILON)).mean(axis=0)
    return _per_bin_mean_sem(ratios, bins, n_bins)


def loss_delta_per_bin(
    dense_logits: np.ndarray,
    pruned_logits: np.ndarray,
    labels: np.ndarray,
    bins: np.ndarray,
    n_bins: int,
) -> pd.DataFrame:
    """Per bin: mean and sem over examples of (mean pruned loss) - (mean dense loss).

    A difference of population means needs no pairing, so every model of each population is used.
    """
    pruned = cross_entropy(pruned_logits, labels).mean(axis=0)
    deltas = pruned - cross_entropy(dense_logits, labels).mean(axis=0)
    return _per_bin_mean_sem(deltas, bins, n_bins)
