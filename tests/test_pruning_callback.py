"""The PruningCallback inside a real Lightning Trainer: fine-tuning, gradual and at-initialisation
schedules, rewinding (to initialisation and late), impact and random scores, its state."""

from __future__ import annotations

import copy
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
from pie.pruning.schedules import at_initialisation, gradual, iterative
from pie.pruning.scores import magnitude

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
        self.optimizers: list = []  # kept alive, so that no later optimizer reuses an id compared here

    def _id(self, optimizer) -> int:
        self.optimizers.append(optimizer)
        return id(optimizer)

    def on_train_start(self, trainer, pl_module):
        self.initial = _state(pl_module.network)
        self.initial_optimizer = self._id(trainer.optimizers[0])

    def on_train_epoch_start(self, trainer, pl_module):
        self.epoch_start_optimizers.append(self._id(trainer.optimizers[0]))

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.after_step[trainer.global_step] = _state(pl_module.network)
        w = pl_module.network.hidden.weight
        self.nonzero_masked.append(int((w[~self.pruner.masks["hidden.weight"]] != 0).sum()))

    def on_train_epoch_end(self, trainer, pl_module):
        optimizer = trainer.optimizers[0]
        self.after_epoch.append({
            "masks": {k: v.clone() for k, v in self.pruner.masks.items()},
            "state": _state(pl_module.network),
            "optimizer": self._id(optimizer),
            "optimizer_state_len": len(optimizer.state),
        })


class BeforePrune(L.Callback):
    """Placed before the pruning callback: hidden.weight just before each epoch-end prune."""

    def __init__(self):
        self.weights: list[torch.Tensor] = []

    def on_train_epoch_end(self, trainer, pl_module):
        self.weights.append(pl_module.network.hidden.weight.detach().clone())


def _fit(schedule, score=magnitude, rewind_step=None, random_seed=0, seed=0, gradients=None, before=(), measure=None):
    torch.manual_seed(seed)
    network = TinyNet()
    module = Classifier(network, functools.partial(torch.optim.Adam, lr=1e-2), num_classes=2)
    datamodule = TinyDataModule()
    pruner = PruningCallback(schedule, score, SELECT, "layerwise", rewind_step=rewind_step,
                             gradients=gradients or {"samples": 16}, random_seed=random_seed, measure=measure)
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


def test_a_fresh_gradient_sample_per_prune_is_seeded_and_recorded():
    """gradients.resample: each prune draws its own 16 examples from a seed made of (random_seed,
    prune index), the same in a rerun; each prune records the positions whose gradient counted
    (reference mode: the last batch of 10, here 6). Without it one sample serves every prune."""
    schedule = iterative(0.5, phase_epochs=1, phases="equal")
    fresh = {"samples": 16, "resample": True}
    pruner, _, _, _, datamodule = _fit(schedule, score=score_fns.impact, random_seed=3, gradients=fresh)
    seeds = [seed for _, seed, _ in datamodule.sample_calls]
    assert len(set(seeds)) == 3 and 3 not in seeds
    samples = [tuple(h["gradient_examples"]) for h in pruner.history]
    assert len(set(samples)) == 3 and all(len(s) == 16 for s in samples)
    for sample, seed in zip(samples, seeds):
        assert sample == tuple(torch.randperm(N_TRAIN, generator=torch.Generator().manual_seed(seed))[:16].tolist())
    again = _fit(schedule, score=score_fns.impact, random_seed=3, gradients=fresh)[0]
    assert [tuple(h["gradient_examples"]) for h in again.history] == samples
    fixed = _fit(schedule, score=score_fns.impact, random_seed=3)[0]
    assert len({tuple(h["gradient_examples"]) for h in fixed.history}) == 1
    reference = _fit(schedule, score=score_fns.impact, random_seed=3, gradients={**fresh, "mode": "reference"})[0]
    assert [tuple(h["gradient_examples"]) for h in reference.history] == [s[10:] for s in samples]


def test_each_prune_records_the_measures_right_before_and_after_it():
    """measure runs on the model right before and right after each prune: here it counts the
    zero weights of hidden.weight, 0 -> 7, 7 -> 12, 12 -> 16."""
    def zeros(pl_module):
        return {"zeros": int((pl_module.network.hidden.weight == 0).sum())}

    pruner = _fit(iterative(0.5, phase_epochs=1, phases="equal"), measure=zeros)[0]
    assert [(h["test_before"]["zeros"], h["test_after"]["zeros"]) for h in pruner.history] == [(0, 7), (7, 12), (12, 16)]


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


def _fit_structured(rewind_step, steps):
    """A tiny BiLSTM (hidden 6, MLP 5-4) pruned with random unit importance (seed 3); returns the
    network's weights at the start and at the end."""
    from pie.models.bilstm import BiLSTMClassifier
    from pie.pruning.schedules import PruningStep, Schedule
    from pie.pruning.structured_callback import StructuredPruningCallback

    torch.manual_seed(0)
    network = BiLSTMClassifier(torch.randn(20, 8).numpy(), num_classes=2, hidden_size=6, mlp_sizes=(5, 4))
    initial = copy.deepcopy(network)
    schedule = Schedule(steps=tuple(PruningStep(after_epoch=e, sparsity=s) for e, s in steps), max_epochs=steps[-1][0] + 1)
    select = functools.partial(selection.by_patterns, include=["weight"], exclude=["embed", "classifier"])
    pruner = StructuredPruningCallback(schedule, select, importance="random", rewind_step=rewind_step, random_seed=3)
    trainer = L.Trainer(accelerator="cpu", devices=1, max_epochs=schedule.max_epochs, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0, callbacks=[pruner])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.fit(Classifier(network, functools.partial(torch.optim.Adam, lr=1e-2), num_classes=2), datamodule=TinyDataModule())
    return initial, network, pruner


def test_structured_rewinding_leaves_the_kept_units_at_their_initial_weights():
    """Two prunes, each at the end of an epoch, rewinding: the last epoch ends with its prune, so
    the final weights are the initial network cut to the same units, drawn from the same seeded
    generator, bit for bit (the first prune's rewind snapshot was cut along with the network)."""
    from pie.pruning.structured import counts, importance, prune_units, structural_units

    initial, network, pruner = _fit_structured(rewind_step=0, steps=[(0, 0.3), (1, 0.5)])
    generator = torch.Generator().manual_seed(3)
    for step in pruner.history:
        units = structural_units(initial)
        scores = importance(units, "random", generator)
        prune_units(units, {u.name: n for u, n in zip(units, _counts(step["structure"]))}, scores)
    final, expected = network.state_dict(), initial.state_dict()
    assert counts(structural_units(network)) == counts(structural_units(initial))
    assert all(torch.equal(final[name], expected[name]) for name in final)
    first, second = (step["prunable"] for step in pruner.history)
    assert 0 < first < second and abs(second - 0.5) <= 0.02


def _counts(structure):
    """Unit counts in structural_units order (lstm, then each MLP layer) from a BiLSTM structure."""
    return [*structure["lstm"], *structure["mlp"]]


def test_structured_fine_tuning_trains_the_kept_units_on():
    initial, network, pruner = _fit_structured(rewind_step=None, steps=[(0, 0.5), (1, 0.5)])
    assert len(pruner.history) == 2 and pruner.history[1]["parameters_after"] == pruner.history[1]["parameters_before"]
    assert not torch.equal(network.classifier.bias, initial.classifier.bias)
