"""Seed noise: how many PIEs would two dense populations of the same size also "find"? And how
robust is each PIE to which seeds the populations happen to hold?

Modal labels of finite populations are noisy: two populations of identically trained dense
models disagree on some examples (churn between identically trained models, arXiv 2102.03349;
per-instance seed noise, Zhong et al. 2021). A PIE share means something only above that floor.

The null model draws, R times, two disjoint sub-populations A and B of m dense models and one of
m pruned models P (without replacement): the null PIE share is the share of examples on which
A and B decide differently, the pair's share at size m that on which A and P do. A never holds
the dense model of a seed that P holds: a pruned model shares its seed's initial weights and data
order with the dense model of that seed (a prune.py branch even starts from its final weights),
so A and P must be as independent in their seeds as A and B are; otherwise the pair's share, and
the excess, would be biased low. (When both populations hold the same seeds and m is half of
them, B is then exactly the dense models of P's seeds: A vs P and A vs B differ by the pruning
alone.) m is the pruned
population's size when the dense population holds at least twice as many models ("full"), else
half the dense population ("half"; the pair's reported % PIEs stays the full-size one, and its
excess is measured at m). The excess (pair minus null at size m) gets a two-way bootstrap
interval that resamples the draws and the test examples (the spirit of MultiBERTs'
multi-bootstrap over seeds and examples, arXiv 2106.16163).

Assumptions: the dense models are exchangeable (seeds are i.i.d. draws of the training
randomness), and so are the pruned models; disjoint draws from one finite population understate
the between-population variance a fresh population would show, so the interval is a lower bound
on the seed uncertainty when R is large relative to the number of distinct draws.

An example's confidence is the share of the R draws in which it is a PIE (A vs P); a robust PIE
has confidence at least `level` (default 0.9).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pie.analysis.agreement import taxicab_of_rates
from pie.analysis.resampling import index_draws
from pie.analysis.overlap import models_by_class, votes_of_draws, votes_of_rest
from pie.pies.task import Task

FULL, HALF = "full", "half"
# Draws voted and compared at once: their votes [CHUNK, N, C] stay in the CPU's cache (the modal and
# distance passes ran 1.5-2.5x faster than over all R draws at once; voting per chunk too, rather
# than all R draws' votes first, 72 MB at the paper's shape, made seed_draws 14% faster), and the
# numbers are the same (each draw is voted and compared on its own).
CHUNK = 8


def common_size(dense_models: int, pruned_models: int) -> tuple[int, str]:
    """(m, rule): the population size at which the null model and the excess are measured."""
    if dense_models >= 2 * pruned_models:
        return pruned_models, FULL
    return dense_models // 2, HALF


@dataclass(frozen=True)
class SeedDraws:
    """PIE verdicts of R repeated draws of m models: the pair's (dense draw A vs pruned draw P)
    and the null's (A vs a disjoint dense draw B), with the examples each verdict considers
    (all, unless tie="exclude" leaves a tied example out)."""

    size: int
    rule: str
    pair: np.ndarray  # bool[R, N]
    null: np.ndarray  # bool[R, N]
    pair_considered: np.ndarray  # bool[R, N]
    null_considered: np.ndarray  # bool[R, N]
    pair_taxicab: float  # mean taxicab distance of the label distributions of A and P (pie.analysis.agreement)
    null_taxicab: float  # of A and B: its seed-noise baseline

    @property
    def repeats(self) -> int:
        return len(self.pair)


def draw_models(dense: int, pruned: int, size: int, paired: int, repeats: int, rng: np.random.Generator):
    """(A, B, P): per draw, the indices of m = `size` models of each, drawn without replacement, A
    and B disjoint dense draws, P a pruned one; A leaves out the dense models of P's seeds (models
    0..paired-1 of both populations share their seeds)."""
    a, b, p = [], [], []
    for _ in range(repeats):
        drawn = np.arange(pruned) if size == pruned else np.sort(rng.choice(pruned, size, replace=False))
        taken = np.zeros(dense, dtype=bool)
        taken[drawn[drawn < paired]] = True  # dense >= 2 * size leaves at least size models for A
        first = rng.permutation(np.flatnonzero(~taken))[:size]
        rest = np.ones(dense, dtype=bool)
        rest[first] = False  # the models not in A, in order (np.setdiff1d's result, a tenth of its time)
        a.append(first)
        b.append(rng.permutation(np.flatnonzero(rest))[:size])
        p.append(drawn)
    return a, b, p


def seed_draws(task: Task, dense: np.ndarray, pruned: np.ndarray, rng: np.random.Generator, repeats: int = 200,
               tie: str = "lowest", paired: int = 0) -> SeedDraws | None:
    """R draws of the pair and the null from 0/1 decision indicators [M, N, C] of each population
    (pie.pies.task indicators); None when the dense population has fewer than 2 models (no null).
    Models 0..paired-1 of the two populations share their seeds (pie.analysis.pair.SplitArrays):
    a draw's A leaves out the dense models of its P's seeds."""
    size, rule = common_size(len(dense), len(pruned))
    if size < 1:
        return None
    a, b, p = draw_models(len(dense), len(pruned), size, paired, repeats, rng)
    dense_classes, pruned_classes = models_by_class(dense), models_by_class(pruned)
    # With 2m dense models, A and B split them: B's votes are the population's minus A's (exact).
    total = dense_classes.sum(axis=0) if 2 * size == len(dense) else None
    found = None  # pair, pair considered, null, null considered [R, N], the two taxicab distances [R, N]
    for start in range(0, repeats, CHUNK):
        stop = start + CHUNK
        votes_a = votes_of_draws(dense, a[start:stop], dense_classes)
        votes_b = votes_of_draws(dense, b[start:stop], dense_classes) if total is None else votes_of_rest(votes_a, total)
        votes_p = votes_of_draws(pruned, p[start:stop], pruned_classes)
        (pair, pair_considered), (null, null_considered) = task.pie_masks_against(votes_a, size, (votes_p, votes_b), size, tie)
        rates_a = votes_a / size
        chunk = (pair, pair_considered, null, null_considered, taxicab_of_rates(rates_a, votes_p / size),
                 taxicab_of_rates(rates_a, votes_b / size))
        if found is None:
            found = [np.empty((repeats, *part.shape[1:]), dtype=part.dtype) for part in chunk]
        for whole, part in zip(found, chunk):  # written while in the CPU's cache, not concatenated at the end
            whole[start:stop] = part
    pair, pair_considered, null, null_considered, pair_taxicab, null_taxicab = found
    return SeedDraws(size, rule, pair, null, pair_considered, null_considered, float(pair_taxicab.mean()),
                     float(null_taxicab.mean()))


def _counts(resampled: np.ndarray, examples: int) -> np.ndarray:
    """float32[k, N]: how often each of k resamples [k, N] draws each example (a bincount per
    resample, each written while in the CPU's cache: 2.3x faster than one bincount of all the
    resamples' positions offset by resample, at the paper's shape)."""
    counts = np.empty((len(resampled), examples), dtype=np.float32)
    for row, positions in zip(counts, resampled):
        row[:] = np.bincount(positions, minlength=examples)
    return counts


def _shares(pies: np.ndarray, considered: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """[R, k]: each draw's PIE share under each of k bootstrap resamples of the examples (their
    counts [k, N]). The products are sums of small integers, exact in float32 in any order, so
    only the examples that are a PIE (or left out) in some draw need enter them: PIEs are few."""
    def counted(flags):
        used = np.flatnonzero(flags.any(axis=0))
        return counts[:, used] @ flags[:, used].astype(np.float32).T

    total = counts.sum(axis=1)[:, None]
    return (counted(pies & considered) / (total if considered.all() else total - counted(~considered))).T


def excess(draws: SeedDraws, rng: np.random.Generator, n_boot: int = 200, level: float = 0.95) -> dict:
    """% PIEs of the pair and of the null at size m (means over the draws, with the range of the
    middle `level` of the draws: their seed-noise bands), the excess (pair minus null, in points),
    and a two-way bootstrap interval of the excess over draws and examples."""
    repeats, examples = draws.pair.shape
    pair = (draws.pair & draws.pair_considered).sum(axis=1) / np.maximum(draws.pair_considered.sum(axis=1), 1)
    null = (draws.null & draws.null_considered).sum(axis=1) / np.maximum(draws.null_considered.sum(axis=1), 1)
    estimates = []
    for resampled in index_draws(examples, n_boot, rng):  # [k, N] example indices per bootstrap repeat
        counts = _counts(resampled, examples)
        difference = _shares(draws.pair, draws.pair_considered, counts) - _shares(draws.null, draws.null_considered, counts)
        rows = rng.integers(0, repeats, size=(repeats, len(counts)))  # the draws, resampled per repeat
        estimates.append(np.take_along_axis(difference, rows, axis=0).mean(axis=0, dtype=np.float64))
    bounds = [50 * (1 - level), 50 * (1 + level)]
    low, high = np.percentile(100 * np.concatenate(estimates), bounds)
    pair_band, null_band = np.percentile(100 * pair, bounds), np.percentile(100 * null, bounds)
    return {
        "noise_size": draws.size, "noise_rule": draws.rule, "noise_draws": repeats,
        "pie_percent_at_size": 100 * float(pair.mean()), "pie_percent_at_size_low": float(pair_band[0]),
        "pie_percent_at_size_high": float(pair_band[1]), "null_percent": 100 * float(null.mean()),
        "null_low": float(null_band[0]), "null_high": float(null_band[1]),
        "excess_percent": 100 * float(pair.mean() - null.mean()), "excess_low": float(low), "excess_high": float(high),
    }


def confidence(draws: SeedDraws) -> np.ndarray:
    """float[N]: the share of the draws (that consider the example) in which it is a PIE."""
    considered = draws.pair_considered.sum(axis=0)
    return np.where(considered > 0, (draws.pair & draws.pair_considered).sum(axis=0) / np.maximum(considered, 1), 0.0)
