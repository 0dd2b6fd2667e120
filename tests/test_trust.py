"""PIEs you can trust: the seed-noise null model, per-example confidence, degenerate models, and
agreement beyond PIEs (churn, loyalties, taxicab), on hand-made populations with answers worked
out by hand, single- and multi-label, ties included."""

import math

import numpy as np
import pytest

from pie.analysis.agreement import DenseBaselines, churn, probability_loyalty, taxicab
from pie.analysis.degenerate import degeneracy
from pie.analysis.noise import common_size, confidence, draw_models, excess, seed_draws
from pie.analysis.overlap import models_by_class, votes_of_draws, votes_of_rest
from pie.pies.losses import js_divergence
from pie.pies.task import MULTI_LABEL, SINGLE_LABEL


def indicators(predictions, classes):
    """0/1 indicators [M, N, C] of single-label predictions [M][N]."""
    return SINGLE_LABEL.indicators(np.asarray(predictions), classes)


# ---------------------------------------------------------------------------------------------
# the null model


@pytest.mark.parametrize("dense, pruned, expected", [
    (10, 10, (5, "half")), (30, 10, (10, "full")), (20, 10, (10, "full")), (19, 10, (9, "half")), (1, 5, (0, "half")),
])
def test_common_size(dense, pruned, expected):
    """Full size when the dense population holds two disjoint draws of the pruned size, else half of it."""
    assert common_size(dense, pruned) == expected


def test_agreeing_dense_models_give_a_zero_null_and_the_pies_are_all_excess():
    """4 identical dense models, 2 identical pruned ones that flip examples 0 and 1 of 5: in every
    draw (m = 2, full) the null finds nothing and the pair finds those 2 examples: excess 40
    points; its interval comes from resampling the 5 test examples alone (the draws all agree),
    and is a point when every example is a PIE. Confidence 1 on the two, 0 elsewhere."""
    dense = indicators([[0, 1, 0, 1, 0]] * 4, 2)
    pruned = indicators([[1, 0, 0, 1, 0]] * 2, 2)
    draws = seed_draws(SINGLE_LABEL, dense, pruned, np.random.default_rng(0), repeats=50)
    assert (draws.size, draws.rule, draws.repeats) == (2, "full", 50)
    result = excess(draws, np.random.default_rng(1), n_boot=100)
    assert result["null_percent"] == 0.0 and result["pie_percent_at_size"] == pytest.approx(40.0)
    assert result["excess_percent"] == pytest.approx(40.0)
    assert result["excess_low"] < 40.0 < result["excess_high"]
    assert confidence(draws).tolist() == [1.0, 1.0, 0.0, 0.0, 0.0]
    every = excess(seed_draws(SINGLE_LABEL, dense, indicators([[1, 0, 1, 0, 1]] * 2, 2), np.random.default_rng(0), repeats=20),
                   np.random.default_rng(1), n_boot=100)
    assert (every["excess_percent"], every["excess_low"], every["excess_high"]) == (100.0, 100.0, 100.0)


def test_the_null_measures_seed_noise_between_disjoint_dense_draws():
    """Example 0: dense models say 0, 0, 1, 1. Of the 3 ways to split them into two disjoint pairs,
    only {0,1 | 2,3} gives different modal labels (the ties of {0,2} and {0,3} go to the lowest
    class, 0, on both sides), so the null is a PIE on it in 1/3 of the draws."""
    dense = indicators([[0, 1], [0, 1], [1, 1], [1, 1]], 2)
    pruned = indicators([[0, 1], [0, 1]], 2)
    draws = seed_draws(SINGLE_LABEL, dense, pruned, np.random.default_rng(3), repeats=3000)
    assert draws.null[:, 0].mean() == pytest.approx(1 / 3, abs=0.03) and not draws.null[:, 1].any()
    result = excess(draws, np.random.default_rng(4), n_boot=200)
    assert result["null_percent"] == pytest.approx(100 / 6, abs=1.5)  # 1/3 of example 0, none of example 1
    assert result["excess_low"] <= result["excess_percent"] <= result["excess_high"]
    assert excess(draws, np.random.default_rng(4), n_boot=200) == result  # same seed, same interval


def test_ties_excluded_from_the_null_and_the_pair():
    """tie="exclude": a draw whose two dense models split 1-1 does not consider that example."""
    dense = indicators([[0], [1], [0], [1]], 2)
    pruned = indicators([[0], [0]], 2)
    draws = seed_draws(SINGLE_LABEL, dense, pruned, np.random.default_rng(0), repeats=200, tie="exclude")
    split = draws.pair_considered[:, 0]
    assert split.any() and not split.all()  # drawn pairs {0,1}, {0,3}, ... are tied, {0,2} and {1,3} are not
    assert not (draws.pair & ~draws.pair_considered).any()


def test_multi_label_null_and_excess():
    """Decisions per class: 4 dense models decide [1,0], [0,1], [1,1] on 3 examples; 2 pruned
    models drop class 1 of example 2: one PIE of 3 at every draw, no null."""
    dense = np.repeat(np.array([[[1, 0], [0, 1], [1, 1]]], dtype=np.int8), 4, axis=0)
    pruned = np.repeat(np.array([[[1, 0], [0, 1], [1, 0]]], dtype=np.int8), 2, axis=0)
    draws = seed_draws(MULTI_LABEL, dense, pruned, np.random.default_rng(0), repeats=20)
    result = excess(draws, np.random.default_rng(0), n_boot=50)
    assert result["null_percent"] == 0.0 and result["excess_percent"] == pytest.approx(100 / 3)
    assert confidence(draws).tolist() == [0.0, 0.0, 1.0]


@pytest.mark.parametrize("copies, rule", [(2, "full"), (4, "half")])
def test_a_pruned_draw_never_meets_the_dense_models_of_its_own_seeds(copies, rule):
    """Pruned models that decide exactly as the dense models of their seeds (paired) are pruning
    that changed nothing: the excess must be exactly 0. m = 2 in both cases. Full (2 copies of
    dense 0, 1): P = pruned {0, 1}, so A = dense {2, 3} and B = dense {0, 1}. Half (4 copies): P is
    2 of the 4, A the 2 dense models of the other seeds, B the dense models of P's seeds. Either
    way A vs P is A vs B in every draw. Were A allowed to hold P's seeds, it would meet its own
    copies there and find no PIE where the null does."""
    dense = indicators([[0, 1, 1], [0, 0, 1], [1, 1, 0], [1, 0, 0]], 2)
    draws = seed_draws(SINGLE_LABEL, dense, dense[:copies].copy(), np.random.default_rng(0), repeats=300, paired=copies)
    assert (draws.size, draws.rule) == (2, rule)
    assert np.array_equal(draws.pair, draws.null) and draws.null.any()
    result = excess(draws, np.random.default_rng(1), n_boot=100)
    assert (result["excess_percent"], result["excess_low"], result["excess_high"]) == (0.0, 0.0, 0.0)


def test_no_null_for_a_single_dense_model():
    assert seed_draws(SINGLE_LABEL, indicators([[0, 1]], 2), indicators([[0, 1]], 2), np.random.default_rng(0)) is None


# ---------------------------------------------------------------------------------------------
# agreement beyond PIEs


def test_churn_pairs_models_by_seed_and_compares_dense_models_for_the_baseline():
    """Seed pairs (dense i, pruned i) differ on 1 of 3 examples each: churn 2/6. The two dense
    models differ on example 2: baseline 1/3. No seed pair: NaN."""
    dense, pruned = np.array([[0, 1, 1], [0, 1, 0]]), np.array([[1, 1, 1], [0, 0, 0]])
    assert churn(SINGLE_LABEL, dense, pruned, paired=2) == pytest.approx(1 / 3)
    assert DenseBaselines.of(SINGLE_LABEL, np.zeros((2, 3, 2)), dense).churn == pytest.approx(1 / 3)
    assert math.isnan(churn(SINGLE_LABEL, dense, pruned, paired=0))
    multi_dense = np.array([[[1, 0], [0, 1]], [[1, 0], [0, 0]]], dtype=bool)
    multi_pruned = np.array([[[1, 1], [0, 1]], [[1, 0], [0, 0]]], dtype=bool)
    assert churn(MULTI_LABEL, multi_dense, multi_pruned, paired=2) == pytest.approx(1 / 4)
    assert DenseBaselines.of(MULTI_LABEL, np.zeros((2, 2, 2)), multi_dense).churn == pytest.approx(1 / 2)


def test_jensen_shannon_divergence_by_hand():
    """P = [1/2, 1/2], Q = [1, 0]: M = [3/4, 1/4]; KL(P||M) = 0.20752, KL(Q||M) = 0.41504 bits."""
    assert js_divergence([0.5, 0.5], [1.0, 0.0]) == pytest.approx(0.311278, abs=1e-6)
    assert js_divergence([0.2, 0.8], [0.2, 0.8]) == 0.0 and js_divergence([1.0, 0.0], [0.0, 1.0]) == 1.0


def test_probability_loyalty_by_hand():
    """Dense model 0 softmax [1/2, 1/2] (logits 0, 0), its pruned model [1, 0] in effect (logits 50,
    0): loyalty 1 - 0.311278. Dense model 1 equals its pruned model: loyalty 1. Mean 0.844361.
    The two dense models differ as [1/2, 1/2] vs [1, 0]: baseline 0.688722."""
    dense = np.array([[[0.0, 0.0]], [[50.0, 0.0]]])
    pruned = np.array([[[50.0, 0.0]], [[50.0, 0.0]]])
    baselines = DenseBaselines.of(SINGLE_LABEL, dense, dense.argmax(axis=2))
    pair = probability_loyalty(SINGLE_LABEL, baselines.probabilities, SINGLE_LABEL.probabilities(pruned), paired=2)
    assert pair == pytest.approx(1 - 0.311278 / 2, abs=1e-6) and baselines.probability_loyalty == pytest.approx(1 - 0.311278, abs=1e-6)
    multi = DenseBaselines.of(MULTI_LABEL, np.zeros((2, 1, 2)), np.zeros((2, 1, 2), dtype=bool))
    assert probability_loyalty(MULTI_LABEL, multi.probabilities, multi.probabilities, paired=2) == 1.0
    assert multi.probability_loyalty == 1.0


def test_taxicab_by_hand():
    """Dense votes [3, 1] of 4 models, pruned [0, 2] of 2: |3/4 - 0| + |1/4 - 1| = 1.5."""
    assert taxicab(np.array([[3, 1]]), np.array([[0, 2]]), 4, 2).tolist() == [1.5]
    assert taxicab(np.array([[2, 2, 0]]), np.array([[1, 1, 0]]), 4, 2).tolist() == [0.0]


# ---------------------------------------------------------------------------------------------
# degenerate models and populations


def test_degenerate_single_label_models():
    """Balanced gold labels (majority baseline 0.5). Model 0 answers 1 for 99 of 100 examples
    (collapsed); model 1 is right on 50 (no better than the baseline); model 2 on 60 with mixed
    answers (fine). 2 of 3 are degenerate: the population is."""
    labels = np.array([0, 1] * 50)
    collapsed = np.ones(100, dtype=int)
    collapsed[0] = 0
    chance = np.array([0, 0, 1, 1] * 25)
    decent = labels.copy()
    decent[:40] = 1 - decent[:40]
    result = degeneracy(SINGLE_LABEL, np.stack([collapsed, chance, decent]), labels)
    assert result.baseline == 0.5 and result.constant_share.tolist() == [0.99, 0.5, 0.5]
    assert result.score.tolist() == pytest.approx([0.51, 0.5, 0.6])
    assert result.degenerate.tolist() == [True, True, False] and result.population_degenerate
    assert "99.0% of the test examples" in result.reason(0)


def test_degenerate_multi_label_models():
    """Gold sets {0}, {0}, {1}, {0, 1}: the most frequent is {0}, whose constant answer scores
    macro-F1 (F1 class 0 = 2·3/(4+3) = 6/7, class 1 = 0) / 2 = 3/7. A model that answers the
    empty set everywhere is degenerate; one that answers the gold sets is not."""
    labels = np.array([[1, 0], [1, 0], [0, 1], [1, 1]], dtype=np.int8)
    empty = np.zeros((4, 2), dtype=bool)
    result = degeneracy(MULTI_LABEL, np.stack([empty, labels.astype(bool)]), labels)
    assert result.baseline == pytest.approx(3 / 7)
    assert result.constant_share.tolist() == [1.0, 0.5] and result.degenerate.tolist() == [True, False]
    assert not result.population_degenerate  # 1 of 2 is not more than half


@pytest.mark.parametrize("classes", [2, 3, 7, 8, 54])
def test_taxicab_is_the_same_for_votes_in_any_memory_layout(classes):
    """Votes of seed draws lie class by class in memory (pie.analysis.overlap.votes_of_draws);
    their taxicab scores equal those of the same votes laid out example by example, bit for bit."""
    rng = np.random.default_rng(classes)
    dense, pruned = (rng.integers(0, 16, size=(7, 300, classes)).astype(np.float32) for _ in range(2))
    by_class = [np.moveaxis(np.ascontiguousarray(np.moveaxis(v, -1, 0)), 0, -1) for v in (dense, pruned)]
    expected = np.abs(dense / 15 - pruned / 15).sum(axis=-1)
    assert np.array_equal(taxicab(*by_class, 15, 15), expected) and np.array_equal(taxicab(dense, pruned, 15, 15), expected)


# ---------------------------------------------------------------------------------------------
# the same numbers however the work is cut up (pie.analysis.noise, resampling)


@pytest.mark.parametrize("task, tie", [(SINGLE_LABEL, "lowest"), (SINGLE_LABEL, "exclude"), (MULTI_LABEL, "lowest")])
def test_seed_draws_and_excess_do_not_depend_on_how_many_draws_are_compared_at_once(monkeypatch, task, tie):
    """The draws are voted and compared CHUNK at a time; any chunk (1000: all at once) gives the
    same verdicts and distances, and the excess's resample counts are each resample's bincount."""
    import pie.analysis.noise as noise

    rng = np.random.default_rng(5)
    if task is SINGLE_LABEL:
        dense, pruned = indicators(rng.integers(0, 3, (12, 40)), 3), indicators(rng.integers(0, 3, (6, 40)), 3)
    else:
        dense, pruned = rng.integers(0, 2, (12, 40, 4)).astype(np.int8), rng.integers(0, 2, (6, 40, 4)).astype(np.int8)
    found = {}
    for chunk in (1, 7, 1000):
        monkeypatch.setattr(noise, "CHUNK", chunk)
        draws = seed_draws(task, dense, pruned, np.random.default_rng(0), repeats=23, tie=tie, paired=6)
        found[chunk] = (draws, excess(draws, np.random.default_rng(1), n_boot=30))
    first = found[1]
    for draws, summary in found.values():
        assert summary == first[1]
        for name in ("pair", "null", "pair_considered", "null_considered"):
            assert np.array_equal(getattr(draws, name), getattr(first[0], name))
        assert (draws.pair_taxicab, draws.null_taxicab) == (first[0].pair_taxicab, first[0].null_taxicab)
    resampled = rng.integers(0, 40, (5, 40))
    assert np.array_equal(noise._counts(resampled, 40), np.stack([np.bincount(row, minlength=40) for row in resampled]))


def test_bootstrap_intervals_do_not_depend_on_how_many_resamples_are_gathered_at_once(monkeypatch):
    """A5/A6/% PIE intervals gather a few resamples at a time (gathered_draws); one at a time, or all
    at once, gives the same numbers."""
    import pandas as pd

    import pie.analysis.resampling as resampling
    from pie.analysis.overlap import bootstrap_percent
    from pie.analysis.text import text_ratios

    rng = np.random.default_rng(2)
    measures = pd.DataFrame(rng.random((57, 3)), columns=["a", "b", "c"])
    subset, considered = rng.random(57) < 0.3, rng.random(57) < 0.9
    found = []
    for elements in (1, 100, 1 << 22):
        monkeypatch.setattr(resampling, "GATHER_ELEMENTS", elements)
        found.append((text_ratios(measures, subset, np.random.default_rng(0), n_boot=50),
                      bootstrap_percent(subset & considered, considered, np.random.default_rng(0), n_boot=50)))
    for text, percent in found[1:]:
        pd.testing.assert_frame_equal(text, found[0][0], check_exact=True)
        assert percent == found[0][1]


@pytest.mark.parametrize("task, dense_models, pruned_models, tie", [
    (SINGLE_LABEL, 12, 6, "lowest"),  # full size: A and B split the 12 dense models
    (SINGLE_LABEL, 10, 10, "highest"),  # half size: A and B split them too
    (SINGLE_LABEL, 11, 10, "exclude"),  # half size: one dense model is in neither A nor B
    (SINGLE_LABEL, 10, 10, "pie"),
    (MULTI_LABEL, 10, 10, "lowest"),
    (MULTI_LABEL, 13, 6, "lowest"),
])
def test_seed_draws_are_the_definition_draw_by_draw(task, dense_models, pruned_models, tie):
    """Each draw's verdicts are task.pie_masks of its models' votes summed one model at a time (A
    vs P, A vs B), and the mean taxicab distances those of taxicab(), whichever way seed_draws gets
    there (B's votes as the population's minus A's where A and B split the dense models; A decided
    once for both comparisons). A never holds the dense model of a seed P holds."""
    rng = np.random.default_rng(11)
    if task is SINGLE_LABEL:  # 3 classes and few models: many tied votes
        dense, pruned = indicators(rng.integers(0, 3, (dense_models, 60)), 3), indicators(rng.integers(0, 3, (pruned_models, 60)), 3)
    else:
        dense, pruned = (rng.integers(0, 2, (models, 60, 4)).astype(np.int8) for models in (dense_models, pruned_models))
    paired, repeats = min(dense_models, pruned_models), 25
    draws = seed_draws(task, dense, pruned, np.random.default_rng(4), repeats=repeats, tie=tie, paired=paired)
    a, b, p = draw_models(dense_models, pruned_models, draws.size, paired, repeats, np.random.default_rng(4))
    distances = {"pair": [], "null": []}
    for r in range(repeats):
        assert not set(a[r]) & set(b[r]) and not set(a[r]) & set(p[r][p[r] < paired])
        votes_a, votes_b, votes_p = (models[drawn].sum(axis=0) for models, drawn in ((dense, a[r]), (dense, b[r]), (pruned, p[r])))
        for name, other in (("pair", votes_p), ("null", votes_b)):
            is_pie, considered = task.pie_masks(votes_a, other, draws.size, draws.size, tie)
            assert np.array_equal(getattr(draws, name)[r], is_pie) and np.array_equal(getattr(draws, f"{name}_considered")[r], considered)
            distances[name].append(taxicab(votes_a, other, draws.size, draws.size))
    assert draws.null.any() and draws.pair.any()
    assert draws.pair_taxicab == pytest.approx(np.mean(distances["pair"]), rel=1e-6)
    assert draws.null_taxicab == pytest.approx(np.mean(distances["null"]), rel=1e-6)


def test_votes_of_the_models_a_draw_leaves_out():
    """votes_of_rest: the population's votes minus a draw's are the votes of the models it left
    out, in votes_of_draws' memory layout."""
    rng = np.random.default_rng(1)
    models = indicators(rng.integers(0, 4, (9, 30)), 4)
    drawn = [rng.permutation(9)[:4] for _ in range(5)]
    by_class = models_by_class(models)
    rest = votes_of_rest(votes_of_draws(models, drawn, by_class), by_class.sum(axis=0))
    expected = votes_of_draws(models, [np.setdiff1d(np.arange(9), d) for d in drawn], by_class)
    assert np.array_equal(rest, expected) and rest.strides == expected.strides
    assert np.array_equal(rest[0], models[np.setdiff1d(np.arange(9), drawn[0])].sum(axis=0))
