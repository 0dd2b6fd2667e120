"""Masks from scores (layer-wise and global, exact sparsity, ties, monotone) and sparsity reports."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from pie.pruning.masks import full_masks, prune_to_sparsity, sparsity_report
from pie.pruning.scores import magnitude


def ones_like_all(scores):
    return {name: torch.ones_like(s, dtype=torch.bool) for name, s in scores.items()}


@pytest.fixture
def small_scores():
    return {
        "a": torch.tensor([[0.5, 0.1, 0.9], [0.3, 0.7, 0.2]]),
        "b": torch.tensor([4.0, 1.0, 3.0, 2.0]),
    }


def test_full_masks():
    """full_masks keeps everything and has the parameters' shapes."""
    masks = full_masks({"w": torch.zeros(2, 3), "v": torch.zeros(4)})
    assert masks["w"].dtype == torch.bool and masks["w"].shape == (2, 3) and masks["w"].all()
    assert masks["v"].shape == (4,) and masks["v"].all()


def test_layerwise_removes_lowest_per_tensor(small_scores):
    """Layerwise at 0.5: k = 3 of "a" (0.1, 0.2, 0.3) and k = 2 of "b" (1, 2)."""
    new = prune_to_sparsity(small_scores, ones_like_all(small_scores), 0.5, "layerwise")
    assert new["a"].tolist() == [[True, False, True], [False, True, False]]
    assert new["b"].tolist() == [True, False, True, False]
    assert new["a"].dtype == torch.bool and new["a"].shape == (2, 3)


def test_layerwise_is_default_scope(small_scores):
    """scope defaults to layerwise."""
    new = prune_to_sparsity(small_scores, ones_like_all(small_scores), 0.5)
    assert new["b"].tolist() == [True, False, True, False]


def test_layerwise_k_is_rounded(small_scores):
    """k = round(s * numel): 0.3 * 6 = 1.8 -> 2 of "a"; 0.3 * 4 = 1.2 -> 1 of "b"."""
    new = prune_to_sparsity(small_scores, ones_like_all(small_scores), 0.3, "layerwise")
    assert new["a"].tolist() == [[True, False, True], [True, True, False]]
    assert new["b"].tolist() == [True, False, True, True]


def test_global_removes_lowest_over_union(small_scores):
    """Global at 0.5: the 5 lowest of all 10 scores are 0.1, 0.2, 0.3, 0.5, 0.7 (all in "a")."""
    new = prune_to_sparsity(small_scores, ones_like_all(small_scores), 0.5, "global")
    assert new["a"].tolist() == [[False, False, True], [False, False, False]]
    assert new["b"].tolist() == [True, True, True, True]


def test_global_crosses_tensors(small_scores):
    """Global at 0.7: k = 7 -> everything in "a" plus 1.0 of "b"."""
    new = prune_to_sparsity(small_scores, ones_like_all(small_scores), 0.7, "global")
    assert new["a"].tolist() == [[False, False, False], [False, False, False]]
    assert new["b"].tolist() == [True, False, True, True]


def test_sparsity_zero_and_one(small_scores):
    """Sparsity 0 keeps everything; sparsity 1 removes everything."""
    masks = ones_like_all(small_scores)
    for scope in ("layerwise", "global"):
        kept = prune_to_sparsity(small_scores, masks, 0.0, scope)
        assert all(m.all() for m in kept.values())
        gone = prune_to_sparsity(small_scores, masks, 1.0, scope)
        assert not any(m.any() for m in gone.values())


def test_ties_broken_by_lowest_flat_index():
    """Equal scores: the lowest flat indices go first."""
    scores = {"w": torch.ones(2, 3)}
    new = prune_to_sparsity(scores, ones_like_all(scores), 0.5, "layerwise")
    assert new["w"].tolist() == [[False, False, False], [True, True, True]]

    scores = {"w": torch.tensor([2.0, 1.0, 1.0, 1.0, 3.0, 1.0])}
    # k = 3 among the four 1.0s at indices 1, 2, 3, 5: drop 1, 2, 3 and keep 5.
    new = prune_to_sparsity(scores, ones_like_all(scores), 0.5, "layerwise")
    assert new["w"].tolist() == [True, False, False, False, True, True]


def test_ties_global_follow_tensor_order():
    """Global ties: flat index over the concatenation in mask order."""
    scores = {"first": torch.ones(3), "second": torch.ones(3)}
    new = prune_to_sparsity(scores, ones_like_all(scores), 4 / 6, "global")
    assert new["first"].tolist() == [False, False, False]
    assert new["second"].tolist() == [False, True, True]


def test_ties_skip_already_pruned_entries():
    """Tie-breaking counts only kept entries: pruned index 0 is not "removed" again."""
    scores = {"w": torch.ones(6)}
    masks = {"w": torch.tensor([False, True, True, True, True, True])}
    new = prune_to_sparsity(scores, masks, 0.5, "layerwise")  # k = 3 - 1 = 2 more
    assert new["w"].tolist() == [False, False, False, True, True, True]


@pytest.mark.parametrize("scope", ["layerwise", "global"])
def test_masks_never_regrow(scope):
    """An already-pruned entry stays pruned even with the highest score."""
    scores = {"w": torch.tensor([10.0, 1.0, 2.0, 3.0])}
    masks = {"w": torch.tensor([False, True, True, True])}
    new = prune_to_sparsity(scores, masks, 0.5, scope)  # one more to go: score 1.0
    assert new["w"].tolist() == [False, False, True, True]
    # A lower target than the current sparsity changes nothing (no regrowth).
    again = prune_to_sparsity(scores, new, 0.25, scope)
    assert again["w"].tolist() == [False, False, True, True]
    # The input mask is not modified in place.
    assert masks["w"].tolist() == [False, True, True, True]


@pytest.mark.parametrize("scope", ["layerwise", "global"])
def test_monotone_over_increasing_sparsities(scope):
    """Over 0.2 -> 0.99 with fresh random scores each step, each mask is a subset of the last."""
    generator = torch.Generator().manual_seed(0)
    shapes = {"w1": (40, 50), "w2": (30, 30), "w3": (1000,)}
    masks = {n: torch.ones(s, dtype=torch.bool) for n, s in shapes.items()}
    total = sum(m.numel() for m in masks.values())
    for sparsity in (0.2, 0.5, 0.7, 0.9, 0.99):
        scores = {n: torch.rand(s, generator=generator) for n, s in shapes.items()}
        new = prune_to_sparsity(scores, masks, sparsity, scope)
        for name in masks:
            assert not (new[name] & ~masks[name]).any(), f"{name} regrew at {sparsity}"
        zeros = sum(int((~m).sum()) for m in new.values())
        assert zeros == pytest.approx(sparsity * total, abs=len(shapes))
        masks = new


@pytest.mark.parametrize("sparsity", [0.2, 0.5, 0.9, 0.99])
@pytest.mark.parametrize("scope", ["layerwise", "global"])
def test_achieved_sparsity_matches_target(scope, sparsity):
    """Achieved sparsity is within 0.1% of the target on tensors of a few thousand entries."""
    generator = torch.Generator().manual_seed(1)
    scores = {
        "a": torch.randn(50, 40, generator=generator),
        "b": torch.randn(3000, generator=generator),
        "c": torch.randn(25, 60, generator=generator),
    }
    new = prune_to_sparsity(scores, ones_like_all(scores), sparsity, scope)
    zeros = {n: int((~m).sum()) for n, m in new.items()}
    total = sum(s.numel() for s in scores.values())
    assert abs(sum(zeros.values()) / total - sparsity) <= 1e-3
    if scope == "layerwise":
        for name, score in scores.items():
            assert zeros[name] == round(sparsity * score.numel())
            assert abs(zeros[name] / score.numel() - sparsity) <= 1e-3
    else:
        assert sum(zeros.values()) == round(sparsity * total)
        # Every removed score is <= every kept score.
        removed = torch.cat([scores[n][~new[n]] for n in scores])
        kept = torch.cat([scores[n][new[n]] for n in scores])
        assert removed.max() <= kept.min()


def test_layerwise_removes_lowest_scores_on_random_tensor():
    """Layerwise: removed entries are exactly the k lowest of each tensor (distinct scores)."""
    generator = torch.Generator().manual_seed(2)
    scores = {"w": torch.randn(2000, generator=generator)}
    new = prune_to_sparsity(scores, ones_like_all(scores), 0.9, "layerwise")
    lowest = torch.argsort(scores["w"])[:1800]
    expected = torch.ones(2000, dtype=torch.bool)
    expected[lowest] = False
    assert torch.equal(new["w"], expected)


@pytest.mark.parametrize("scope", ["layerwise", "global"])
def test_float64_scores_reach_target(scope):
    """Double-precision scores are pruned to the exact target like float32 ones.

    [0.5, 0.7, 0.9] at 2/3: k = 2 -> drop 0.5 and 0.7, keep 0.9.
    """
    scores = {"w": torch.tensor([0.5, 0.7, 0.9], dtype=torch.float64)}
    new = prune_to_sparsity(scores, ones_like_all(scores), 2 / 3, scope)
    assert new["w"].tolist() == [False, False, True]


def test_unknown_scope_raises(small_scores):
    """An unknown scope raises ValueError naming the scopes."""
    with pytest.raises(ValueError, match="layerwise"):
        prune_to_sparsity(small_scores, ones_like_all(small_scores), 0.5, "per-row")


@pytest.mark.parametrize("sparsity", [-0.1, 1.5])
def test_prune_rejects_out_of_range_sparsity(small_scores, sparsity):
    """Sparsity outside [0, 1] raises ValueError."""
    with pytest.raises(ValueError, match="sparsity"):
        prune_to_sparsity(small_scores, ones_like_all(small_scores), sparsity, "global")


# ---------------------------------------------------------------------------------------------
# sparsity_report and scores


def test_sparsity_report_hand_counted():
    """Linear(4,3)+ReLU+Linear(3,2): 23 parameters, 18 prunable weights, 6 zeros."""
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    first = torch.ones(3, 4, dtype=torch.bool)
    first[0, :3] = False  # 3 of 12 pruned
    second = torch.tensor([[False, True, True], [False, False, True]])  # 3 of 6 pruned
    report = sparsity_report({"0.weight": first, "2.weight": second}, model)
    assert report["prunable_parameters"] == 18
    assert report["model_parameters"] == 23
    assert report["prunable"] == pytest.approx(6 / 18)
    assert report["model"] == pytest.approx(6 / 23)
    assert report["per_tensor"] == {"0.weight": pytest.approx(0.25), "2.weight": pytest.approx(0.5)}


def test_sparsity_report_full_masks_and_empty():
    """All-kept masks report zero sparsity; no masks at all report 0.0 prunable sparsity."""
    model = nn.Sequential(nn.Linear(2, 2))
    report = sparsity_report(full_masks({"0.weight": model[0].weight}), model)
    assert report["prunable"] == 0.0 and report["model"] == 0.0
    assert report["prunable_parameters"] == 4 and report["model_parameters"] == 6
    empty = sparsity_report({}, model)
    assert empty["prunable"] == 0.0 and empty["prunable_parameters"] == 0


def test_magnitude_scores_are_absolute_values():
    """magnitude(params) = |w|, detached, per parameter name."""
    weight = nn.Parameter(torch.tensor([[-2.0, 0.5], [0.0, -0.25]]))
    other = nn.Parameter(torch.tensor([3.0, -1.5, 1.0]))
    scores = magnitude({"w": weight, "v": other})
    assert set(scores) == {"w", "v"}
    assert scores["w"].tolist() == [[2.0, 0.5], [0.0, 0.25]]
    assert scores["v"].tolist() == [3.0, 1.5, 1.0]
    assert not scores["w"].requires_grad
    assert weight.tolist() == [[-2.0, 0.5], [0.0, -0.25]]  # unchanged


def test_magnitude_then_prune_drops_smallest_weights():
    """Magnitude + layerwise pruning at 0.5 zeroes the two smallest |w|."""
    weight = torch.tensor([-3.0, 0.1, -0.2, 4.0])
    mask = prune_to_sparsity(magnitude({"w": weight}), {"w": torch.ones(4, dtype=torch.bool)}, 0.5)
    assert mask["w"].tolist() == [True, False, False, True]
