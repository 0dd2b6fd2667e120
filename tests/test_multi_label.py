"""Multi-label science on hand-made populations with known answers: thresholds, per-class
majority PIEs, metrics and the multi-label analyses."""

import numpy as np
import pytest

from pie.pies.losses import binary_cross_entropy, el2n_multi_label
from pie.analysis.options import AnalysisOptions
from pie.analysis.pair import PairInputs, SplitArrays, analyse_pair, dense_summary
from pie.pies.task import MULTI_LABEL, macro_f1
from pie.pies.decisions import binarize, logit_of, macro_f1_from_decisions, tune_threshold
from pie.pies import multi_label_pie_table, multi_label_pies

BIG = 10.0  # a logit far from any threshold: sigmoid(10) ≈ 0.99995


def population(decisions):
    """Logits [M, N, C] that binarise at τ = 0.5 to the given 0/1 decisions."""
    return np.where(np.asarray(decisions, dtype=bool), BIG, -BIG).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# thresholds


def test_binarize_matches_sigmoid_at_threshold():
    logits = np.array([[-2.0, 0.0, 0.4, 3.0]], dtype=np.float32)
    for tau in (0.0, 0.1, 0.5, 0.6, 0.99):
        expected = 1 / (1 + np.exp(-logits.astype(np.float64))) >= tau
        np.testing.assert_array_equal(binarize(logits, tau), expected)


def test_binarize_each_model_with_its_own_threshold():
    logits = np.zeros((2, 1, 1), dtype=np.float32)  # sigmoid = 0.5
    assert binarize(logits, [0.5, 0.6]).ravel().tolist() == [True, False]
    with pytest.raises(ValueError, match="one per model"):
        binarize(logits, [0.5, 0.6, 0.7])


def test_logit_of_rejects_thresholds_outside_unit_interval():
    assert logit_of(0.0) == -np.inf and logit_of(0.5) == 0.0
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        logit_of(1.0)


def test_macro_f1_counts_undefined_classes_as_zero():
    """Class 0: TP=1, FP=1, FN=0 → F1 = 2/3; class 1 never occurs nor is predicted → 0."""
    decisions = np.array([[1, 0], [1, 0], [0, 0]], dtype=bool)
    targets = np.array([[1, 0], [0, 0], [0, 0]])
    assert macro_f1_from_decisions(decisions, targets) == pytest.approx((2 / 3 + 0) / 2)
    assert macro_f1(decisions, targets) == pytest.approx(2 / 3)  # analyses skip undefined classes


def test_tune_threshold_picks_lowest_best_grid_value():
    """sigmoid(-0.1) = 0.475 must fall below τ, sigmoid(0.1) = 0.525 above: τ ∈ [0.48, 0.52] gives
    macro-F1 1 and the lowest such grid value wins."""
    logits = np.array([[2.0, -2.0], [0.1, -0.1], [-3.0, 3.0]])
    targets = np.array([[1, 0], [1, 0], [0, 1]])
    assert tune_threshold(logits, targets) == (0.48, 1.0)


def test_multilabel_metrics_by_hand():
    """Two examples, two classes at τ=0.5: predictions {0}, {0,1} vs gold {0}, {1}."""
    logits = np.array([[BIG, -BIG], [BIG, BIG]])
    targets = np.array([[1, 0], [0, 1]])
    metrics = MULTI_LABEL.run_metrics(logits, targets, 0.5)
    assert metrics["accuracy"] == pytest.approx(0.5)  # subset accuracy
    assert metrics["micro_precision"] == pytest.approx(2 / 3) and metrics["micro_recall"] == pytest.approx(1.0)
    assert metrics["macro_f1"] == pytest.approx((2 / 3 + 1.0) / 2)  # class 0: P=1/2 R=1; class 1: P=R=1


# ---------------------------------------------------------------------------------------------
# multi-label PIEs


def test_multi_label_pies_per_class_majority():
    """3 dense and 3 pruned models, 3 examples, 2 classes.

    Example 0: class 0 dense 3/3 yes, pruned 1/3 → flips; class 1 no/no.
    Example 1: both populations 2/3 yes for class 1, class 0 1/3 → no flip.
    Example 2: class 1 dense 1/3, pruned 2/3 → flips.
    """
    dense = population([
        [[1, 0], [0, 1], [0, 0]],
        [[1, 0], [1, 1], [0, 1]],
        [[1, 0], [0, 0], [0, 0]],
    ])
    pruned = population([
        [[1, 0], [0, 1], [0, 1]],
        [[0, 0], [1, 1], [0, 1]],
        [[0, 0], [0, 0], [0, 0]],
    ])
    flips = multi_label_pies(dense, pruned, [0.5] * 3, [0.5] * 3)
    assert flips.tolist() == [[True, False], [False, False], [False, True]]
    result = multi_label_pie_table(dense, pruned, [0.5] * 3, [0.5] * 3)
    assert result.is_pie.tolist() == [True, False, True]
    assert result.dense_votes.tolist() == [[3, 0], [1, 2], [0, 1]]
    assert result.pie_fraction == pytest.approx(2 / 3)


def test_multi_label_majority_is_strict():
    """2 of 4 models is not a majority (the reference's votes > M/2): that is a tie, decided 'no'."""
    dense = population([[[1]], [[1]], [[0]], [[0]]])
    pruned = population([[[0]], [[0]], [[0]], [[0]]])
    result = multi_label_pie_table(dense, pruned, [0.5] * 4, [0.5] * 4)
    assert not result.is_pie[0] and result.dense_tied.tolist() == [True]


def test_thresholds_decide_which_examples_are_pies():
    """Same logits, same populations: a pruned population whose models use τ = 0.9 stops
    predicting a class the dense models (τ = 0.5) predict at sigmoid 0.73."""
    logits = np.full((3, 1, 1), 1.0, dtype=np.float32)  # sigmoid(1) = 0.731
    assert not multi_label_pies(logits, logits, [0.5] * 3, [0.5] * 3).any()
    assert multi_label_pies(logits, logits, [0.5] * 3, [0.9] * 3).all()


def test_multi_label_pies_leave_inputs_untouched_and_check_shapes():
    """The reference binarised its callers' arrays in place; ours must not."""
    dense = np.random.default_rng(0).normal(size=(3, 5, 2)).astype(np.float32)
    copy = dense.copy()
    multi_label_pies(dense, dense, [0.5] * 3, [0.3] * 3)
    np.testing.assert_array_equal(dense, copy)
    with pytest.raises(ValueError, match="thresholds"):
        multi_label_pies(dense, dense, [0.5] * 2, [0.5] * 3)
    with pytest.raises(ValueError, match="same examples"):
        multi_label_pies(dense, dense[:, :4], [0.5] * 3, [0.5] * 3)


# ---------------------------------------------------------------------------------------------
# losses and difficulty


def test_binary_cross_entropy_and_el2n_by_hand():
    logits = np.array([[[0.0, 0.0]]])  # sigmoid 0.5 for both classes
    targets = np.array([[1, 0]])
    assert binary_cross_entropy(logits, targets)[0, 0] == pytest.approx(np.log(2))
    assert el2n_multi_label(logits, targets)[0] == pytest.approx(np.sqrt(0.5 ** 2 * 2))
    assert np.isfinite(binary_cross_entropy(np.array([[[500.0, -500.0]]]), np.array([[0, 1]]))).all()


# ---------------------------------------------------------------------------------------------
# the analyses of one pair


def toy_pair():
    """4 dense and 4 pruned models, 6 examples, 3 classes. The dense models all decide the gold
    set; the pruned models drop class 2 everywhere (examples 1, 3, 5 carry it → PIEs)."""
    gold = np.array([[1, 0, 0], [0, 1, 1], [1, 0, 0], [1, 1, 1], [0, 1, 0], [0, 0, 1]], dtype=np.int8)
    dense = population(np.repeat(gold[None], 4, axis=0))
    pruned_decisions = np.repeat(gold[None], 4, axis=0).copy()
    pruned_decisions[..., 2] = 0
    return gold, dense, population(pruned_decisions)


def test_analyse_multi_label_pair_by_hand():
    gold, dense, pruned = toy_pair()
    inputs = PairInputs(
        MULTI_LABEL, test=SplitArrays(dense, pruned, gold, np.full(4, 0.5), np.full(4, 0.5)),
        example_ids=np.array([f"e{i}" for i in range(6)], dtype=object),
        texts=[f"text {i}" for i in range(6)], label_names=("corn", "grain", "wheat"),
    )
    result = analyse_pair(inputs, np.random.default_rng(0), AnalysisOptions(n_boot=50, overlap_repeats=3))
    summary = result.summary
    assert summary["pies"] == 3 and summary["pie_percent"] == pytest.approx(50.0)
    assert summary["flipped_decisions"] == 3 and summary["metric"] == "macro_f1"
    assert summary["dense_modal_accuracy_all"] == pytest.approx(1.0)
    # pruned majority: classes 0 and 1 perfect, class 2 never predicted (3 positives) → F1 0
    assert summary["pruned_modal_accuracy_all"] == pytest.approx(2 / 3)
    assert result.accuracy["pruned_mean_all"] == pytest.approx(2 / 3)
    assert result.pies["is_pie"].tolist() == [False, True, False, True, False, True]
    assert result.pies["flipped_classes"].tolist() == [[], [2], [], [2], [], [2]]
    classes = result.classes.set_index("class")
    assert classes["count_all"].tolist() == [3, 3, 3] and classes["count_pies"].tolist() == [1, 2, 3]
    assert classes["flips"].tolist() == [0, 0, 3]
    change = result.class_change.set_index("class")
    assert change.loc[2, "dense_mean"] == pytest.approx(1.0) and change.loc[2, "pruned_mean"] == pytest.approx(0.0)
    examples = result.examples
    assert set(examples["group"]) == {"dense modal correct"}
    assert examples["gold"].tolist() == ["grain, wheat", "corn, grain, wheat", "wheat"]
    assert examples["pruned_modal"].tolist() == ["grain", "corn, grain", "(none)"]
    assert (result.overlap["jaccard_mean"] == 1.0).all()  # every model agrees: any draw finds the same PIEs


def test_dense_row_multi_label():
    gold, dense, _ = toy_pair()
    row = dense_summary(MULTI_LABEL, dense, gold, np.full(4, 0.5), "lowest")
    assert row["seeds"] == 4 and row["macro_f1_mean"] == pytest.approx(1.0) and row["accuracy_mean"] == pytest.approx(1.0)
    assert row["dense_ties"] == 0
