"""N:M semi-structured masks on tiny hand-made tensors: which weights of each group go (ties to
the lowest index), exactness per group, monotone steps of a schedule, the three scores, the
Linear-only selection and the config check; on a CUDA device, 2:4 Linear layers run as
torch.sparse semi-structured tensors (marked gpu)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from pie.pruning import scores as score_fns
from pie.pruning.nm import check_nm, is_semi_structured, linear_weights, nm_masks, to_semi_structured
from pie.pruning.schedules import iterative

ALL = torch.ones((1, 8), dtype=torch.bool)


def test_two_of_four_lowest_go_in_each_group():
    """[4, 1, 3, 2 | 0, 5, 5, 0]: group 1 drops 1 and 2 (positions 1, 3); group 2's two zeros
    (positions 4, 7) go."""
    scores = {"w": torch.tensor([[4.0, 1.0, 3.0, 2.0, 0.0, 5.0, 5.0, 0.0]])}
    mask = nm_masks(scores, {"w": ALL}, 0.5, 4)["w"]
    assert mask.int().tolist() == [[1, 0, 1, 0, 0, 1, 1, 0]]


def test_ties_go_to_the_lowest_index():
    scores = {"w": torch.tensor([[1.0, 1.0, 1.0, 1.0, 2.0, 1.0, 2.0, 1.0]])}
    assert nm_masks(scores, {"w": ALL}, 0.5, 4)["w"].int().tolist() == [[0, 0, 1, 1, 1, 0, 1, 0]]
    assert nm_masks(scores, {"w": ALL}, 0.25, 4)["w"].int().tolist() == [[0, 1, 1, 1, 1, 0, 1, 1]]


def test_removed_weights_stay_removed_and_the_next_lowest_kept_one_goes():
    """Position 0 is already masked although its score is the highest; 2:4 then removes only the
    lowest kept weight (position 2) from that group."""
    scores = {"w": torch.tensor([[9.0, 5.0, 1.0, 7.0, 1.0, 2.0, 3.0, 4.0]])}
    before = torch.tensor([[0, 1, 1, 1, 1, 1, 1, 1]], dtype=torch.bool)
    assert nm_masks(scores, {"w": before}, 0.5, 4)["w"].int().tolist() == [[0, 1, 0, 1, 0, 0, 1, 1]]


def test_other_group_sizes():
    """1:3 keeps the highest of each three (m = 3, sparsity 2/3)."""
    scores = {"w": torch.tensor([[3.0, 2.0, 1.0], [1.0, 3.0, 2.0]])}
    mask = nm_masks(scores, {"w": torch.ones((2, 3), dtype=torch.bool)}, 2 / 3, 3)["w"]
    assert mask.int().tolist() == [[1, 0, 0], [0, 1, 0]]


def test_every_group_is_exact_over_an_iterative_schedule():
    """The paper's 3 steps to 0.5 with m = 4: round(0.2063 * 4) = 1, round(0.3700 * 4) = 1, then 2
    zeros in every group, each step keeping the previous zeros."""
    generator = torch.Generator().manual_seed(0)
    weights = {"a": torch.randn(16, 32, generator=generator), "b": torch.randn(8, 64, generator=generator)}
    masks = {name: torch.ones_like(w, dtype=torch.bool) for name, w in weights.items()}
    for step, expected_zeros in zip(iterative(0.5, phase_epochs=1).steps, (1, 1, 2)):
        new = nm_masks(score_fns.magnitude(weights), masks, step.sparsity, 4)
        for name, mask in new.items():
            zeros = (~mask).reshape(mask.shape[0], -1, 4).sum(dim=-1)
            assert (zeros == expected_zeros).all()
            assert not (mask & ~masks[name]).any()  # never regrown
        masks = new
    magnitude, mask = weights["a"].abs().reshape(16, 8, 4), masks["a"].reshape(16, 8, 4)
    dropped, kept = magnitude.masked_fill(mask, -torch.inf), magnitude.masked_fill(~mask, torch.inf)
    assert (dropped.max(dim=-1).values <= kept.min(dim=-1).values).all()  # the smallest of each group went


def test_impact_and_random_scores_choose_within_groups():
    """Impact |w * g|: w = [1, 2, 3, 4], g = [4, 1, 1, 0.1] gives [4, 2, 3, 0.4]: positions 1 and 3
    go. Random scores come from the run's generator: seeded, exact per group."""
    weight = {"w": torch.tensor([[1.0, 2.0, 3.0, 4.0]])}
    inputs = score_fns.ScoreInputs(compute_gradients=lambda: {"w": torch.tensor([[4.0, 1.0, 1.0, 0.1]])})
    mask = nm_masks(score_fns.impact(weight, inputs), {"w": torch.ones((1, 4), dtype=torch.bool)}, 0.5, 4)["w"]
    assert mask.int().tolist() == [[1, 0, 1, 0]]
    big = {"w": torch.zeros(4, 16)}
    draws = [nm_masks(score_fns.random(big, score_fns.ScoreInputs(generator=torch.Generator().manual_seed(s))),
                      {"w": torch.ones((4, 16), dtype=torch.bool)}, 0.5, 4)["w"] for s in (1, 1, 2)]
    assert torch.equal(draws[0], draws[1]) and not torch.equal(draws[0], draws[2])
    assert ((~draws[2]).reshape(4, 4, 4).sum(-1) == 2).all()


def test_only_linear_weights_are_chosen_and_their_inputs_must_divide():
    network = nn.Sequential(nn.Embedding(10, 8), nn.LSTM(8, 4), nn.Linear(8, 4), nn.Linear(4, 2))
    params = dict(network.named_parameters())
    assert list(linear_weights(network, params, 4)) == ["2.weight", "3.weight"]
    with pytest.raises(ValueError, match=r"3.weight \(4 inputs\) do not divide"):
        linear_weights(network, params, 8)
    with pytest.raises(ValueError, match="needs Linear weights"):
        linear_weights(network, {"1.weight_ih_l0": params["1.weight_ih_l0"]}, 4)


def test_config_check_names_the_keys_and_the_fix():
    check_nm(2, 4, 0.5)
    check_nm(2, 4, 0.0)
    check_nm(1, 4, 0.75)
    with pytest.raises(ValueError, match="so sparsity must be 0.5 .* got 0.9; set sparsity=0.5"):
        check_nm(2, 4, 0.9)
    with pytest.raises(ValueError, match="1 <= n < m"):
        check_nm(4, 4, 0.0)


def test_semi_structured_pattern():
    assert is_semi_structured(torch.tensor([[1.0, 0.0, 2.0, 0.0, 0.0, 0.0, 0.0, 3.0]]))
    assert not is_semi_structured(torch.tensor([[1.0, 1.0, 2.0, 0.0]]))
    assert not is_semi_structured(torch.zeros(2, 6))


def test_to_semi_structured_leaves_cpu_layers_dense():
    layer = nn.Linear(64, 32)
    with torch.no_grad():
        layer.weight.mul_(nm_masks(score_fns.magnitude({"w": layer.weight}), {"w": torch.ones(32, 64, dtype=torch.bool)}, 0.5, 4)["w"])
    assert to_semi_structured(nn.Sequential(layer)) == [] and layer.weight.layout == torch.strided


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device: semi-structured sparse kernels need one")
def test_two_four_linear_layers_run_as_semi_structured_sparse_tensors_on_cuda():
    """A 2:4-masked MLP in half precision on CUDA: its Linear layers become
    SparseSemiStructuredTensor weights and give the dense masked model's outputs."""
    from torch.sparse import SparseSemiStructuredTensor

    torch.manual_seed(0)
    network = nn.Sequential(nn.Linear(128, 256), nn.ReLU(), nn.Linear(256, 128)).half().cuda().eval()
    params = linear_weights(network, dict(network.named_parameters()), 4)
    masks = nm_masks(score_fns.magnitude(params), {n: torch.ones_like(p, dtype=torch.bool) for n, p in params.items()}, 0.5, 4)
    with torch.no_grad():
        for name, param in params.items():
            param.mul_(masks[name])
        x = torch.randn(64, 128, device="cuda", dtype=torch.half)
        dense = network(x)
        assert to_semi_structured(network) == ["0", "2"]
        assert all(isinstance(network[i].weight, SparseSemiStructuredTensor) for i in (0, 2))
        assert torch.allclose(network(x), dense, rtol=1e-2, atol=1e-2)
