"""A8: how much do PIE sets found from different seeds overlap? Jaccard overlap of PIE sets found
from independent draws of m models per population, and a bootstrap interval on the % of PIEs
(beyond Tropeano et al. 2025; PIEs as Hooker et al. 2019). Not the reference code's "stability",
the accuracy drop right after a prune (pie.analysis.training_measures)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pie.analysis.resampling import gathered_draws
from pie.pies.task import Task

# Population sizes tried by default: those up to half the smaller population, plus that half.
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
    """Sizes to try: by default DEFAULT_SIZES up to half the smaller population, plus that half
    (the largest size whose two draws can be disjoint; at m = M both draws are the whole
    population and agree trivially); or the given sizes, checked."""
    if sizes is None:
        half = largest // 2
        return [largest] if half < 1 else sorted({size for size in DEFAULT_SIZES if size <= half} | {half})
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


def pie_overlap(
    task: Task,
    dense: np.ndarray,
    pruned: np.ndarray,
    tie: str = "lowest",
    sizes=None,
    n_repeats: int = 20,
    rng: np.random.Generator | None = None,
) -> pd.DataFrame:
    """Jaccard overlap of two PIE sets, each found from m dense and m pruned models, per size m.

    The two draws use disjoint models when both populations hold at least 2m models
    (disjoint=True); otherwise they are independent subsamples without replacement that may share
    models (disjoint=False), so their overlap is optimistic.

    :param dense, pruned: the task's 0/1 indicators [M, N, C] of each model's decisions (one-hot
        predictions, or multi-label decisions): votes of any drawn population are their sums.
    :param sizes: population sizes m; by default DEFAULT_SIZES up to half the smaller population,
        and that half.
    :param rng: required numpy Generator (keyword default only to keep the argument order).
    :returns: columns m, disjoint, repeats, jaccard_mean, jaccard_std (ddof=1; NaN for one repeat).
    """
    def is_pie(dense_votes, pruned_votes, m):
        return task.is_pie(dense_votes, pruned_votes, m, m, tie)

    return overlap_from_indicators(dense, pruned, is_pie, sizes, n_repeats, rng)


def overlap_from_indicators(dense: np.ndarray, pruned: np.ndarray, is_pie, sizes=None, n_repeats: int = 20,
                              rng: np.random.Generator | None = None) -> pd.DataFrame:
    """pie_overlap for any 0/1 model outputs [M, N, C] (one-hot predictions, or multi-label
    decisions) and `is_pie(dense_votes, pruned_votes, m) -> bool[R, N]` on the votes [R, N, C] of
    R drawn populations of m models each."""
    rng = _require_rng(rng)
    rows, by_class = [], (models_by_class(dense), models_by_class(pruned))
    for m in _sizes(sizes, min(len(dense), len(pruned))):
        disjoint = 2 * m <= len(dense) and 2 * m <= len(pruned)
        draws = [(_two_draws(len(dense), m, disjoint, rng), _two_draws(len(pruned), m, disjoint, rng)) for _ in range(n_repeats)]
        pie_sets = [
            is_pie(votes_of_draws(dense, [d[0][k] for d in draws], by_class[0]),
                   votes_of_draws(pruned, [d[1][k] for d in draws], by_class[1]), m)
            for k in (0, 1)
        ]
        scores = [jaccard(a, b) for a, b in zip(*pie_sets)]
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


def models_by_class(one_hot: np.ndarray) -> np.ndarray:
    """float32[M, C * N]: each model's 0/1 outputs [M, N, C] with the classes as the slower axis,
    the matrix votes_of_draws multiplies (made once where a population's draws are voted in parts)."""
    return np.moveaxis(one_hot, -1, 1).astype(np.float32).reshape(len(one_hot), -1)


def votes_of_draws(one_hot: np.ndarray, draws, by_class: np.ndarray | None = None) -> np.ndarray:
    """[len(draws), N, C] votes of the populations made of each draw's models (indices may repeat).

    A matrix product of model multiplicities with the one-hot predictions (`by_class`:
    models_by_class(one_hot), when the caller has it already): exact small integers in float32,
    and far cheaper than gathering the draws' one-hot arrays. The result is a view whose classes
    are the slowest axis in memory, so each class's votes are one contiguous block (the per-class
    passes of the modal labels read them at full speed)."""
    n_models, classes = len(one_hot), one_hot.shape[-1]
    counts = np.zeros((len(draws), n_models), dtype=np.float32)
    for row, models in enumerate(draws):
        np.add.at(counts[row], np.asarray(models), 1)
    by_class = models_by_class(one_hot) if by_class is None else by_class
    return np.moveaxis((counts @ by_class).reshape(len(draws), classes, -1), 1, -1)


def votes_of_rest(votes: np.ndarray, total: np.ndarray) -> np.ndarray:
    """Votes [k, N, C] of the models each of k draws left out, from the draws' votes (as
    votes_of_draws lays them out, no model drawn twice) and the population's votes by class
    (models_by_class(...).sum(axis=0)): a subtraction of exact small integers in float32, in the
    same memory layout, at a fifth of a product's cost."""
    drawn = np.moveaxis(votes, -1, 1)  # [k, C, N], contiguous
    return np.moveaxis(total.reshape(drawn.shape[1:]) - drawn, 1, -1)


def bootstrap_percent(is_pie: np.ndarray, considered: np.ndarray, rng: np.random.Generator,
                      n_boot: int = 1000, level: float = 0.95) -> dict:
    """% PIEs of the considered examples with a percentile bootstrap interval over the evaluation
    examples, from PIE verdicts already computed.

    The interval reflects the sampling of the test set. Models are deliberately not resampled:
    a resample with repeated models adds voting noise and inflates % PIEs systematically (the
    interval then often misses the estimate); seed-to-seed variability is what pie_overlap
    measures instead.
    """
    rng = _require_rng(rng)
    is_pie, considered = np.asarray(is_pie, dtype=np.int32), np.asarray(considered, dtype=np.int32)
    every = considered.all()  # then each resample considers all its len(is_pie) examples: nothing to gather

    def considered_in(rows):
        return len(is_pie) if every else np.maximum(considered[rows].sum(1), 1)

    percents = [100.0 * is_pie[rows].sum(1) / considered_in(rows) for rows in gathered_draws(len(is_pie), n_boot, rng)]
    low, high = np.percentile(np.concatenate(percents), [50 * (1 - level), 50 * (1 + level)])
    total = int(considered.sum())
    return {"percent": 100.0 * is_pie.sum() / total if total else float("nan"), "low": float(low), "high": float(high)}
