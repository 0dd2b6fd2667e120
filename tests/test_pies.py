"""Modal labels, vote counts and single-label PIEs on tiny hand-made populations."""

import inspect

import numpy as np
import pytest

from pie.pies import (
    TIE_RULES,
    PieResult,
    modal_labels,
    single_label_pie_table,
    single_label_pies,
    vote_counts,
)
from pie.pies.modal import modal_from_votes

C = 3

# Predicted class of each model (rows) on each example (columns).
# Dense population: 4 models, 6 examples.
DENSE_PREDICTIONS = [
    [0, 1, 2, 0, 1, 0],
    [0, 1, 2, 1, 2, 0],
    [0, 2, 2, 1, 1, 2],
    [1, 1, 0, 0, 2, 2],
]
DENSE_VOTES = [[3, 1, 0], [0, 3, 1], [1, 0, 3], [2, 2, 0], [0, 2, 2], [2, 0, 2]]
DENSE_TIED = [False, False, False, True, True, True]
DENSE_LOWEST = [0, 1, 2, 0, 1, 0]
DENSE_HIGHEST = [0, 1, 2, 1, 2, 2]

# Pruned population: 3 models, the same 6 examples.
PRUNED_PREDICTIONS = [
    [0, 2, 2, 1, 0, 0],
    [0, 2, 1, 1, 1, 0],
    [1, 1, 2, 1, 2, 1],
]
PRUNED_VOTES = [[2, 1, 0], [0, 1, 2], [0, 1, 2], [0, 3, 0], [1, 1, 1], [2, 1, 0]]
PRUNED_TIED = [False, False, False, False, True, False]
PRUNED_LOWEST = [0, 2, 2, 1, 0, 0]
PRUNED_HIGHEST = [0, 2, 2, 1, 2, 0]

PIES_LOWEST = [False, True, False, True, True, False]
PIES_HIGHEST = [False, True, False, False, False, True]
PIES_PIE = [False, True, False, True, True, True]
PIES_EXCLUDE = [False, True, False, False, False, False]
CONSIDERED_EXCLUDE = [True, True, True, False, False, False]


def population(predictions, n_classes=C, seed=0):
    """Logits [M, N, C] whose argmax is `predictions[m][n]` (noise plus a +10 boost)."""
    predictions = np.asarray(predictions)
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=predictions.shape + (n_classes,)).astype(np.float32)
    m, n = np.indices(predictions.shape)
    logits[m, n, predictions] += 10.0
    assert (logits.argmax(axis=2) == predictions).all()
    return logits


@pytest.fixture
def dense():
    return population(DENSE_PREDICTIONS, seed=1)


@pytest.fixture
def pruned():
    return population(PRUNED_PREDICTIONS, seed=2)


def test_vote_counts_hand_computed(dense, pruned):
    """Votes[n, c] counts the models whose argmax is c, and each row sums to M."""
    np.testing.assert_array_equal(vote_counts(dense), DENSE_VOTES)
    np.testing.assert_array_equal(vote_counts(pruned), PRUNED_VOTES)
    assert vote_counts(dense).dtype == np.int64
    np.testing.assert_array_equal(vote_counts(dense).sum(axis=1), [4] * 6)
    np.testing.assert_array_equal(vote_counts(pruned).sum(axis=1), [3] * 6)


def test_vote_counts_single_model_is_one_hot():
    """A population of one model gives one-hot votes of its predictions."""
    logits = population([[2, 0, 1]])
    np.testing.assert_array_equal(vote_counts(logits), [[0, 0, 1], [1, 0, 0], [0, 1, 0]])


def test_modal_labels_default_is_lowest(dense):
    """modal_labels returns (labels, votes); default tie rule picks the lowest tied class."""
    labels, votes = modal_labels(dense)
    np.testing.assert_array_equal(labels, DENSE_LOWEST)
    np.testing.assert_array_equal(votes, DENSE_VOTES)
    assert labels.dtype == np.int64


def test_modal_labels_lowest_matches_argmax_of_votes(dense, pruned):
    """tie="lowest" equals np.argmax over the vote counts (the reference behaviour)."""
    for logits in (dense, pruned):
        labels, votes = modal_labels(logits, tie="lowest")
        np.testing.assert_array_equal(labels, votes.argmax(axis=1))


def test_modal_labels_highest(dense, pruned):
    """tie="highest" breaks a tie toward the highest tied class; untied examples unchanged."""
    np.testing.assert_array_equal(modal_labels(dense, tie="highest")[0], DENSE_HIGHEST)
    np.testing.assert_array_equal(modal_labels(pruned, tie="highest")[0], PRUNED_HIGHEST)


@pytest.mark.parametrize("tie", ["pie", "exclude"])
def test_modal_labels_pie_and_exclude_label_like_lowest(dense, tie):
    """The "pie" and "exclude" rules label examples like "lowest"."""
    np.testing.assert_array_equal(modal_labels(dense, tie=tie)[0], DENSE_LOWEST)


def test_modal_from_votes_reports_ties():
    """modal_from_votes returns (labels, is_tied) from hand-written vote counts."""
    votes = np.array([[1, 3, 0], [2, 2, 0], [0, 2, 2], [1, 1, 1], [0, 0, 4], [2, 0, 2]])
    labels, tied = modal_from_votes(votes, "lowest")
    np.testing.assert_array_equal(labels, [1, 0, 1, 0, 2, 0])
    np.testing.assert_array_equal(tied, [False, True, True, True, False, True])
    labels, tied = modal_from_votes(votes, "highest")
    np.testing.assert_array_equal(labels, [1, 1, 2, 2, 2, 2])
    np.testing.assert_array_equal(tied, [False, True, True, True, False, True])


def test_modal_from_votes_unknown_tie_rule():
    """An unknown tie rule raises ValueError naming the allowed rules."""
    with pytest.raises(ValueError, match="lowest"):
        modal_from_votes(np.array([[1, 0]]), "random")
    with pytest.raises(ValueError, match="unknown tie rule"):
        modal_labels(population([[0, 1]]), tie="median")
    assert TIE_RULES == ("lowest", "highest", "pie", "exclude")


def test_pies_lowest(dense, pruned):
    """Default rule: PIE where the lowest-tie-broken modal labels differ."""
    np.testing.assert_array_equal(single_label_pies(dense, pruned), PIES_LOWEST)
    np.testing.assert_array_equal(single_label_pies(dense, pruned, tie="lowest"), PIES_LOWEST)
    assert single_label_pies(dense, pruned).dtype == bool


def test_pies_highest(dense, pruned):
    """tie="highest": PIE where the highest-tie-broken modal labels differ."""
    np.testing.assert_array_equal(single_label_pies(dense, pruned, tie="highest"), PIES_HIGHEST)


def test_pies_tie_rule_pie(dense, pruned):
    """tie="pie": every example tied in either population is a PIE, plus label changes."""
    np.testing.assert_array_equal(single_label_pies(dense, pruned, tie="pie"), PIES_PIE)


def test_pies_tie_rule_exclude(dense, pruned):
    """tie="exclude": tied examples are never PIEs and are not considered."""
    table = single_label_pie_table(dense, pruned, tie="exclude")
    np.testing.assert_array_equal(table.is_pie, PIES_EXCLUDE)
    np.testing.assert_array_equal(table.considered, CONSIDERED_EXCLUDE)
    assert table.pie_fraction == pytest.approx(1 / 3)


@pytest.mark.parametrize("tie", ["lowest", "highest", "pie"])
def test_considered_everything_unless_exclude(dense, pruned, tie):
    """Rules other than "exclude" consider every example."""
    table = single_label_pie_table(dense, pruned, tie=tie)
    assert table.considered.all()
    assert table.considered.shape == (6,)


@pytest.mark.parametrize(
    "tie, expected",
    [("lowest", 3 / 6), ("highest", 2 / 6), ("pie", 4 / 6), ("exclude", 1 / 3)],
)
def test_pie_fraction(dense, pruned, tie, expected):
    """pie_fraction = number of PIEs / number of considered examples."""
    assert single_label_pie_table(dense, pruned, tie=tie).pie_fraction == pytest.approx(expected)


def test_pie_fraction_nan_when_nothing_considered():
    """When every example is excluded as tied, pie_fraction is NaN (0 / 0)."""
    dense = population([[0, 1], [1, 0]])  # both examples tied 1-1
    pruned = population([[0, 0]])
    table = single_label_pie_table(dense, pruned, tie="exclude")
    assert not table.considered.any()
    assert not table.is_pie.any()
    assert np.isnan(table.pie_fraction)


def test_pie_table_contents(dense, pruned):
    """The table carries modal labels, votes and tie flags of both populations."""
    table = single_label_pie_table(dense, pruned)
    assert isinstance(table, PieResult)
    np.testing.assert_array_equal(table.dense_modal, DENSE_LOWEST)
    np.testing.assert_array_equal(table.pruned_modal, PRUNED_LOWEST)
    np.testing.assert_array_equal(table.dense_votes, DENSE_VOTES)
    np.testing.assert_array_equal(table.pruned_votes, PRUNED_VOTES)
    np.testing.assert_array_equal(table.dense_tied, DENSE_TIED)
    np.testing.assert_array_equal(table.pruned_tied, PRUNED_TIED)
    np.testing.assert_array_equal(table.is_pie, PIES_LOWEST)


def test_pie_table_highest_modal_labels(dense, pruned):
    """Under tie="highest" the table's modal labels are the highest-tie-broken ones."""
    table = single_label_pie_table(dense, pruned, tie="highest")
    np.testing.assert_array_equal(table.dense_modal, DENSE_HIGHEST)
    np.testing.assert_array_equal(table.pruned_modal, PRUNED_HIGHEST)


def test_identical_populations_have_no_pies(dense):
    """A population compared with itself has no PIEs (except ties under "pie")."""
    for tie in ("lowest", "highest", "exclude"):
        assert not single_label_pies(dense, dense, tie=tie).any()
    np.testing.assert_array_equal(single_label_pies(dense, dense, tie="pie"), DENSE_TIED)


def test_population_sizes_may_differ(dense, pruned):
    """Dense has 4 models and pruned 3: allowed; also 1 model vs 4."""
    assert dense.shape[0] == 4 and pruned.shape[0] == 3
    assert single_label_pies(dense, pruned).shape == (6,)
    one = population([[0, 2, 2, 1, 0, 0]])
    np.testing.assert_array_equal(single_label_pies(dense, one), [False, True, False, True, True, False])


def test_mismatched_examples_raise(dense):
    """Different numbers of examples N raise ValueError."""
    other = population([[0, 1, 2, 0, 1]] * 3)  # N = 5
    with pytest.raises(ValueError, match="same examples"):
        single_label_pies(dense, other)
    with pytest.raises(ValueError):
        single_label_pie_table(other, dense)


def test_mismatched_classes_raise(dense):
    """Different numbers of classes C raise ValueError."""
    other = population(DENSE_PREDICTIONS, n_classes=4)
    with pytest.raises(ValueError, match="same examples and classes"):
        single_label_pies(dense, other)


@pytest.mark.parametrize("shape", [(6, 3), (3,), (2, 2, 6, 3)])
def test_non_3d_input_raises(dense, shape):
    """Logits that are not [M, N, C] raise ValueError in every entry point."""
    bad = np.zeros(shape, dtype=np.float32)
    with pytest.raises(ValueError, match="models, examples, classes"):
        vote_counts(bad)
    with pytest.raises(ValueError):
        modal_labels(bad)
    with pytest.raises(ValueError):
        single_label_pies(bad, dense)
    with pytest.raises(ValueError):
        single_label_pies(dense, bad)


def test_empty_population_raises():
    """A population of zero models raises ValueError."""
    with pytest.raises(ValueError, match="at least one model"):
        vote_counts(np.zeros((0, 4, 3)))


def test_unknown_tie_rule_raises(dense, pruned):
    """single_label_pies / _table reject an unknown tie rule."""
    with pytest.raises(ValueError, match="unknown tie rule"):
        single_label_pies(dense, pruned, tie="random")
    with pytest.raises(ValueError, match="unknown tie rule"):
        single_label_pie_table(dense, pruned, tie="Lowest")


def test_pies_do_not_depend_on_gold_labels(dense, pruned):
    """No gold labels enter the API; rescaling logits (same argmax) keeps the verdicts.

    Example 0 is predicted 0 by both modal labels: it is no PIE whatever its gold label.
    """
    for function in (single_label_pies, single_label_pie_table):
        parameters = set(inspect.signature(function).parameters)
        assert parameters == {"dense_logits", "pruned_logits", "tie"}
    rescaled = single_label_pies(dense * 3.0 + 7.0, pruned * 0.5 - 2.0)
    np.testing.assert_array_equal(rescaled, PIES_LOWEST)
    assert not single_label_pies(dense, pruned)[0]


def test_accepts_python_lists():
    """Nested lists are accepted as logits."""
    dense = [[[2.0, 1.0], [0.0, 1.0]], [[3.0, 0.0], [0.0, 5.0]]]  # modal [0, 1]
    pruned = [[[0.0, 1.0], [0.0, 1.0]]]  # modal [1, 1]
    np.testing.assert_array_equal(single_label_pies(dense, pruned), [True, False])


@pytest.mark.parametrize("classes", [1, 2, 3, 5, 7, 8, 13, 54])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_last_axis_sum_and_max_match_numpy_bit_for_bit(classes, dtype):
    """The class-by-class passes give NumPy's sum and max of a contiguous last axis exactly (signed
    zeros, infinities and NaN included), also for arrays laid out class by class in memory."""
    from pie.pies.losses import last_axis_max, last_axis_sum

    rng = np.random.default_rng(classes)
    values = (rng.standard_normal((40, 50, classes)) * 10.0 ** rng.integers(-8, 8, size=(40, 50, classes))).astype(dtype)
    values[0, :5] = -0.0
    values[1, 0, 0], values[2, 0, -1], values[3, 0, 0] = np.inf, -np.inf, np.nan
    by_class = np.moveaxis(np.ascontiguousarray(np.moveaxis(values, -1, 0)), 0, -1)
    for layout in (values, by_class):
        for ours, numpy in ((last_axis_sum(layout), values.sum(axis=-1)), (last_axis_max(layout), values.max(axis=-1))):
            assert ours.dtype == numpy.dtype
            assert np.array_equal(ours.view(np.uint8), numpy.view(np.uint8))


@pytest.mark.parametrize("classes", [1, 2, 3, 7, 54])
def test_cross_entropy_matches_the_plain_formula_bit_for_bit(classes):
    """cross_entropy's flat takes and 0/1 mask give the bits of the formula it speeds up
    (take_along_axis and np.where), with or without the caller's argmax: on ties, signed zeros,
    confident and huge logits, infinite maxima, NaN rows and negative (wrapping) labels."""
    from pie.pies.losses import cross_entropy
    from pie.pies.modal import argmax_last

    def plain(logits, labels):
        top_class = logits.argmax(axis=-1)
        top = np.take_along_axis(logits, top_class[..., None], axis=-1)[..., 0].astype(np.float64)
        rest = np.zeros(top.shape)
        for c in range(logits.shape[-1]):
            rest += np.where(top_class == c, 0.0, np.exp(logits[..., c] - top))
        return (top - np.take_along_axis(logits, labels[None, :, None], axis=2)[..., 0]) + np.log1p(rest)

    rng = np.random.default_rng(classes)
    logits = (rng.standard_normal((3, 400, classes)) * rng.choice([0.1, 3.0, 30.0], size=(3, 400, classes))).astype(np.float32)
    logits[:, :100] = np.round(logits[:, :100])  # ties
    logits[:, 100:110], logits[:, 110:120, 0], logits[:, 120:130, 0], logits[:, 130:140] = 0.0, -0.0, 40.0, 1e30
    labels = rng.integers(0, classes, 400)
    infinite, missing, wrapped = logits.copy(), logits.copy(), labels.copy()
    infinite[0, 150:160, -1], infinite[1, 160:170, 0] = np.inf, -np.inf
    missing[0, 5, -1], missing[2, 7] = np.nan, np.nan
    wrapped[3] = -1
    with np.errstate(invalid="ignore"):
        for values, gold in ((logits, labels), (infinite, labels), (missing, labels), (logits, wrapped)):
            expected = plain(values, gold).view(np.uint8)
            assert np.array_equal(cross_entropy(values, gold).view(np.uint8), expected)
            assert np.array_equal(cross_entropy(values, gold, argmax_last(values)).view(np.uint8), expected)


@pytest.mark.parametrize("classes", [1, 2, 3, 5, 54, 130])
@pytest.mark.parametrize("kind", ["votes", "floats"])
def test_top_classes_and_argmax_match_numpy(classes, kind):
    """The counting passes of pie.pies.modal give NumPy's first (and, reversed, last) argmax and the
    number of classes at the maximum, on random arrays full of ties (small integer votes) or of
    floats with NaN rows (no maximum: class 0, as before); in any memory layout."""
    from pie.pies.modal import _top_classes, argmax_last

    rng = np.random.default_rng(classes)
    if kind == "votes":
        values = rng.integers(0, 4, size=(60, 70, classes)).astype(rng.choice([np.int64, np.float32]))
    else:
        values = rng.standard_normal((60, 70, classes))
        values[rng.random((60, 70)) < 0.05, rng.integers(0, classes)] = np.nan
    nan_rows = np.isnan(values).any(axis=-1) if kind == "floats" else np.zeros(values.shape[:-1], dtype=bool)
    first = np.where(nan_rows, 0, np.argmax(values, axis=-1))
    last = np.where(nan_rows, 0, classes - 1 - np.argmax(values[..., ::-1], axis=-1))
    at_top = (values == values.max(axis=-1, keepdims=True)).sum(axis=-1)
    by_class = np.moveaxis(np.ascontiguousarray(np.moveaxis(values, -1, 0)), 0, -1)
    for layout in (values, by_class):
        for highest, expected in ((False, first), (True, last)):
            labels, counts = _top_classes(layout, highest)
            assert np.array_equal(labels, expected) and np.array_equal(counts, at_top)
        assert argmax_last(layout).dtype == np.int64 and np.array_equal(argmax_last(layout), first)
        assert np.array_equal(argmax_last(layout, highest=True), last)


def test_votes_count_the_models_deciding_each_class():
    """task.votes: the indicators summed over the models, by hand (single-label counts class by class)."""
    from pie.pies.task import MULTI_LABEL, SINGLE_LABEL

    decisions = np.array([[0, 2, 1], [0, 1, 1], [2, 2, 1]])
    expected = np.array([[2, 0, 1], [0, 1, 2], [0, 3, 0]])
    assert SINGLE_LABEL.votes(decisions, 3).tolist() == expected.tolist() and SINGLE_LABEL.votes(decisions, 3).dtype == np.int64
    assert np.array_equal(SINGLE_LABEL.votes(decisions, 3), SINGLE_LABEL.indicators(decisions, 3).sum(axis=0, dtype=np.int64))
    multi = np.array([[[1, 0], [1, 1]], [[0, 0], [1, 0]]], dtype=bool)
    assert MULTI_LABEL.votes(multi, 2).tolist() == [[1, 0], [2, 1]]
