"""The paper's analyses (pie.analysis) on tiny hand-made inputs with answers worked out by hand."""

import math
import warnings

import numpy as np
import pandas as pd
import pytest
import textstat
from scipy import stats

from pie.analysis import resampling
from pie.analysis.accuracy import accuracy_row
from pie.analysis.classes import class_distribution, class_score_change
from pie.analysis.effectiveness import effectiveness_table
from pie.analysis.examples import GROUPS, pie_examples
from pie.analysis.influence import loss_ratio_from_losses, per_bin_share, rank_bins
from pie.analysis.overlap import bootstrap_percent, jaccard, pie_overlap
from pie.analysis.text import MEASURES, text_measures, text_ratios
from pie.analysis.training_measures import generalisation_gap, prune_stability_table, relative_drop
from pie.pies.losses import cross_entropy, el2n
from pie.pies.single_label import single_label_pie_table
from pie.pies.task import SINGLE_LABEL


def population(predictions, num_classes):
    """Logits [M, N, C] whose argmax is predictions[m][n] for every model m and example n."""
    return np.eye(num_classes)[np.asarray(predictions)]


def binary_logits(p_first):
    """Logits [M, N, 2] with softmax probability p_first for class 0."""
    p = np.asarray(p_first, dtype=float)
    return np.log(np.stack([p, 1 - p], axis=-1))


# ---------------------------------------------------------------- A1: effectiveness


def test_effectiveness_table_groups_seeds_and_puts_dense_first():
    runs = pd.DataFrame(
        [
            ("sst2", "bert", "magnitude", 0.9, 0, 0.5),
            ("sst2", "bert", "attention", 0.5, 0, 0.6),
            ("sst2", "bert", "magnitude", 0.5, 1, 0.8),
            ("sst2", "bert", "dense", 0.0, 0, 0.8),
            ("sst2", "bert", "magnitude", 0.5, 0, 0.7),
            ("sst2", "bert", "dense", 0.0, 1, 0.9),
            ("sst2", "bert", "dense", 0.0, 2, 1.0),
            ("imdb", "bert", "magnitude", 0.5, 0, 0.4),
            ("imdb", "bert", "dense", 0.0, 0, 0.6),
        ],
        columns=["dataset", "model", "method", "sparsity", "seed", "metric"],
    )
    table = effectiveness_table(runs)
    assert list(table.columns) == ["dataset", "model", "method", "sparsity", "seeds", "mean", "std"]
    assert list(zip(table["dataset"], table["method"], table["sparsity"])) == [
        ("imdb", "dense", 0.0),
        ("imdb", "magnitude", 0.5),
        ("sst2", "dense", 0.0),
        ("sst2", "attention", 0.5),
        ("sst2", "magnitude", 0.5),
        ("sst2", "magnitude", 0.9),
    ]
    assert table["seeds"].tolist() == [1, 1, 3, 1, 2, 1]
    np.testing.assert_allclose(table["mean"], [0.6, 0.4, 0.9, 0.6, 0.75, 0.5])
    np.testing.assert_allclose(table["std"], [np.nan, np.nan, 0.1, np.nan, math.sqrt(0.005), np.nan])


# ---------------------------------------------------------------- A3: accuracy on subsets


def test_accuracy_on_subsets():
    """A population decision's accuracy and the mean per-model accuracy, on all examples and a subset."""
    decisions = SINGLE_LABEL.decide(population([[0, 1, 1, 1], [0, 0, 1, 1]], 2))
    labels = np.array([0, 1, 0, 1])
    modal = np.array([0, 1, 1, 0])
    subset = np.array([False, False, True, True])
    assert SINGLE_LABEL.score(modal, labels) == 0.5 and SINGLE_LABEL.score(modal, labels, subset) == 0.0
    assert SINGLE_LABEL.mean_score(decisions, labels) == 0.625 and SINGLE_LABEL.mean_score(decisions, labels, subset) == 0.5


def test_accuracy_on_empty_subset_is_nan():
    decisions = SINGLE_LABEL.decide(population([[0, 1]], 2))
    labels, empty = np.array([0, 1]), np.zeros(2, bool)
    assert math.isnan(SINGLE_LABEL.score(labels, labels, empty)) and math.isnan(SINGLE_LABEL.mean_score(decisions, labels, empty))
    assert SINGLE_LABEL.score(labels, labels) == 1.0 and SINGLE_LABEL.mean_score(decisions, labels) == 1.0


def test_accuracy_row_scores_both_populations_on_all_and_on_the_pies():
    """Dense models predict [0,1,1,1] and [0,1,1,0] (modal, ties to the lowest: [0,1,1,0]); pruned
    [1,1,1,1] twice. Gold [0,1,1,0]: the PIEs are examples 0 and 3."""
    labels = np.array([0, 1, 1, 0])
    dense = SINGLE_LABEL.decide(population([[0, 1, 1, 1], [0, 1, 1, 0]], 2))
    pruned = SINGLE_LABEL.decide(population([[1, 1, 1, 1], [1, 1, 1, 1]], 2))
    votes = [SINGLE_LABEL.indicators(d, 2).sum(axis=0) for d in (dense, pruned)]
    result = SINGLE_LABEL.verdicts(*votes, 2, 2, "lowest")
    row = accuracy_row(SINGLE_LABEL, labels, dense, pruned, result)
    assert list(row) == list(SINGLE_LABEL.accuracy_order)
    assert row == {"pies": 2, "dense_modal_all": 1.0, "dense_modal_pies": 1.0, "dense_mean_all": 0.875, "dense_mean_pies": 0.75,
                   "pruned_modal_all": 0.5, "pruned_modal_pies": 0.0, "pruned_mean_all": 0.5, "pruned_mean_pies": 0.0,
                   "metric": "accuracy"}


# ---------------------------------------------------------------- A4: classes


def test_class_distribution():
    labels = np.array([0, 0, 1, 2, 2, 2])
    table = class_distribution(SINGLE_LABEL.gold(labels, 4), np.array([1, 0, 0, 1, 1, 0], bool))
    assert table["class"].tolist() == [0, 1, 2, 3]
    assert table["count_all"].tolist() == [2, 1, 3, 0]
    np.testing.assert_allclose(table["share_all"], [2 / 6, 1 / 6, 3 / 6, 0])
    assert table["count_pies"].tolist() == [1, 0, 2, 0]
    np.testing.assert_allclose(table["share_pies"], [1 / 3, 0, 2 / 3, 0])
    no_pies = class_distribution(SINGLE_LABEL.gold(labels, 4), np.zeros(6, bool))
    assert no_pies["share_pies"].tolist() == [0, 0, 0, 0]


def per_class_recall(logits, labels, num_classes):
    return SINGLE_LABEL.per_class_scores(SINGLE_LABEL.decide(logits), labels, num_classes)


def class_accuracy_change(dense, pruned, labels, num_classes, alpha=0.05):
    """A4's per-class table for single-label populations given as logits."""
    support = SINGLE_LABEL.gold(labels, num_classes).sum(axis=0)
    return class_score_change(per_class_recall(dense, labels, num_classes), per_class_recall(pruned, labels, num_classes), support, alpha)


def test_per_class_recall():
    logits = population([[0, 1, 1, 1, 0], [0, 0, 1, 1, 1]], 3)
    recall = per_class_recall(logits, np.array([0, 0, 1, 1, 1]), num_classes=3)
    np.testing.assert_allclose(recall, [[0.5, 2 / 3, np.nan], [1.0, 1.0, np.nan]])


# Class 0 and 1: four examples each; class 2: two examples every model gets right; class 3: none.
CLASS_LABELS = np.array([0, 0, 0, 0, 1, 1, 1, 1, 2, 2])


def class_population(correct_per_class):
    """Logits where model m gets the first correct_per_class[m][c] examples of class c right."""
    predictions = []
    for correct in correct_per_class:
        rank_in_class = np.array([0, 1, 2, 3, 0, 1, 2, 3, 0, 1])
        right = rank_in_class < np.asarray(correct)[CLASS_LABELS]
        predictions.append(np.where(right, CLASS_LABELS, (CLASS_LABELS + 1) % 4))
    return population(predictions, 4)


def test_class_accuracy_change_matches_welch_and_handles_constant_classes():
    dense = class_population([[4, 2, 2], [4, 3, 2], [3, 2, 2]])
    pruned = class_population([[1, 2, 2], [0, 2, 2], [1, 3, 2]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        table = class_accuracy_change(dense, pruned, CLASS_LABELS, num_classes=4)
    assert table["support"].tolist() == [4, 4, 2, 0]
    np.testing.assert_allclose(table["dense_mean"], [11 / 12, 7 / 12, 1.0, np.nan])
    np.testing.assert_allclose(table["pruned_mean"], [2 / 12, 7 / 12, 1.0, np.nan])
    np.testing.assert_allclose(table["change"], [-9 / 12, 0.0, 0.0, np.nan], atol=1e-12)
    for c in (0, 1):
        expected = stats.ttest_ind(
            per_class_recall(pruned, CLASS_LABELS, 4)[:, c],
            per_class_recall(dense, CLASS_LABELS, 4)[:, c],
            equal_var=False,
        )
        assert table.loc[c, "t"] == pytest.approx(expected.statistic)
        assert table.loc[c, "p"] == pytest.approx(expected.pvalue)
    assert table.loc[0, "t"] < 0 and table.loc[0, "p"] < 0.01
    assert table["t"].isna().tolist() == [False, False, True, True]
    assert table["p"].isna().tolist() == [False, False, True, True]
    assert table["significant"].tolist() == [True, False, False, False]
    assert table["significant"].sum() == 1


def test_class_accuracy_change_alpha_and_single_model():
    dense = class_population([[4, 2, 2], [4, 3, 2], [3, 2, 2]])
    pruned = class_population([[1, 2, 2], [0, 2, 2], [1, 3, 2]])
    assert class_accuracy_change(dense, pruned, CLASS_LABELS, 4, alpha=1e-6)["significant"].sum() == 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        single = class_accuracy_change(dense[:1], pruned, CLASS_LABELS, num_classes=4)
    assert single["t"].isna().all() and not single["significant"].any()


# ---------------------------------------------------------------- A5: influence


def test_el2n_by_hand():
    logits = np.array([[[0.0, 0.0], [math.log(3), 0.0], [1000.0, 0.0]]])
    labels = np.array([0, 1, 0])
    np.testing.assert_allclose(el2n(logits, labels), [math.sqrt(0.5), math.sqrt(2 * 0.75**2), 0.0])
    two_models = np.concatenate([logits, np.array([[[math.log(3), 0.0], [0.0, 0.0], [0.0, 1000.0]]])])
    np.testing.assert_allclose(
        el2n(two_models, labels),
        [
            (math.sqrt(0.5) + math.sqrt(2 * 0.25**2)) / 2,
            (math.sqrt(1.125) + math.sqrt(0.5)) / 2,
            math.sqrt(2) / 2,
        ],
    )


def test_rank_bins_with_ties():
    scores = np.array([0.5, 0.1, 0.1, 0.9, 0.3, 0.3, 0.3, 0.7, 0.2, 0.8])
    assert rank_bins(scores, n_bins=5).tolist() == [4, 1, 1, 5, 2, 3, 3, 4, 2, 5]
    uneven = rank_bins(np.zeros(7), n_bins=3)
    assert uneven.tolist() == [1, 1, 1, 2, 2, 3, 3]
    assert rank_bins(scores, n_bins=1).tolist() == [1] * 10
    for bad in (0, 11):
        with pytest.raises(ValueError):
            rank_bins(scores, n_bins=bad)


def test_per_bin_share():
    table = per_bin_share(np.array([1, 1, 2, 2, 3]), np.array([1, 0, 1, 1, 0], bool), n_bins=4)
    assert table["bin"].tolist() == [1, 2, 3, 4]
    assert table["examples"].tolist() == [2, 2, 1, 0]
    np.testing.assert_allclose(table["share"], [0.5, 1.0, 0.0, np.nan])


def test_cross_entropy():
    logits = np.array([[[math.log(3), 0.0], [math.log(3), 0.0]], [[1000.0, 0.0], [0.0, 0.0]]])
    losses = cross_entropy(logits, np.array([0, 1]))
    np.testing.assert_allclose(losses, [[-math.log(0.75), -math.log(0.25)], [0.0, math.log(2)]])


DENSE_P = [[0.5, 0.5, 0.5, 0.5], [0.25, 0.25, 0.5, 0.5]]
PRUNED_P = [[0.25, 0.5, 0.25, 0.25], [0.25, 0.25, 0.5, 0.5], [0.001] * 4]
LOSS_LABELS = np.zeros(4, dtype=int)
LOSS_BINS = np.array([1, 1, 2, 2])


def loss_ratio_per_bin(dense_logits, pruned_logits, labels, bins, n_bins):
    """Per-bin ratios of the models' losses, model i of each population as a pair."""
    return loss_ratio_from_losses(cross_entropy(dense_logits, labels), cross_entropy(pruned_logits, labels), bins, n_bins)


def test_loss_ratio_per_bin_pairs_models_by_index():
    # Per-pair ratios [2, 1, 2, 2] and [1, 1, 1, 1]; the third pruned model has no partner.
    dense, pruned = binary_logits(DENSE_P), binary_logits(PRUNED_P)
    table = loss_ratio_per_bin(dense, pruned, LOSS_LABELS, LOSS_BINS, 2)
    assert list(table.columns) == ["bin", "examples", "mean", "sem"]
    assert table["examples"].tolist() == [2, 2]
    np.testing.assert_allclose(table["mean"], [1.25, 1.5])
    np.testing.assert_allclose(table["sem"], [0.25, 0.0], atol=1e-12)


def test_loss_ratio_is_exact_for_confident_dense_models_and_undefined_at_zero_loss():
    """Dense logits [40, 0] have the exact loss log1p(e^-40) = 4.25e-18 (no floor: the ratio is
    log 2 / 4.25e-18); a dense loss that even float64 rounds to 0 (margin 1000) leaves the
    example's ratio undefined and out of the bin mean, not blown up to a floor's 1e12."""
    pruned = np.array([[[0.0, 0.0], [0.0, 0.0]]])
    table = loss_ratio_per_bin(np.array([[[40.0, 0.0], [1000.0, 0.0]]]), pruned, np.array([0, 0]), np.array([1, 1]), 1)
    assert table.loc[0, "examples"] == 1
    assert table.loc[0, "mean"] == pytest.approx(math.log(2) / math.log1p(math.exp(-40.0)), rel=1e-12)
    assert math.isnan(table.loc[0, "sem"])
    alone = loss_ratio_per_bin(np.array([[[1000.0, 0.0]]]), pruned[:, :1], np.array([0]), np.array([1]), 1)
    assert alone.loc[0, "examples"] == 0 and math.isnan(alone.loc[0, "mean"])
    # Two model pairs: example 1's first pair is undefined, its second is not: it counts, with that ratio.
    two = loss_ratio_per_bin(np.array([[[40.0, 0.0], [1000.0, 0.0]], [[40.0, 0.0], [40.0, 0.0]]]), np.concatenate([pruned, pruned]),
                             np.array([0, 0]), np.array([1, 1]), 1)
    assert two.loc[0, "examples"] == 2
    assert two.loc[0, "mean"] == pytest.approx(math.log(2) / math.log1p(math.exp(-40.0)), rel=1e-12)


# ---------------------------------------------------------------- A6: text


@pytest.fixture
def offline_syllables(monkeypatch):
    """textstat 0.7.13 counts English syllables with NLTK's cmudict and downloads it on first use.
    Where the corpus is not installed (offline), use textstat's own pyphen fallback instead; the
    syllable cache is cleared around the test so no count crosses between the two."""
    import nltk
    from textstat.backend.counts import _count_syllables

    try:
        nltk.data.find("corpora/cmudict")
    except LookupError:
        monkeypatch.setattr(_count_syllables, "get_cmudict", lambda lang: None)
    _count_syllables.count_syllables.cache_clear()
    yield
    _count_syllables.count_syllables.cache_clear()


SENTENCES = [
    "The cat sat on the mat.",
    "  Notwithstanding considerable difficulties, the   committee approved it. ",
]


def test_text_measures_match_textstat(offline_syllables):
    table = text_measures(SENTENCES)
    assert list(table.columns) == list(MEASURES) == [
        "tokens",
        "flesch_reading_ease",
        "flesch_kincaid_grade",
        "gunning_fog",
        "smog_index",
        "coleman_liau_index",
        "automated_readability_index",
        "dale_chall_readability_score",
        "difficult_words",
    ]
    assert (table.dtypes == float).all()
    assert table["tokens"].tolist() == [6.0, 7.0]
    for name in list(MEASURES)[1:]:
        expected = [float(getattr(textstat, name)(sentence)) for sentence in SENTENCES]
        assert table[name].tolist() == expected, name


def ratio_with_interval(values, subset, rng, n_boot=1000):
    """One measure's ratio (mean on the subset / mean on all) with its bootstrap interval."""
    return text_ratios(pd.DataFrame({"x": values}), subset, rng, n_boot).drop(columns="measure").iloc[0].to_dict()


def test_ratio_with_interval():
    values = np.array([1.0, 2, 3, 4, 5, 6])
    subset = np.array([0, 0, 0, 0, 1, 1], bool)
    first = ratio_with_interval(values, subset, np.random.default_rng(0), n_boot=500)
    assert first["ratio"] == pytest.approx(5.5 / 3.5)
    assert first["n_subset"] == 2
    assert first["low"] <= first["ratio"] <= first["high"]
    assert first["low"] < first["high"]
    assert ratio_with_interval(values, subset, np.random.default_rng(0), n_boot=500) == first


def test_ratio_with_interval_chunks_do_not_change_the_draws(monkeypatch):
    values = np.arange(1.0, 11.0)
    subset = values > 6
    whole = ratio_with_interval(values, subset, np.random.default_rng(1), n_boot=50)
    monkeypatch.setattr(resampling, "CHUNK_ELEMENTS", 7)
    assert ratio_with_interval(values, subset, np.random.default_rng(1), n_boot=50) == whole


def test_bootstrap_means_are_numpys_means_bit_for_bit(monkeypatch):
    """The resampled column means are, byte for byte, np.mean of each column gathered by the same
    resamples (drawn again from the same seed), for several gather batch sizes and shapes."""
    from pie.analysis.text import _bootstrap_means

    values = np.random.default_rng(3).normal(50.0, 20.0, size=(1001, 4)).round(2)
    values[::7, 1] = 1e9 / 3  # magnitudes that make the summation order matter
    for batch in (resampling.GATHER_ELEMENTS, 1001, 5000):
        monkeypatch.setattr(resampling, "GATHER_ELEMENTS", batch)
        rows = np.concatenate(list(resampling.gathered_draws(len(values), 37, np.random.default_rng(9))))
        expected = np.stack([values[:, k][rows].mean(axis=1) for k in range(values.shape[1])], axis=1)
        assert _bootstrap_means(values, 37, np.random.default_rng(9)).tobytes() == np.ascontiguousarray(expected).tobytes()


def test_ratio_with_interval_edge_cases():
    empty = ratio_with_interval(np.ones(4), np.zeros(4, bool), np.random.default_rng(0))
    assert empty["n_subset"] == 0 and all(math.isnan(empty[key]) for key in ("ratio", "low", "high"))
    some = np.array([1, 0, 1, 0, 0], bool)
    constant = ratio_with_interval(np.full(5, 2.0), some, np.random.default_rng(0))
    assert (constant["ratio"], constant["low"], constant["high"]) == pytest.approx((1.0, 1.0, 1.0))


def test_text_ratios():
    measures = pd.DataFrame({"tokens": [2.0, 4.0, 6.0], "gunning_fog": [1.0, 1.0, 4.0]})
    subset = np.array([0, 0, 1], bool)
    table = text_ratios(measures, subset, np.random.default_rng(0), n_boot=100)
    assert table["measure"].tolist() == ["tokens", "gunning_fog"]
    np.testing.assert_allclose(table["ratio"], [1.5, 2.0])
    assert (table["low"] <= table["ratio"]).all() and (table["ratio"] <= table["high"]).all()
    assert table["n_subset"].tolist() == [1, 1]


# ---------------------------------------------------------------- A7: examples


def test_pie_examples_groups_in_order():
    labels = np.array([0, 1, 2, 0, 1, 2])
    dense_modal = np.array([0, 0, 1, 1, 0, 2])
    pruned_modal = np.array([1, 1, 2, 0, 2, 2])
    is_pie = dense_modal != pruned_modal
    dense_votes = np.array([[3, 0, 0], [2, 1, 0], [0, 3, 0], [1, 2, 0], [2, 0, 1], [0, 0, 3]])
    pruned_votes = dense_votes[:, ::-1]
    names = ["neg", "neu", "pos"]

    def shown(values):
        return SINGLE_LABEL.shown(values, names)

    correct = (dense_modal == labels, pruned_modal == labels)
    table = pie_examples(
        ["t0", "t1", "t2", "t3", "t4", "t5"], shown(labels), shown(dense_modal), shown(pruned_modal), *correct,
        dense_votes, pruned_votes, is_pie, per_group=2, example_ids=["a", "b", "c", "d", "e", "f"],
    )
    assert list(table.columns) == [
        "group",
        "example_id",
        "text",
        "gold",
        "dense_modal",
        "pruned_modal",
        "dense_votes",
        "pruned_votes",
    ]
    assert table["group"].tolist() == [GROUPS[0], GROUPS[0], GROUPS[1], GROUPS[2]]
    assert table["example_id"].tolist() == ["b", "c", "a", "e"]
    assert table["text"].tolist() == ["t1", "t2", "t0", "t4"]
    assert table["gold"].tolist() == ["neu", "pos", "neg", "neu"]
    assert table["dense_modal"].tolist() == ["neg", "neu", "neg", "neg"]
    assert table["pruned_modal"].tolist() == ["neu", "pos", "neu", "pos"]
    assert table["dense_votes"].tolist() == [[2, 1, 0], [0, 3, 0], [3, 0, 0], [2, 0, 1]]
    assert table["pruned_votes"].tolist() == [[0, 1, 2], [0, 3, 0], [0, 0, 3], [1, 0, 2]]
    assert all(type(count) is int for votes in table["dense_votes"] for count in votes)
    default_ids = pie_examples(["t"] * 6, shown(labels), shown(dense_modal), shown(pruned_modal), *correct, dense_votes, pruned_votes, is_pie)
    assert default_ids["example_id"].tolist() == [1, 2, 3, 0, 4]


# ---------------------------------------------------------------- A8: PIE-set overlap


def test_jaccard():
    assert jaccard(np.array([1, 1, 0, 0], bool), np.array([1, 0, 1, 0], bool)) == pytest.approx(1 / 3)
    assert jaccard(np.zeros(3, bool), np.zeros(3, bool)) == 1.0
    assert jaccard(np.ones(3, bool), np.zeros(3, bool)) == 0.0


def agreeing(predictions, n_models, num_classes=3):
    """A population of n_models identical models."""
    return population([predictions] * n_models, num_classes)


def overlap(dense_logits, pruned_logits, **options):
    """A8 for single-label populations given as logits."""
    return pie_overlap(SINGLE_LABEL, *(SINGLE_LABEL.indicators(SINGLE_LABEL.decide(x), x.shape[2]) for x in (dense_logits, pruned_logits)),
                         "lowest", **options)


def test_pie_overlap_is_one_when_all_models_agree():
    dense = agreeing([0, 1, 2, 0, 1], 8)
    pruned = agreeing([0, 2, 2, 1, 1], 6)
    table = overlap(dense, pruned, sizes=[3, 5, 6], n_repeats=4, rng=np.random.default_rng(0))
    assert list(table.columns) == ["m", "disjoint", "repeats", "jaccard_mean", "jaccard_std"]
    assert table["m"].tolist() == [3, 5, 6]
    assert table["disjoint"].tolist() == [True, False, False]
    assert table["repeats"].tolist() == [4, 4, 4]
    assert table["jaccard_mean"].tolist() == [1.0, 1.0, 1.0]
    assert table["jaccard_std"].tolist() == [0.0, 0.0, 0.0]
    assert overlap(dense, pruned, n_repeats=2, rng=np.random.default_rng(0))["m"].tolist() == [3]


def test_pie_overlap_sizes_and_determinism():
    rng = np.random.default_rng(5)
    dense = population(rng.integers(0, 3, size=(6, 40)), 3)
    pruned = population(rng.integers(0, 3, size=(6, 40)), 3)
    first = overlap(dense, pruned, sizes=[1, 2, 4], n_repeats=5, rng=np.random.default_rng(1))
    assert first["disjoint"].tolist() == [True, True, False]
    assert first["jaccard_mean"].between(0, 1).all()
    again = overlap(dense, pruned, sizes=[1, 2, 4], n_repeats=5, rng=np.random.default_rng(1))
    pd.testing.assert_frame_equal(first, again)
    default = overlap(dense, pruned, n_repeats=2, rng=np.random.default_rng(0))
    assert default["m"].tolist() == [3] and default["disjoint"].tolist() == [True]
    small = overlap(dense[:2], pruned, n_repeats=2, rng=np.random.default_rng(0))
    assert small["m"].tolist() == [1]
    single_model = overlap(dense[:1], pruned, n_repeats=2, rng=np.random.default_rng(0))
    assert single_model["m"].tolist() == [1] and single_model["disjoint"].tolist() == [False]
    single = overlap(dense, pruned, sizes=[3], n_repeats=1, rng=np.random.default_rng(0))
    assert math.isnan(single.loc[0, "jaccard_std"])
    with pytest.raises(ValueError):
        overlap(dense, pruned, sizes=[7], rng=np.random.default_rng(0))
    with pytest.raises(TypeError):
        pie_overlap(SINGLE_LABEL, dense, pruned)  # no rng


def bootstrap_pie_percent(dense, pruned, rng, n_boot):
    """% PIEs with its interval over test examples for single-label populations given as logits."""
    result = single_label_pie_table(dense, pruned)
    return bootstrap_percent(result.is_pie, result.considered, rng, n_boot)


def test_bootstrap_pie_percent_is_a_point_when_no_or_every_example_is_a_pie():
    """Resampling examples cannot move 0% or 100%; 2 PIEs of 5 give an interval around 40%."""
    none = bootstrap_pie_percent(agreeing([0, 1, 2, 0, 1], 4), agreeing([0, 1, 2, 0, 1], 3), np.random.default_rng(0), n_boot=50)
    assert none == {"percent": 0.0, "low": 0.0, "high": 0.0}
    every = bootstrap_pie_percent(agreeing([0, 1, 2], 4), agreeing([1, 2, 0], 3), np.random.default_rng(0), n_boot=50)
    assert every == {"percent": 100.0, "low": 100.0, "high": 100.0}
    some = bootstrap_pie_percent(agreeing([0, 1, 2, 0, 1], 4), agreeing([0, 2, 2, 1, 1], 3), np.random.default_rng(0), n_boot=200)
    assert some["percent"] == 40.0 and some["low"] < 40.0 < some["high"]


def test_bootstrap_pie_percent_interval_contains_estimate():
    rng = np.random.default_rng(2)
    dense = population(rng.integers(0, 2, size=(7, 60)), 2)
    pruned = population(rng.integers(0, 2, size=(7, 60)), 2)
    result = bootstrap_pie_percent(dense, pruned, np.random.default_rng(0), n_boot=200)
    assert result["percent"] == pytest.approx(100 * single_label_pie_table(dense, pruned).pie_fraction)
    assert result["low"] <= result["percent"] <= result["high"]
    assert result["low"] < result["high"]
    assert bootstrap_pie_percent(dense, pruned, np.random.default_rng(0), n_boot=200) == result


# ---------------------------------------------------------------- A9, A10: the reference's training measures


def test_prune_stability_per_prune_over_seeds():
    """Two seeds, two prunes: (before - after) / before per prune, then mean and std over seeds;
    a dense run and a run recorded before prunes were measured add nothing."""
    population = {"dataset": "d", "model": "m", "method": "imp_ft", "sparsity": 0.5}
    runs = [{**population, "prunes": [{"after_epoch": 2, "measure": "accuracy", "before": 0.8, "after": 0.6},
                                      {"after_epoch": 4, "measure": "accuracy", "before": 0.5, "after": 0.5}]},
            {**population, "prunes": [{"after_epoch": 2, "measure": "accuracy", "before": 0.8, "after": 0.4},
                                      {"after_epoch": 4, "measure": "accuracy", "before": 0.5, "after": 0.6}]},
            {**population, "method": "dense", "sparsity": 0.0, "prunes": []}, {**population, "method": "old"}]
    table = prune_stability_table(runs)
    assert table["step"].tolist() == [1, 2] and table["after_epoch"].tolist() == [2, 4] and table["seeds"].tolist() == [2, 2]
    np.testing.assert_allclose(table["before_mean"], [0.8, 0.5])
    np.testing.assert_allclose(table["after_mean"], [0.5, 0.55])
    np.testing.assert_allclose(table["stability_mean"], [0.375, -0.1])  # (0.25 + 0.5) / 2, (0 - 0.2) / 2
    np.testing.assert_allclose(table["stability_std"], [math.sqrt(0.03125), math.sqrt(0.02)])
    assert prune_stability_table([{**population, "prunes": []}]).empty
    assert math.isnan(relative_drop(0.0, 0.0))


def test_generalisation_gap_is_train_minus_test_loss_per_model():
    """Softmax probabilities of the gold class: train 1/2, 1/4 per model; test 1/4, 1/2."""
    train, test = binary_logits([[0.5], [0.25]]), binary_logits([[0.25], [0.5]])
    gap = generalisation_gap(SINGLE_LABEL, train, np.array([0]), test, np.array([0]), "pruned")
    gaps = [math.log(0.25) - math.log(0.5), math.log(0.5) - math.log(0.25)]  # -log p_train + log p_test
    assert gap["pruned_train_loss"] == pytest.approx((math.log(2) + math.log(4)) / 2)
    assert gap["pruned_gap_mean"] == pytest.approx(np.mean(gaps)) and gap["pruned_gap_std"] == pytest.approx(np.std(gaps, ddof=1))
    assert math.isnan(generalisation_gap(SINGLE_LABEL, train[:1], np.array([0]), test[:1], np.array([0]), "dense")["dense_gap_std"])


def test_a_pair_analysed_from_its_dense_side_precomputed_gives_the_same_numbers():
    """identify_pies makes each dense population's DenseTest / DenseTrain once per process and
    hands them to all its pairs: the same analyses as each pair deriving them itself."""
    from pie.analysis.options import AnalysisOptions
    from pie.analysis.pair import DenseTest, DenseTrain, PairInputs, SplitArrays, analyse_pair, el2n_bins
    from pie.pies.task import SINGLE_LABEL as task

    rng = np.random.default_rng(4)
    labels, train_labels = rng.integers(0, 3, 30), rng.integers(0, 3, 60)
    dense, pruned = rng.normal(size=(6, 30, 3)).astype(np.float32), rng.normal(size=(6, 30, 3)).astype(np.float32)
    train_dense, train_pruned = (rng.normal(size=(6, 60, 3)).astype(np.float32) for _ in range(2))
    test = SplitArrays(dense, pruned, labels, shared_seeds=6, classes=3)
    train = SplitArrays(None, None, train_labels, shared_seeds=6, classes=3,
                        **{f"{side}_{what}": getattr(task, method)(logits, *extra) for side, logits in (("dense", train_dense), ("pruned", train_pruned))
                           for what, method, extra in (("decisions", "decide", ()), ("losses", "ratio_losses", (train_labels,)))})
    bins = el2n_bins(task.el2n_norms(train_dense, train_labels), 4)
    ids = np.array([f"e{i}" for i in range(30)], dtype=object)
    options = AnalysisOptions(n_boot=40, overlap_repeats=3, noise_repeats=20)
    plain = analyse_pair(PairInputs(task, test, ids, train=train, train_bins=bins, n_bins=4), np.random.default_rng(0), options)
    sent = analyse_pair(PairInputs(task, test, ids, train=train, train_bins=bins, dense_train=DenseTrain.of(task, train), dense_test=DenseTest.of(task, test), n_bins=4),
                        np.random.default_rng(0), options)
    assert pd.Series(sent.summary).equals(pd.Series(plain.summary))
    for name in ("pies", "classes", "class_change", "overlap", "influence", "generalisation_gap"):
        pd.testing.assert_frame_equal(getattr(sent, name), getattr(plain, name), check_exact=True)
    assert len(plain.influence) == 4 and len(plain.generalisation_gap) == 1


def test_aligned_pairs_models_by_seed_without_copying_the_shared_order():
    """SplitArrays.aligned puts the shared seeds first in both populations. Where that is each
    population's own order, its arrays are read-only views of the population's (a pair does not
    copy the dense arrays all its pairs share); otherwise read-only copies in the new order."""
    import pyarrow as pa

    from pie.analysis.pair import SplitArrays
    from pie.runs.discovery import PopulationLogits

    def population(seeds):
        m = len(seeds)
        return PopulationLogits(seeds=np.array(seeds), ids=pa.array(["a", "b"]), labels=np.array([0, 1]),
                                thresholds=np.full(m, np.nan), classes=2,
                                logits=np.arange(m * 4, dtype=np.float32).reshape(m, 2, 2) + 10 * np.array(seeds)[:, None, None],
                                decisions=np.array([[s % 2, 1] for s in seeds]), losses=np.array([[s, s + 0.5] for s in seeds], dtype=float))

    dense, same, other = population([0, 1, 2]), population([0, 1, 2]), population([2, 5, 0])
    arrays, order = SplitArrays.aligned(dense, same, dense.labels)
    assert order == (0, 1, 2) and arrays.paired == 3
    for given, field in ((dense, "dense"), (same, "pruned")):
        for name in ("logits", "decisions", "losses", "thresholds"):
            view = getattr(arrays, field if name == "logits" else f"{field}_{name}")
            assert np.shares_memory(view, getattr(given, name)) and not view.flags.writeable
            with pytest.raises(ValueError, match="read-only"):
                view[0] = 0
    arrays, order = SplitArrays.aligned(dense, other, dense.labels)
    assert order == (0, 2, 1) and arrays.paired == 2  # seeds 0 and 2 first, in the dense order
    assert arrays.dense_losses[:, 0].tolist() == [0, 2, 1] and arrays.pruned_losses[:, 0].tolist() == [0, 2, 5]
    assert np.array_equal(arrays.pruned, other.logits[[2, 0, 1]]) and not arrays.pruned.flags.writeable
    assert not np.shares_memory(arrays.dense_decisions, dense.decisions) and not arrays.dense_decisions.flags.writeable
