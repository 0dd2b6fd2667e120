"""Pruning scores (magnitude, impact |w * dL/dw|, seeded random) and the impact gradients."""

from __future__ import annotations

import functools

import pytest
import torch
from torch import nn

from pie.models.module import Classifier
from pie.pruning import scores as score_fns
from pie.pruning.gradients import accumulate_gradients
from pie.pruning.scores import ScoreInputs, impact, magnitude


def test_impact_is_abs_weight_times_gradient():
    """|w*g| elementwise, hand-computed."""
    params = {"a": torch.tensor([[1.0, -2.0], [3.0, -4.0]]), "b": torch.tensor([0.5, -0.25])}
    grads = {"a": torch.tensor([[0.5, 0.5], [-1.0, 2.0]]), "b": torch.tensor([-4.0, 0.0])}
    result = impact(params, ScoreInputs(compute_gradients=lambda: grads))
    assert torch.equal(result["a"], torch.tensor([[0.5, 1.0], [3.0, 8.0]]))
    assert torch.equal(result["b"], torch.tensor([2.0, 0.0]))


def test_impact_detaches_from_autograd():
    """Scores of parameters that require grad carry no graph."""
    w = nn.Parameter(torch.tensor([2.0, -3.0]))
    result = impact({"w": w}, ScoreInputs(compute_gradients=lambda: {"w": torch.tensor([1.0, 1.0])}))
    assert not result["w"].requires_grad
    assert torch.equal(result["w"], torch.tensor([2.0, 3.0]))


def test_gradients_computed_lazily_and_once():
    """The gradient source is not called until a score needs it, then only once."""
    calls = []

    def compute():
        calls.append(1)
        return {"w": torch.tensor([1.0, -1.0])}

    inputs = ScoreInputs(compute_gradients=compute)
    params = {"w": torch.tensor([3.0, 4.0])}
    magnitude(params, inputs)
    assert calls == []
    first = impact(params, inputs)
    second = impact(params, inputs)
    assert len(calls) == 1
    assert inputs.gradients() is inputs.gradients()
    assert torch.equal(first["w"], torch.tensor([3.0, 4.0])) and torch.equal(second["w"], first["w"])


def test_magnitude_ignores_inputs():
    """|w| whatever the inputs: none, a failing gradient source, a generator."""

    def boom():
        raise AssertionError("magnitude must not ask for gradients")

    params = {"w": torch.tensor([[-1.5, 0.0], [2.0, -0.25]])}
    expected = torch.tensor([[1.5, 0.0], [2.0, 0.25]])
    for inputs in (None, ScoreInputs(compute_gradients=boom), ScoreInputs(generator=torch.Generator())):
        assert torch.equal(magnitude(params, inputs)["w"], expected)


def test_random_scores_reproducible_in_unit_interval():
    """Same seed gives the same scores, drawn in parameter order from the generator; in [0, 1)."""
    params = {"a": torch.zeros(2, 3), "b": torch.zeros(4)}
    one = score_fns.random(params, ScoreInputs(generator=torch.Generator().manual_seed(0)))
    two = score_fns.random(params, ScoreInputs(generator=torch.Generator().manual_seed(0)))
    g = torch.Generator().manual_seed(0)
    expected_a, expected_b = torch.rand((2, 3), generator=g), torch.rand((4,), generator=g)
    for result in (one, two):
        assert torch.equal(result["a"], expected_a) and torch.equal(result["b"], expected_b)
    assert one["a"].shape == (2, 3) and one["b"].shape == (4,)
    for t in (one["a"], one["b"]):
        assert bool((t >= 0).all()) and bool((t < 1).all())


def test_random_scores_differ_across_seeds_and_calls():
    """Different seeds give different scores; a second call on the same generator moves on."""
    params = {"a": torch.zeros(16)}
    g = torch.Generator().manual_seed(0)
    first = score_fns.random(params, ScoreInputs(generator=g))["a"]
    again = score_fns.random(params, ScoreInputs(generator=g))["a"]
    other = score_fns.random(params, ScoreInputs(generator=torch.Generator().manual_seed(1)))["a"]
    assert not torch.equal(first, other)
    assert not torch.equal(first, again)


def test_random_without_generator_raises():
    """No generator (or no inputs) raises ValueError."""
    with pytest.raises(ValueError, match="generator"):
        score_fns.random({"a": torch.zeros(2)}, ScoreInputs())
    with pytest.raises(ValueError, match="generator"):
        score_fns.random({"a": torch.zeros(2)}, None)


def test_impact_without_gradient_source_raises():
    """No compute_gradients raises ValueError."""
    with pytest.raises(ValueError, match="gradient"):
        impact({"a": torch.ones(2)}, ScoreInputs())


# =============================================================================================
# accumulate_gradients


class GradNet(nn.Module):
    """Frozen embedding, masked mean over tokens, dropout, Linear(3, 2); records its train flag."""

    def __init__(self, dropout: float = 0.5):
        super().__init__()
        self.embed = nn.Embedding(10, 3)
        self.embed.weight.requires_grad_(False)
        self.drop = nn.Dropout(dropout)
        self.linear = nn.Linear(3, 2)
        self.modes: list[bool] = []

    def pool(self, input_ids, attention_mask):
        mask = attention_mask.unsqueeze(-1).float()
        return (self.embed(input_ids) * mask).sum(1) / mask.sum(1)

    def forward(self, input_ids, attention_mask):
        self.modes.append(self.training)
        return self.linear(self.drop(self.pool(input_ids, attention_mask)))


def _grad_setup():
    torch.manual_seed(0)
    net = GradNet()
    module = Classifier(net, functools.partial(torch.optim.Adam, lr=1e-2), num_classes=2)
    ids = torch.randint(0, 10, (5, 4))
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0], [1, 1, 1, 0], [1, 0, 0, 0], [1, 1, 1, 1]])
    labels = torch.tensor([0, 1, 1, 0, 1])
    batches = [
        {"input_ids": ids[i:j], "attention_mask": mask[i:j], "labels": labels[i:j], "index": torch.arange(i, j)}
        for i, j in ((0, 3), (3, 5))
    ]
    params = {"linear.weight": net.linear.weight, "linear.bias": net.linear.bias}
    return net, module, batches, params, (ids, mask, labels)


def _analytic_grads(net, ids, mask, labels):
    """Mean cross-entropy gradient of a linear layer: W-grad (p - y)^T x / N, b-grad mean(p - y)."""
    with torch.no_grad():
        x = net.pool(ids, mask)
        p = torch.softmax(x @ net.linear.weight.T + net.linear.bias, dim=1)
        delta = p - nn.functional.one_hot(labels, 2).float()
        return delta.T @ x / len(labels), delta.mean(0)


def test_eval_mode_gradient_over_all_examples():
    """mode="eval": gradient of the mean loss over all 5 examples of both batches (sizes 3, 2)."""
    net, module, batches, params, (ids, mask, labels) = _grad_setup()
    result = accumulate_gradients(module, params, batches, mode="eval")
    expected_w, expected_b = _analytic_grads(net, ids, mask, labels)
    assert torch.allclose(result["linear.weight"], expected_w, atol=1e-6)
    assert torch.allclose(result["linear.bias"], expected_b, atol=1e-6)
    # and the same as autograd of the mean loss over the 5 examples at once
    module.eval()
    loss = module.loss(net(ids, mask), labels)
    (auto_w,) = torch.autograd.grad(loss, [net.linear.weight])
    assert torch.allclose(result["linear.weight"], auto_w, atol=1e-6)
    assert list(result) == ["linear.weight", "linear.bias"]


def test_eval_mode_is_deterministic_and_dropout_free():
    """Eval mode runs every batch with training off; two calls give identical gradients."""
    net, module, batches, params, _ = _grad_setup()
    first = accumulate_gradients(module, params, batches, mode="eval")
    assert net.modes == [False, False]
    second = accumulate_gradients(module, params, batches, mode="eval")
    assert torch.equal(first["linear.weight"], second["linear.weight"])


def test_gradients_leave_grad_buffers_mode_and_rng_alone():
    """.grad stays None, the module's train/eval flag is restored, the global RNG is untouched."""
    net, module, batches, params, _ = _grad_setup()
    for mode in ("eval", "reference"):
        for start_training in (True, False):
            module.train(start_training)
            rng = torch.get_rng_state()
            accumulate_gradients(module, params, batches, mode=mode)
            assert torch.equal(torch.get_rng_state(), rng)
            assert module.training is start_training and net.training is start_training
            assert net.linear.weight.grad is None and net.linear.bias.grad is None
            assert net.embed.weight.grad is None


def test_reference_mode_last_batch_in_train_mode():
    """mode="reference": only the last batch, in train mode (dropout), under the current RNG."""
    net, module, batches, params, _ = _grad_setup()
    module.eval()
    torch.manual_seed(7)
    result = accumulate_gradients(module, params, batches, mode="reference")
    assert net.modes == [True]  # one forward, in train mode
    assert module.training is False
    torch.manual_seed(7)
    module.train()
    last = batches[-1]
    loss = module.loss(net(last["input_ids"], last["attention_mask"]), last["labels"])
    expected = torch.autograd.grad(loss, [net.linear.weight, net.linear.bias])
    assert torch.allclose(result["linear.weight"], expected[0], atol=1e-6)
    assert torch.allclose(result["linear.bias"], expected[1], atol=1e-6)


def test_reference_mode_without_dropout_equals_last_batch_mean():
    """With dropout off, reference mode equals the analytic mean-loss gradient of the last batch."""
    torch.manual_seed(0)
    net, module, batches, params, _ = _grad_setup()
    net.drop.p = 0.0
    result = accumulate_gradients(module, params, batches, mode="reference")
    last = batches[-1]
    expected_w, expected_b = _analytic_grads(net, last["input_ids"], last["attention_mask"], last["labels"])
    assert torch.allclose(result["linear.weight"], expected_w, atol=1e-6)
    assert torch.allclose(result["linear.bias"], expected_b, atol=1e-6)


def test_accumulate_gradients_rejects_bad_mode_and_no_examples():
    """Unknown mode and empty batches raise ValueError."""
    _, module, batches, params, _ = _grad_setup()
    with pytest.raises(ValueError, match="mode"):
        accumulate_gradients(module, params, batches, mode="train")
    with pytest.raises(ValueError, match="no examples"):
        accumulate_gradients(module, params, [], mode="eval")
