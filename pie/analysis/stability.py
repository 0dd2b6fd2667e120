"""A8: how stable is the PIE set? Jaccard overlap of PIE sets found from independent draws of m
models per population, and a bootstrap interval on the % of PIEs (Tropeano et al. 2025; PIEs as
Hooker et al. 2019)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pie.pies.single_label import single_label_pie_table, single_label_pies

# Population sizes tried by default: those up to the smaller population, plus its size.
DEFAULT_SIZES = (3, 5, 10, 20, 30, 50, 100, 200)


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """|A ∩ B| / |A ∪ B| of two boolean masks; 1.0 when both are empty."""
    a, b = np.asarray(a, dtype=bool), np.asarray(b, dtype=bool)
    union = int((a | b).sum())
    return float((a & b).sum() / union) if union else 1.0


def _require_rng(rng) -> np.random.Generator:
    """All randomness comes from the caller's generator."""
    if not isinstance(rng, np.random.Generator):
        raise TypeError("pass a numpy.random.Generator as rng")
    return rng


def _sizes(sizes, largest: int) -> list[int]:
    """Sizes to try: DEFAULT_SIZES up to `largest` plus `largest`, or the given sizes, checked."""
    if sizes is None:
        return sorted({size for size in DEFAULT_SIZES if size <= largest} | {largest})
    sizes = [int(size) for size in sizes]
    if any(not 1 <= size <= largest for size in sizes):
        raise ValueError(f"population sizes must lie in [1, {largest}], got {sizes}")
    return sizes


def _two_draws(n_models: int, m: int, disjoint: bool, rng: np.random.Generator):
    """Two index sets of m models: disjoint halves of a permutation, or two independent draws."""
    if disjoint:
        order = rng.permutation(n_models)
        return order[:m], order[m : 2 * m]
    return rng.choice(n_models, m, replace=False), rng.choice(n_models, m, replace=False)


def pie_stability(
    dense_logits: np.ndarray,
    pruned_logits: np.ndarray,
    sizes=None,
    n_repeats: int = 20,
    rng: np.random.Generator | None = None,
    tie: str = "lowest",
) -> pd.DataFrame:
    """Jaccard overlap of two PIE sets, each found from m dense and m pruned models, per size m.

    The two draws use disjoint models when both populations hold at least 2m models
    (disjoint=True); otherwise they are independent subsamples without replacement that may share
    models (disjoint=False), so their overlap is optimistic.

    :param sizes: population sizes m; by default DEFAULT_SIZES up to min(M_dense, M_pruned), and
        min(M_dense, M_pruned) itself.
    :param rng: required numpy Generator (keyword default only to keep the argument order).
    :returns: columns m, disjoint, repeats, jaccard_mean, jaccard_std (ddof=1; NaN for one repeat).
    """
    rng = _require_rng(rng)
    dense, pruned = np.asarray(dense_logits), np.asarray(pruned_logits)
    rows = []
    for m in _sizes(sizes, min(len(dense), len(pruned))):
        disjoint = 2 * m <= len(dense) and 2 * m <= len(pruned)
        scores = []
        for _ in range(n_repeats):
            dense_a, dense_b = _two_draws(len(dense), m, disjoint, rng)
            pruned_a, pruned_b = _two_draws(len(pruned), m, disjoint, rng)
            first = single_label_pies(dense[dense_a], pruned[pruned_a], tie)
            second = single_label_pies(dense[dense_b], pruned[pruned_b], tie)
            scores.append(jaccard(first, second))
        rows.append(
            {
                "m": m,
                "disjoint": disjoint,
                "repeats": n_repeats,
                "jaccard_mean": float(np.mean(scores)),
                "jaccard_std": float(np.std(scores, ddof=1)) if n_repeats > 1 else float("nan"),
            }
        )
    return pd.DataFrame(rows, columns=["m", "disjoint", "repeats", "jaccard_mean", "jaccard_std"])


def _pie_percent(dense: np.ndarray, pruned: np.ndarray, tie: str) -> float:
    """100 × the PIE fraction of the considered examples."""
    return 100.0 * single_label_pie_table(dense, pruned, tie).pie_fraction


def bootstrap_pie_percent(
    dense_logits: np.ndarray,
    pruned_logits: np.ndarray,
    rng: np.random.Generator,
    n_boot: int = 1000,
    level: float = 0.95,
    tie: str = "lowest",
) -> dict:
    """% PIEs on the full populations with a percentile bootstrap interval over models.

    Each repeat resamples the models of each population with replacement and recomputes % PIEs.
    """
    rng = _require_rng(rng)
    dense, pruned = np.asarray(dense_logits), np.asarray(pruned_logits)
    percents = []
    for _ in range(n_boot):
        dense_draw = rng.integers(0, len(dense), len(dense))
        pruned_draw = rng.integers(0, len(pruned), len(pruned))
        percents.append(_pie_percent(dense[dense_draw], pruned[pruned_draw], tie))
    low, high = np.percentile(percents, [50 * (1 - level), 50 * (1 + level)])
    return {"percent": _pie_percent(dense, pruned, tie), "low": float(low), "high": float(high)}
