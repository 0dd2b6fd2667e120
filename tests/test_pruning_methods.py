"""Pruning methods: schedules (after_training, gradual, branch), scores, impact gradients, and the
PruningCallback inside a real Lightning Trainer (fine-tuning, rewinding, impact, random, state)."""

from __future__ import annotations

import functools
import io
import warnings

import lightning as L
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Subset

from pie.models.module import Classifier
from pie.pruning import scores as score_fns
from pie.pruning import selection
from pie.pruning.callback import PruningCallback
from pie.pruning.gradients import accumulate_gradients
from pie.pruning.schedules import (
    PruningStep,
    Schedule,
    after_training,
    at_initialisation,
    branch,
    gradual,
    iterative,
    per_step_rate,
)
from pie.pruning.scores import ScoreInputs, impact, magnitude


# =============================================================================================
# schedules


def test_after_training_single_step_then_finetune():
    """One prune after epoch E-1 to s; E + F epochs in total."""
    schedule = after_training(0.7, phase_epochs=3, finetune_epochs=2)
    assert schedule.steps == (PruningStep(after_epoch=2, sparsity=0.7),)
    assert schedule.max_epochs == 5
    assert schedule.final_sparsity == 0.7
    assert schedule.step_after(2) == PruningStep(after_epoch=2, sparsity=0.7)
    assert schedule.step_after(1) is None and schedule.step_after(4) is None
    assert schedule.step_at(2) is None  # epoch-based, not step-based


def test_after_training_zero_sparsity_is_dense():
    """s = 0: no pruning steps; the dense schedule of E epochs."""
    schedule = after_training(0.0, phase_epochs=3, finetune_epochs=2)
    assert schedule.steps == ()
    assert schedule.final_sparsity == 0.0
    assert schedule.max_epochs == 3


def test_after_training_rejects_out_of_range_sparsity():
    """Sparsity 1 raises ValueError."""
    with pytest.raises(ValueError, match="sparsity"):
        after_training(1.0, phase_epochs=3, finetune_epochs=2)


def test_gradual_cubic_values_every_25_steps():
    """s=0.9, t=0..100 by 25: 0 at t=0 is skipped; 0.9(1-0.75^3), 0.9(1-0.5^3), 0.9(1-0.25^3), 0.9."""
    schedule = gradual(0.9, begin_step=0, end_step=100, frequency=25, max_epochs=3)
    assert [s.after_step for s in schedule.steps] == [25, 50, 75, 100]
    assert all(s.after_epoch is None for s in schedule.steps)
    expected = [0.5203125, 0.7875, 0.8859375, 0.9]  # 0.9*0.578125, 0.9*0.875, 0.9*0.984375
    assert [s.sparsity for s in schedule.steps] == pytest.approx(expected, abs=1e-12)
    assert schedule.steps[-1].sparsity == 0.9  # exactly
    assert schedule.final_sparsity == 0.9
    assert schedule.max_epochs == 3


def test_gradual_is_strictly_increasing_and_step_based():
    """Targets increase strictly; step_at finds them, step_after never does."""
    schedule = gradual(0.9, begin_step=0, end_step=100, frequency=25, max_epochs=3)
    targets = [s.sparsity for s in schedule.steps]
    assert all(a < b for a, b in zip(targets, targets[1:]))
    assert schedule.step_at(50) == PruningStep(after_epoch=None, sparsity=0.7875, after_step=50)
    assert schedule.step_at(51) is None and schedule.step_at(0) is None
    assert all(schedule.step_after(e) is None for e in range(-1, 3))


def test_gradual_end_step_not_on_frequency_grid_is_appended():
    """0..10 by 3: t=3,6,9 from the formula (span 10), then end_step 10 at exactly s."""
    schedule = gradual(0.9, begin_step=0, end_step=10, frequency=3, max_epochs=1)
    assert [s.after_step for s in schedule.steps] == [3, 6, 9, 10]
    # 0.9(1-0.7^3) = 0.5913, 0.9(1-0.4^3) = 0.8424, 0.9(1-0.1^3) = 0.8991
    assert [s.sparsity for s in schedule.steps] == pytest.approx([0.5913, 0.8424, 0.8991, 0.9], abs=1e-12)
    assert schedule.steps[-1].sparsity == 0.9


def test_gradual_with_begin_step_offset():
    """begin 10, end 20, every 5: t=10 gives 0 (skipped), t=15 gives 0.5(1-0.5^3)=0.4375, t=20 0.5."""
    schedule = gradual(0.5, begin_step=10, end_step=20, frequency=5, max_epochs=2)
    assert schedule.steps == (
        PruningStep(after_epoch=None, sparsity=0.4375, after_step=15),
        PruningStep(after_epoch=None, sparsity=0.5, after_step=20),
    )


def test_gradual_with_initial_sparsity():
    """s_i=0.5, s_f=0.9 over 10..14 by 2: 0.5 at t=10, 0.9-0.4*0.5^3=0.85 at t=12, 0.9 at t=14."""
    schedule = gradual(0.9, begin_step=10, end_step=14, frequency=2, max_epochs=1, initial_sparsity=0.5)
    assert [s.after_step for s in schedule.steps] == [10, 12, 14]
    assert [s.sparsity for s in schedule.steps] == pytest.approx([0.5, 0.85, 0.9], abs=1e-12)


def test_gradual_zero_sparsity_is_dense():
    """s = 0 gives no steps and max_epochs epochs."""
    schedule = gradual(0.0, begin_step=0, end_step=10, frequency=2, max_epochs=4)
    assert schedule.steps == () and schedule.max_epochs == 4


@pytest.mark.parametrize(
    "begin, end, frequency",
    [(-1, 10, 2), (5, 5, 1), (10, 5, 1), (0, 10, 0), (0, 10, -3)],
)
def test_gradual_rejects_bad_step_arguments(begin, end, frequency):
    """begin < 0, begin >= end or frequency < 1 raise ValueError."""
    with pytest.raises(ValueError, match="begin_step"):
        gradual(0.9, begin_step=begin, end_step=end, frequency=frequency, max_epochs=1)


def test_gradual_rejects_out_of_range_sparsity():
    """Final sparsity 1 raises ValueError."""
    with pytest.raises(ValueError, match="sparsity"):
        gradual(1.0, begin_step=0, end_step=10, frequency=2, max_epochs=1)


def test_gradual_frequency_longer_than_span_still_ends_at_target():
    """Frequency 20 over 0..10: the only grid point is t=0 (target 0), so the end step alone
    remains: one step to s at end_step (not an IndexError)."""
    schedule = gradual(0.9, begin_step=0, end_step=10, frequency=20, max_epochs=1)
    assert schedule.steps == (PruningStep(after_epoch=None, sparsity=0.9, after_step=10),)


def test_gradual_after_steps_are_unique():
    """With begin_step=0 and initial_sparsity > 0, t=0 is moved to step 1; it must not collide with
    the t=1 step (step_at returns only the first step at a global step, dropping the other)."""
    schedule = gradual(0.9, begin_step=0, end_step=4, frequency=1, max_epochs=1, initial_sparsity=0.5)
    after_steps = [s.after_step for s in schedule.steps]
    assert len(after_steps) == len(set(after_steps)), after_steps


def test_gradual_rejects_initial_sparsity_above_final():
    """initial_sparsity 0.95 > sparsity 0.9 gives decreasing targets that masks (never regrown)
    cannot follow; it should raise ValueError."""
    with pytest.raises(ValueError):
        gradual(0.9, begin_step=10, end_step=20, frequency=5, max_epochs=1, initial_sparsity=0.95)


def test_branch_three_steps():
    """s=0.9, F=2, n=3: prune before training, after epochs 1 and 3; 1-(1-r)^i; 6 epochs."""
    schedule = branch(0.9, finetune_epochs=2, n_steps=3)
    assert [s.after_epoch for s in schedule.steps] == [-1, 1, 3]
    assert all(s.after_step is None for s in schedule.steps)
    r = per_step_rate(0.9, 3)
    assert [s.sparsity for s in schedule.steps] == pytest.approx([1 - (1 - r), 1 - (1 - r) ** 2, 0.9], abs=1e-12)
    assert schedule.steps[0].sparsity == pytest.approx(0.535841, abs=1e-6)
    assert schedule.steps[1].sparsity == pytest.approx(0.784557, abs=1e-6)
    assert schedule.steps[-1].sparsity == 0.9
    assert schedule.max_epochs == 6
    assert schedule.step_after(-1) is schedule.steps[0]


def test_branch_one_step():
    """n=1: a single prune before training to exactly s; F epochs."""
    schedule = branch(0.5, finetune_epochs=3)
    assert schedule.steps == (PruningStep(after_epoch=-1, sparsity=0.5),)
    assert schedule.max_epochs == 3


def test_branch_two_steps_epoch_spacing():
    """F=4, n=2: after epochs -1 and 3; 1-sqrt(0.25)=0.5 then 0.75; 8 epochs."""
    schedule = branch(0.75, finetune_epochs=4, n_steps=2)
    assert [s.after_epoch for s in schedule.steps] == [-1, 3]
    assert [s.sparsity for s in schedule.steps] == pytest.approx([0.5, 0.75], abs=1e-12)
    assert schedule.max_epochs == 8


@pytest.mark.parametrize("kwargs", [dict(sparsity=0.0, finetune_epochs=2), dict(sparsity=0.5, finetune_epochs=0),
                                    dict(sparsity=0.5, finetune_epochs=2, n_steps=0), dict(sparsity=1.0, finetune_epochs=2)])
def test_branch_rejects_bad_arguments(kwargs):
    """s=0, s=1, F<1 or n<1 raise ValueError."""
    with pytest.raises(ValueError):
        branch(**kwargs)


def test_schedule_step_at_and_step_after_are_independent():
    """step_at matches after_step only; step_after matches after_epoch only; first match wins."""
    a = PruningStep(after_epoch=0, sparsity=0.2)
    b = PruningStep(after_epoch=None, sparsity=0.5, after_step=7)
    c = PruningStep(after_epoch=None, sparsity=0.6, after_step=7)
    schedule = Schedule(steps=(a, b, c), max_epochs=2)
    assert schedule.step_at(7) is b
    assert schedule.step_at(0) is None
    assert schedule.step_after(0) is a
    assert schedule.step_after(7) is None
    assert schedule.final_sparsity == 0.6
    assert Schedule(steps=(), max_epochs=1).final_sparsity == 0.0


# =============================================================================================
# scores


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


# =============================================================================================
# the callback in a real Trainer

N_TRAIN, BATCH = 32, 8  # 4 optimizer steps per epoch
SELECT = functools.partial(selection.by_patterns, include=["weight"], exclude=["embed", "classifier"])


class TinyNet(nn.Module):
    """Frozen Embedding(20, 4), masked mean pooling, Linear(4, 8), ReLU, Linear(8, 2)."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(20, 4)
        self.embed.weight.requires_grad_(False)
        self.hidden = nn.Linear(4, 8)
        self.classifier = nn.Linear(8, 2)

    def forward(self, input_ids, attention_mask):
        mask = attention_mask.unsqueeze(-1).float()
        pooled = (self.embed(input_ids) * mask).sum(1) / mask.sum(1).clamp(min=1)
        return self.classifier(torch.relu(self.hidden(pooled)))


class DictDataset(Dataset):
    def __init__(self, n: int, seed: int):
        g = torch.Generator().manual_seed(seed)
        self.input_ids = torch.randint(0, 20, (n, 6), generator=g)
        lengths = torch.randint(1, 7, (n,), generator=g)
        self.attention_mask = (torch.arange(6)[None, :] < lengths[:, None]).long()
        self.labels = torch.randint(0, 2, (n,), generator=g)

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return {"input_ids": self.input_ids[i], "attention_mask": self.attention_mask[i],
                "labels": self.labels[i], "index": torch.tensor(i)}


class TinyDataModule(L.LightningDataModule):
    def __init__(self):
        super().__init__()
        self.train_set, self.val_set = DictDataset(N_TRAIN, 1), DictDataset(16, 2)
        self.sample_calls: list[tuple] = []

    def train_dataloader(self):
        return DataLoader(self.train_set, batch_size=BATCH, shuffle=True)

    def val_dataloader(self):
        return DataLoader(self.val_set, batch_size=BATCH)

    def sample_loader(self, n, seed, batch_size=None):
        self.sample_calls.append((n, seed, batch_size))
        order = torch.randperm(len(self.train_set), generator=torch.Generator().manual_seed(int(seed)))[:n]
        return DataLoader(Subset(self.train_set, order.tolist()), batch_size=batch_size or BATCH)


def _state(network):
    return {k: v.detach().clone() for k, v in network.state_dict().items()}


class Observer(L.Callback):
    """Placed after the pruning callback: what the run looks like right after each hook."""

    def __init__(self, pruner: PruningCallback):
        self.pruner = pruner
        self.initial = None
        self.initial_optimizer = None
        self.epoch_start_optimizers: list[int] = []
        self.after_epoch: list[dict] = []
        self.after_step: dict[int, dict] = {}
        self.nonzero_masked: list[int] = []

    def on_train_start(self, trainer, pl_module):
        self.initial = _state(pl_module.network)
        self.initial_optimizer = id(trainer.optimizers[0])

    def on_train_epoch_start(self, trainer, pl_module):
        self.epoch_start_optimizers.append(id(trainer.optimizers[0]))

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.after_step[trainer.global_step] = _state(pl_module.network)
        w = pl_module.network.hidden.weight
        self.nonzero_masked.append(int((w[~self.pruner.masks["hidden.weight"]] != 0).sum()))

    def on_train_epoch_end(self, trainer, pl_module):
        optimizer = trainer.optimizers[0]
        self.after_epoch.append({
            "masks": {k: v.clone() for k, v in self.pruner.masks.items()},
            "state": _state(pl_module.network),
            "optimizer": id(optimizer),
            "optimizer_state_len": len(optimizer.state),
        })


class BeforePrune(L.Callback):
    """Placed before the pruning callback: hidden.weight just before each epoch-end prune."""

    def __init__(self):
        self.weights: list[torch.Tensor] = []

    def on_train_epoch_end(self, trainer, pl_module):
        self.weights.append(pl_module.network.hidden.weight.detach().clone())


def _fit(schedule, score=magnitude, rewind_step=None, random_seed=0, seed=0, gradient_samples=16, before=()):
    torch.manual_seed(seed)
    network = TinyNet()
    module = Classifier(network, functools.partial(torch.optim.Adam, lr=1e-2), num_classes=2)
    datamodule = TinyDataModule()
    pruner = PruningCallback(schedule, score, SELECT, "layerwise", rewind_step=rewind_step,
                             gradient_samples=gradient_samples, random_seed=random_seed)
    observer = Observer(pruner)
    trainer = L.Trainer(
        accelerator="cpu", devices=1, max_epochs=schedule.max_epochs, logger=False,
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
        num_sanity_val_steps=0, callbacks=[*before, pruner, observer],
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.fit(module, datamodule=datamodule)
    return pruner, observer, module, trainer, datamodule


# r = 1 - 0.5^(1/3): cumulative 0.206299, 0.370039, 0.5 of 32 weights round to 7, 12, 16 zeros
EQUAL_ZEROS = [7, 12, 16]


def test_selection_picks_only_hidden_weight():
    """The selection used below prunes hidden.weight (32 weights) only."""
    assert list(SELECT(TinyNet())) == ["hidden.weight"]


def test_finetuning_prunes_iteratively_to_target():
    """iterative(0.5, 1, "equal"), no rewinding: prunes after epochs 0, 1, 2 to 7, 12, 16 zeros of
    32; masks monotone; masked weights zero; each prune drops the lowest-|w| kept weights;
    the optimizer object is kept."""
    before = BeforePrune()
    pruner, observer, module, trainer, _ = _fit(iterative(0.5, phase_epochs=1, phases="equal"), before=[before])
    assert trainer.current_epoch == 4
    history = pruner.history
    assert len(history) == 3
    assert [h["after_epoch"] for h in history] == [0, 1, 2]
    targets = [h["target"] for h in history]
    assert targets == pytest.approx([1 - 0.5 ** (1 / 3), 1 - 0.5 ** (2 / 3), 0.5], abs=1e-12)
    assert targets[0] < targets[1] < targets[2] == 0.5
    assert [h["prunable"] for h in history] == [z / 32 for z in EQUAL_ZEROS]
    assert [h["per_tensor"]["hidden.weight"] for h in history] == [z / 32 for z in EQUAL_ZEROS]
    total = 20 * 4 + 4 * 8 + 8 + 8 * 2 + 2
    assert history[-1]["model"] == 16 / total and history[-1]["model_parameters"] == total

    masks = [snap["masks"]["hidden.weight"] for snap in observer.after_epoch]
    assert [int((~m).sum()) for m in masks] == [*EQUAL_ZEROS, 16]  # epoch 3: no prune
    for earlier, later in zip(masks, masks[1:]):
        assert not bool((later & ~earlier).any())  # never regrown

    # the first prune removes exactly the 7 smallest |w| at the end of epoch 0
    w0 = before.weights[0].abs().flatten()
    smallest = set(torch.argsort(w0)[:7].tolist())
    assert set(torch.nonzero(~masks[0].flatten()).flatten().tolist()) == smallest
    # the second removes the 5 smallest |w| among those still kept at the end of epoch 1
    w1 = before.weights[1].abs().flatten().clone()
    w1[~masks[0].flatten()] = float("inf")
    newly = set(torch.nonzero(masks[0].flatten() & ~masks[1].flatten()).flatten().tolist())
    assert newly == set(torch.argsort(w1)[:5].tolist())

    w = module.network.hidden.weight.detach()
    final = pruner.masks["hidden.weight"]
    assert torch.equal(final, masks[-1])
    assert torch.equal(w[~final], torch.zeros(16))
    assert bool((w[final] != 0).all())
    assert int((w == 0).sum()) == 16
    assert all(n == 0 for n in observer.nonzero_masked)  # zero after every optimizer step
    assert bool((module.network.classifier.weight != 0).all())  # not selected, not pruned

    # fine-tuning keeps the optimizer (and its Adam state)
    assert len(observer.epoch_start_optimizers) == 4
    assert set(observer.epoch_start_optimizers) == {observer.initial_optimizer}
    assert all(snap["optimizer"] == observer.initial_optimizer for snap in observer.after_epoch)
    assert all(snap["optimizer_state_len"] > 0 for snap in observer.after_epoch)


def test_step_based_gradual_schedule_in_trainer():
    """gradual(0.5, 0..8 every 2) over 3 epochs of 4 steps: prunes after steps 2, 4, 6, 8 to
    round(32 * [0.2890625, 0.4375, 0.4921875, 0.5]) = 9, 14, 16, 16 zeros."""
    schedule = gradual(0.5, begin_step=0, end_step=8, frequency=2, max_epochs=3)
    pruner, observer, module, _, _ = _fit(schedule)
    assert [h["after_step"] for h in pruner.history] == [2, 4, 6, 8]
    assert all(h["after_epoch"] is None for h in pruner.history)
    assert [h["target"] for h in pruner.history] == pytest.approx([0.2890625, 0.4375, 0.4921875, 0.5])
    assert [h["prunable"] for h in pruner.history] == [9 / 32, 14 / 32, 16 / 32, 16 / 32]
    w = module.network.hidden.weight.detach()
    assert torch.equal(w[~pruner.masks["hidden.weight"]], torch.zeros(16))
    assert all(n == 0 for n in observer.nonzero_masked)


def test_weight_rewinding_to_initialisation():
    """rewind_step=0: right after every prune the kept weights equal their initial values exactly,
    pruned ones are zero, everything else is the initial state; the optimizer is a fresh, empty one."""
    pruner, observer, module, _, _ = _fit(iterative(0.5, phase_epochs=1, phases="equal"), rewind_step=0)
    init = observer.initial
    for k, v in pruner.rewind_state.items():
        assert torch.equal(v, init[k])
    seen_optimizers = {observer.initial_optimizer}
    for epoch, snap in enumerate(observer.after_epoch[:3]):
        mask = snap["masks"]["hidden.weight"]
        assert int((~mask).sum()) == EQUAL_ZEROS[epoch]
        w = snap["state"]["hidden.weight"]
        assert torch.equal(w[mask], init["hidden.weight"][mask])
        assert torch.equal(w[~mask], torch.zeros(EQUAL_ZEROS[epoch]))
        for name in ("hidden.bias", "classifier.weight", "classifier.bias", "embed.weight"):
            assert torch.equal(snap["state"][name], init[name]), name
        assert snap["optimizer"] not in seen_optimizers  # a new optimizer after each rewind
        assert snap["optimizer_state_len"] == 0
        seen_optimizers.add(snap["optimizer"])
    # training continues with the new optimizer
    starts = observer.epoch_start_optimizers
    assert len(set(starts)) == 4
    assert starts[1:] == [snap["optimizer"] for snap in observer.after_epoch[:3]]
    # the last epoch trains: weights move away from init, masked ones stay zero
    final = module.network.hidden.weight.detach()
    mask = pruner.masks["hidden.weight"]
    assert torch.equal(final[~mask], torch.zeros(16))
    assert not torch.equal(final[mask], init["hidden.weight"][mask])


def test_late_rewinding_to_step_two():
    """rewind_step=2: the rewind state is the network after 2 optimizer steps, and every prune
    restores it (masked)."""
    pruner, observer, _, _, _ = _fit(iterative(0.5, phase_epochs=1, phases="equal"), rewind_step=2)
    after_two = observer.after_step[2]
    assert set(pruner.rewind_state) == set(after_two)
    for k, v in pruner.rewind_state.items():
        assert torch.equal(v, after_two[k]), k
    assert not torch.equal(after_two["hidden.weight"], observer.initial["hidden.weight"])
    assert not torch.equal(after_two["hidden.weight"], observer.after_step[1]["hidden.weight"])
    assert not torch.equal(after_two["hidden.weight"], observer.after_step[3]["hidden.weight"])
    for snap in observer.after_epoch[:3]:
        mask = snap["masks"]["hidden.weight"]
        assert torch.equal(snap["state"]["hidden.weight"], after_two["hidden.weight"] * mask)
        assert torch.equal(snap["state"]["classifier.weight"], after_two["classifier.weight"])
        assert snap["optimizer_state_len"] == 0


def test_late_rewinding_before_reaching_the_step_raises():
    """Pruning before training with rewind_step=2 cannot rewind: RuntimeError."""
    with pytest.raises(RuntimeError, match="cannot rewind"):
        _fit(at_initialisation(0.5, phase_epochs=1), rewind_step=2)


def test_at_initialisation_magnitude_prunes_smallest_initial_weights():
    """at_initialisation(0.5): before any step, the 16 smallest |w| of the initial weights go."""
    pruner, observer, _, _, _ = _fit(at_initialisation(0.5, phase_epochs=1))
    torch.manual_seed(0)
    init = TinyNet().hidden.weight.detach().abs().flatten()
    expected = set(torch.argsort(init)[:16].tolist())
    assert set(torch.nonzero(~pruner.masks["hidden.weight"].flatten()).flatten().tolist()) == expected
    assert [h["after_epoch"] for h in pruner.history] == [-1]
    assert pruner.history[0]["prunable"] == 0.5


class ImpactExpectation(L.Callback):
    """Before the pruning callback: the hand-computed |w * dL/dw| pruned set of the first prune."""

    def __init__(self, seed: int):
        self.seed = seed
        self.expected = None

    def on_train_epoch_end(self, trainer, pl_module):
        if self.expected is not None:
            return
        loader = trainer.datamodule.sample_loader(16, self.seed, None)
        trainer.datamodule.sample_calls.pop()
        examples = list(loader.dataset)
        ids = torch.stack([e["input_ids"] for e in examples])
        mask = torch.stack([e["attention_mask"] for e in examples])
        labels = torch.stack([e["labels"] for e in examples])
        net = pl_module.network
        loss = nn.functional.cross_entropy(net(ids, mask), labels)  # no dropout: eval == train
        (grad,) = torch.autograd.grad(loss, [net.hidden.weight])
        scores = (net.hidden.weight.detach() * grad).abs().flatten()
        self.expected = set(torch.argsort(scores)[:7].tolist())


def test_impact_scores_inside_trainer():
    """score=impact, 16 gradient samples: one sample_loader(16, seed, None) per prune, the first
    prune removes the 7 lowest |w * g| (g over the 16 samples), final sparsity 0.5."""
    expectation = ImpactExpectation(seed=3)
    pruner, observer, module, _, datamodule = _fit(
        iterative(0.5, phase_epochs=1, phases="equal"), score=score_fns.impact, random_seed=3,
        before=[expectation],
    )
    assert datamodule.sample_calls == [(16, 3, None)] * 3
    assert [h["prunable"] for h in pruner.history] == [z / 32 for z in EQUAL_ZEROS]
    first = observer.after_epoch[0]["masks"]["hidden.weight"]
    assert set(torch.nonzero(~first.flatten()).flatten().tolist()) == expectation.expected
    w = module.network.hidden.weight.detach()
    assert torch.equal(w[~pruner.masks["hidden.weight"]], torch.zeros(16))


def test_random_scores_seeded_masks():
    """Random pruning: same random_seed, same masks (the first equals the hand-drawn one);
    another random_seed, other masks."""
    schedule = iterative(0.5, phase_epochs=1, phases="equal")
    a, obs_a, _, _, _ = _fit(schedule, score=score_fns.random, random_seed=5)
    b, _, _, _, _ = _fit(schedule, score=score_fns.random, random_seed=5, seed=1)  # other init
    c, _, _, _, _ = _fit(schedule, score=score_fns.random, random_seed=6)
    assert torch.equal(a.masks["hidden.weight"], b.masks["hidden.weight"])
    assert not torch.equal(a.masks["hidden.weight"], c.masks["hidden.weight"])
    assert [h["prunable"] for h in c.history] == [z / 32 for z in EQUAL_ZEROS]
    draw = torch.rand((8, 4), generator=torch.Generator().manual_seed(5)).flatten()
    first = obs_a.after_epoch[0]["masks"]["hidden.weight"]
    assert set(torch.nonzero(~first.flatten()).flatten().tolist()) == set(torch.argsort(draw)[:7].tolist())


def test_state_dict_round_trip():
    """state_dict -> torch.save/load -> a fresh callback restores masks, history and the generator."""
    schedule = iterative(0.5, phase_epochs=1, phases="equal")
    pruner, _, module, _, _ = _fit(schedule, score=score_fns.random, random_seed=5)
    buffer = io.BytesIO()
    torch.save(pruner.state_dict(), buffer)
    buffer.seek(0)
    state = torch.load(buffer, weights_only=False)

    fresh = PruningCallback(schedule, score_fns.random, SELECT, "layerwise", random_seed=99)
    fresh.load_state_dict(state)
    assert fresh.masks.keys() == pruner.masks.keys()
    assert torch.equal(fresh.masks["hidden.weight"], pruner.masks["hidden.weight"])
    assert fresh.history == pruner.history and len(fresh.history) == 3
    assert fresh.rewind_state is None
    # the generator moved on during the 3 prunes, and the fresh one continues from there
    untouched = torch.rand(5, generator=torch.Generator().manual_seed(5))
    expected = torch.rand(5, generator=pruner.generator)
    assert torch.equal(torch.rand(5, generator=fresh.generator), expected)
    assert not torch.equal(expected, untouched)
    # setup keeps loaded masks instead of resetting them to all-kept
    fresh.setup(None, module, "fit")
    assert torch.equal(fresh.masks["hidden.weight"], pruner.masks["hidden.weight"])
    assert fresh.params["hidden.weight"] is module.network.hidden.weight


def test_state_dict_round_trip_with_rewind_state():
    """The rewind state travels in the callback state."""
    pruner, observer, _, _, _ = _fit(iterative(0.5, phase_epochs=1, phases="equal"), rewind_step=0)
    fresh = PruningCallback(iterative(0.5, 1), magnitude, SELECT, "layerwise", rewind_step=0)
    fresh.load_state_dict(pruner.state_dict())
    for k, v in observer.initial.items():
        assert torch.equal(fresh.rewind_state[k], v)
