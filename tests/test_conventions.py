"""The analysis conventions (pie.pies.conventions) on the minimal inputs of issue 14, with the
numbers worked out by hand: the reference code's under `reference`, pie's under `pie`."""

import math

import numpy as np
import pytest

from pie.analysis.accuracy import accuracy_row
from pie.analysis.influence import loss_ratio_from_losses
from pie.errors import ConfigError
from pie.pies.conventions import CONVENTIONS, PIE, REFERENCE, conventions_named, deciding
from pie.pies.decisions import tune_threshold
from pie.pies.losses import binary_cross_entropies, binary_cross_entropy, cross_entropy
from pie.pies.task import MULTI_LABEL, SINGLE_LABEL, task_for

MULTI = {name: task_for(True, conventions) for name, conventions in CONVENTIONS.items()}
SOFTPLUS = {z: math.log1p(math.exp(z)) for z in (-4.0, 0.0, 2.0)}  # softplus(z) = log(1 + e^z)


def test_subset_macro_f1_scores_an_absent_class_zero_or_leaves_it_out():
    """Gold [1, 0], decided [1, 0]: class 1 has no gold and no predicted positive; F1 (1 + 0) / 2
    under the reference (scikit-learn), 1 over the one scored class under pie."""
    gold, decided = np.array([[1, 0]]), np.array([[True, False]])
    assert MULTI["reference"].score(decided, gold) == 0.5
    assert MULTI["pie"].score(decided, gold) == 1.0
    assert MULTI["reference"].mean_score(decided[None], gold) == 0.5 and MULTI["pie"].mean_score(decided[None], gold) == 1.0
    assert math.isnan(MULTI["reference"].score(decided, gold, np.array([False])))  # an empty subset has no score


def test_a3_row_follows_the_conventions():
    """A3 on the PIEs: the flipped example has gold in both classes, so the conventions agree
    there; on the first example alone (class 1 absent) they differ as above."""
    gold = np.array([[1, 0], [1, 1]])
    dense, pruned = np.array([[[True, False], [True, True]]]), np.array([[[True, False], [False, True]]])
    result = MULTI_LABEL.verdicts(dense[0].astype(int), pruned[0].astype(int), 1, 1, "lowest")
    rows = {name: accuracy_row(task, gold, dense, pruned, result) for name, task in MULTI.items()}
    assert rows["pie"]["dense_modal_pies"] == rows["reference"]["dense_modal_pies"] == 1.0  # both classes defined on the PIE
    assert rows["pie"]["pruned_modal_pies"] == rows["reference"]["pruned_modal_pies"] == 0.5  # F1 0 and 1
    only_first = np.array([True, False])
    assert MULTI["reference"].score(pruned[0], gold, only_first) == 0.5 and MULTI["pie"].score(pruned[0], gold, only_first) == 1.0


def test_multi_label_loss_ratio_averages_per_class_ratios_or_divides_class_means():
    """y = [1, 0], dense logits [4, 0], pruned [0, 2]. BCE per class: dense softplus(-4), log 2;
    pruned log 2, softplus(2). Reference: mean of the ratios = 20.63; pie: ratio of the means = 3.965."""
    gold, dense, pruned = np.array([[1, 0]]), np.array([[[4.0, 0.0]]]), np.array([[[0.0, 2.0]]])
    reference = (math.log(2) / SOFTPLUS[-4.0] + SOFTPLUS[2.0] / math.log(2)) / 2
    pie = (math.log(2) + SOFTPLUS[2.0]) / (SOFTPLUS[-4.0] + math.log(2))
    assert round(reference, 2) == 20.63 and round(pie, 3) == 3.965
    for name, expected in (("reference", reference), ("pie", pie)):
        task = MULTI[name]
        table = loss_ratio_from_losses(task.ratio_losses(dense, gold), task.ratio_losses(pruned, gold), np.array([1]), 1)
        assert table.loc[0, "mean"] == pytest.approx(expected, rel=1e-12)


def test_error_bars_bin_mean_of_model_std_over_root_n_or_sem_across_examples():
    """Two model pairs with ratios [[1, 3], [3, 1]] on two examples of one bin: each example's
    std over models (ddof=0) is 1, so the reference's bar is 1 / √2 = 0.707; the per-example
    means are [2, 2], so pie's standard error across examples is 0."""
    dense, pruned = np.ones((2, 2)), np.array([[1.0, 3.0], [3.0, 1.0]])
    for conventions, expected in ((REFERENCE, 1 / math.sqrt(2)), (PIE, 0.0)):
        table = loss_ratio_from_losses(dense, pruned, np.array([1, 1]), 1, conventions.error_bars)
        assert table.loc[0, "mean"] == 2.0 and table.loc[0, "sem"] == pytest.approx(expected, abs=1e-15)
    assert SINGLE_LABEL.using(REFERENCE).conventions.error_bars == "model_std"


def test_decision_at_the_threshold_is_negative_only_under_the_reference():
    """z = 0 at τ = 0.5: sigmoid(0) = 0.5 is not > 0.5 (reference) but is >= 0.5 (pie)."""
    logits = np.zeros((1, 1, 1))
    assert not MULTI["reference"].decide(logits, [0.5]).any()
    assert MULTI["pie"].decide(logits, [0.5]).all()
    assert deciding(True) is REFERENCE and deciding(False) is PIE


def test_threshold_search_decides_by_the_rule():
    """A positive at z = 5 and a negative at z = 0: under >= the negative stays out only above
    τ = 0.5 (lowest best grid τ 0.51); under > already at τ = 0.5. Both reach macro-F1 1."""
    logits, targets = np.array([[5.0], [0.0]]), np.array([[1], [0]])
    assert tune_threshold(logits, targets) == (0.51, 1.0)
    assert tune_threshold(logits, targets, strict=True) == (0.5, 1.0)
    assert MULTI["reference"].threshold("validation", (logits, targets), None) == {
        "value": 0.5, "tuned_on": "validation", "macro_f1": 1.0, "decision": ">"}


def test_losses_of_confident_models_stay_exact():
    """Dense logits [40, 0] (gold 0): cross-entropy log1p(e^-40) = 4.25e-18, not 0; BCE at z = 40
    for a positive likewise (logaddexp(0, z) - z would cancel to 0)."""
    exact = math.log1p(math.exp(-40.0))
    assert exact == pytest.approx(4.248354255291589e-18, rel=1e-15)
    assert cross_entropy(np.array([[[40.0, 0.0]]], dtype=np.float32), np.array([0]))[0, 0] == pytest.approx(exact, rel=1e-12)
    assert binary_cross_entropies(np.array([[[40.0, -40.0]]]), np.array([[1, 0]]))[0, 0].tolist() == pytest.approx([exact] * 2, rel=1e-12)
    assert binary_cross_entropy(np.array([[[0.0, 2.0]]]), np.array([[1, 0]]))[0, 0] == pytest.approx((math.log(2) + SOFTPLUS[2.0]) / 2)
    ties = cross_entropy(np.array([[[3.0, 3.0, 1.0]]]), np.array([1]))[0, 0]
    assert ties == pytest.approx(math.log(2 + math.exp(-2.0)))


def test_conventions_are_named_and_described():
    assert conventions_named("reference") is REFERENCE
    with pytest.raises(ConfigError, match="conventions must be one of pie, reference"):
        conventions_named("paper")
    assert "sigmoid(z) > τ" in REFERENCE.describe() and "sigmoid(z) >= τ" in PIE.describe()
    assert task_for(True).conventions is PIE and task_for(True, REFERENCE).using(PIE).conventions is PIE
