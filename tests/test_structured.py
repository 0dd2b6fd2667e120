"""Structured pruning on tiny models with answers worked out by hand: which heads, FFN neurons,
LSTM hidden units and MLP channels go (ties to the lowest index), how many for a target sparsity,
bit-identical logits of the torch-pruning path and of hand slicing (the implementation before
torch-pruning), equivalence with masking, reload, and torch-pruning's LSTM limitation."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch
import transformers
from torch import nn

from pie.models.bert import BertClassifier, build, resolve_checkpoint
from pie.models.bilstm import BiLSTMClassifier
from pie.pruning.structured import (
    DependencyGroup, check_structured, counts, counts_for_ratio, counts_for_sparsity, importance, lowest, prune_units,
    reshape_to, structural_units, structure_of,
)

HIDDEN, HEADS, FFN, LAYERS = 32, 4, 64, 2
HEAD_SIZE = HIDDEN // HEADS
EMBED, LSTM_HIDDEN, MLP = 8, 6, (5, 4)


def tiny_bert(seed: int = 0, family: str = "bert") -> BertClassifier:
    """A tiny random BERT-layout classifier (BERT, RoBERTa or ELECTRA) in eval mode."""
    torch.manual_seed(seed)
    config_class, model_class = {
        "bert": (transformers.BertConfig, transformers.BertForSequenceClassification),
        "roberta": (transformers.RobertaConfig, transformers.RobertaForSequenceClassification),
        "electra": (transformers.ElectraConfig, transformers.ElectraForSequenceClassification),
    }[family]
    config = config_class(vocab_size=50, hidden_size=HIDDEN, num_hidden_layers=LAYERS, num_attention_heads=HEADS,
                          intermediate_size=FFN, max_position_embeddings=64, num_labels=3)
    return BertClassifier(model_class(config)).eval()


def tiny_bilstm(seed: int = 0, packed: bool = True) -> BiLSTMClassifier:
    """Embedding(20, 8) -> 2-layer BiLSTM, hidden 6 -> MLP 5-4 -> 3 classes, in eval mode."""
    torch.manual_seed(seed)
    vectors = torch.randn(20, EMBED).numpy()
    return BiLSTMClassifier(vectors, num_classes=3, hidden_size=LSTM_HIDDEN, mlp_sizes=MLP, packed=packed).eval()


@pytest.fixture
def batch():
    generator = torch.Generator().manual_seed(1)
    input_ids = torch.randint(1, 20, (3, 7), generator=generator)
    attention_mask = torch.tensor([[1] * 7, [1] * 5 + [0] * 2, [1] * 2 + [0] * 5])
    return input_ids, attention_mask


def logits(network, batch) -> torch.Tensor:
    with torch.no_grad():
        return network(*batch)


def prune_by_ratio(network, ratio, kind="magnitude", generator=None) -> None:
    units = structural_units(network)
    prune_units(units, counts_for_ratio(counts(units), ratio), importance(units, kind, generator))


def head_rows(head: int) -> slice:
    return slice(head * HEAD_SIZE, (head + 1) * HEAD_SIZE)


def prunable_shapes(network) -> dict:
    """The default selection's parameters (every weight but embeddings, LayerNorm, classifier)."""
    return {n: p.shape for n, p in network.named_parameters()
            if "weight" in n and not any(s in n for s in ("embed", "LayerNorm", "classifier"))}


# Which units go, worked out by hand.

def test_magnitude_removes_the_zeroed_head_from_query_key_value_and_output():
    network = tiny_bert()
    layer = network.model.bert.encoder.layer[0]
    attention = layer.attention.self
    with torch.no_grad():
        for linear in (attention.query, attention.key, attention.value):
            linear.weight[head_rows(2)] = 0
            linear.bias[head_rows(2)] = 0
        layer.attention.output.dense.weight[:, head_rows(2)] = 0
    original = copy.deepcopy(layer)
    prune_by_ratio(network, 0.25)  # round(0.25 * 4) = 1 head and round(0.25 * 64) = 16 neurons per layer
    assert structure_of(network) == {"heads": [3, 3], "ffn": [48, 48]}
    kept = torch.cat([torch.arange(HIDDEN)[head_rows(h)] for h in (0, 1, 3)])
    for name in ("query", "key", "value"):
        pruned, before = getattr(attention, name), getattr(original.attention.self, name)
        assert torch.equal(pruned.weight, before.weight[kept]) and torch.equal(pruned.bias, before.bias[kept])
    assert torch.equal(layer.attention.output.dense.weight, original.attention.output.dense.weight[:, kept])
    assert attention.num_attention_heads == 3 and attention.all_head_size == 3 * HEAD_SIZE


def test_magnitude_removes_the_smallest_ffn_neurons():
    """Neurons 5 and 9 of layer 1 have their intermediate row, bias and output column scaled by
    1e-3: with ratio 2/64 exactly they go, in that layer."""
    network = tiny_bert()
    layer = network.model.bert.encoder.layer[1]
    with torch.no_grad():
        for neuron in (5, 9):
            layer.intermediate.dense.weight[neuron] *= 1e-3
            layer.intermediate.dense.bias[neuron] *= 1e-3
            layer.output.dense.weight[:, neuron] *= 1e-3
    rows = layer.intermediate.dense.weight.detach().clone()
    units = structural_units(network)
    prune_units(units, {**counts(units), "model.bert.encoder.layer.1.ffn": FFN - 2}, importance(units, "magnitude"))
    kept = [n for n in range(FFN) if n not in (5, 9)]
    assert torch.equal(layer.intermediate.dense.weight, rows[kept])
    assert structure_of(network) == {"heads": [4, 4], "ffn": [64, 62]}


def test_ties_go_to_the_lowest_index():
    scores = torch.tensor([[1.0, 0.0, 1.0, 0.0, 2.0], [3.0, 3.0, 3.0, 3.0, 3.0]])
    assert lowest(scores, 2).tolist() == [[1, 3], [0, 1]]
    assert lowest(scores, 3).tolist() == [[0, 1, 3], [0, 1, 2]]


def test_all_zero_heads_tie_and_the_first_ones_go():
    network = tiny_bert()
    with torch.no_grad():
        for parameter in network.model.bert.encoder.layer[0].attention.parameters():
            parameter.zero_()
    units = structural_units(network)
    scores = importance(units, "magnitude")
    assert torch.equal(scores[0], torch.zeros(1, HEADS))
    query = network.model.bert.encoder.layer[0].attention.self.query
    with torch.no_grad():
        query.weight.copy_(torch.arange(HIDDEN, dtype=torch.float)[:, None].expand(HIDDEN, HIDDEN))  # marks each row
    prune_units(units, {**counts(units), "model.bert.encoder.layer.0.heads": 2}, scores)
    assert query.weight[:, 0].tolist() == list(range(2 * HEAD_SIZE, 4 * HEAD_SIZE))  # heads 0 and 1 went


def test_lstm_hidden_units_of_each_layer_and_direction_are_ranked_on_their_own():
    """Unit 2 of layer 0 forward and unit 4 of layer 1 backward have every weight the unit owns set
    to zero; removing one unit per layer and direction takes those two, and the ties of the other
    rows (all equal scores after zeroing) go to unit 0."""
    network = tiny_bilstm()
    lstm = network.lstm
    with torch.no_grad():
        for parameter in lstm.parameters():
            parameter.fill_(0.1)
        network.mlp[0].weight.fill_(0.1)
        for suffix, unit, reader in (("l0", 2, ("weight_ih_l1", "weight_ih_l1_reverse")), ("l1_reverse", 4, ())):
            for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                getattr(lstm, f"{kind}_{suffix}")[[unit + gate * LSTM_HIDDEN for gate in range(4)]] = 0
            getattr(lstm, f"weight_hh_{suffix}")[:, unit] = 0
            for name in reader:
                getattr(lstm, name)[:, unit] = 0  # layer 0 forward's unit 2 is input column 2 of layer 1
        network.mlp[0].weight[:, LSTM_HIDDEN + 4] = 0  # layer 1 backward's unit 4 is input column 6 + 4 of the MLP
    units = structural_units(network)
    scores = importance(units, "magnitude")
    assert scores[0].shape == (4, LSTM_HIDDEN)
    assert lowest(scores[0], 1).flatten().tolist() == [2, 0, 0, 4]
    prune_units(units, {**counts(units), "lstm": LSTM_HIDDEN - 1}, scores)
    assert lstm.hidden_size == network.hidden_size == LSTM_HIDDEN - 1
    assert lstm.weight_ih_l1.shape == (4 * 5, 2 * 5) and network.mlp[0].in_features == 10
    assert structure_of(network) == {"lstm": [5], "mlp": [5, 4]}


def test_mlp_channel_with_the_smallest_weights_goes():
    network = tiny_bilstm()
    with torch.no_grad():
        network.mlp[2].weight[1] *= 1e-3
        network.mlp[2].bias[1] *= 1e-3
        network.classifier.weight[:, 1] *= 1e-3
    classifier = network.classifier.weight.detach().clone()
    units = structural_units(network)
    prune_units(units, {**counts(units), "mlp.2": 3}, importance(units, "magnitude"))
    assert torch.equal(network.classifier.weight, classifier[:, [0, 2, 3]])
    assert structure_of(network) == {"lstm": [6], "mlp": [5, 3]}


# How many units go: the fraction of the prunable parameters.

def test_sparsity_of_the_prunable_parameters_worked_out_by_hand():
    """Tiny BERT: each layer has 4 x 32 x 32 = 4096 attention weights (1024 per head) and
    2 x 32 x 64 = 4096 FFN weights (64 per neuron); with the pooler's 1024 there are 17,408.
    Half is 8,704: r = 36/64 removes round(2.25) = 2 heads (2 x 2,048) and 36 neurons per layer
    (2 x 2,304), exactly 8,704; the fraction r = 0.5 itself would remove 8,192 (0.4706)."""
    network = tiny_bert()
    units, shapes = structural_units(network), prunable_shapes(network)
    before = sum(int(np.prod(s)) for s in shapes.values())
    assert before == 17408
    target = counts_for_sparsity(units, shapes, before, 0.5, counts(units))
    assert target == {"model.bert.encoder.layer.0.heads": 2, "model.bert.encoder.layer.0.ffn": 28,
                      "model.bert.encoder.layer.1.heads": 2, "model.bert.encoder.layer.1.ffn": 28}
    prune_units(units, target, importance(units, "magnitude"))
    assert sum(p.numel() for n, p in network.named_parameters() if n in shapes) == 8704


def test_sparsity_solver_is_the_closest_uniform_fraction_and_counts_parameters_exactly():
    """BiLSTM: hidden units shrink the LSTM quadratically and the MLP's first layer, MLP channels
    two layers each. The solver's choice must be the closest of every uniform fraction k/n
    (brute force), and the parameters it predicts must be those left after pruning."""
    for target_sparsity in (0.2, 0.5, 0.9):
        network = tiny_bilstm()
        units, shapes = structural_units(network), prunable_shapes(network)
        before = sum(int(np.prod(s)) for s in shapes.values())
        original = counts(units)
        target = counts_for_sparsity(units, shapes, before, target_sparsity, original)
        prune_units(units, target, importance(units, "magnitude"))
        achieved = 1 - sum(p.numel() for n, p in network.named_parameters() if n in shapes) / before
        brute = []
        for ratio in sorted({k / n for n in original.values() for k in range(n)}):
            fresh = tiny_bilstm()
            fresh_units = structural_units(fresh)
            prune_units(fresh_units, counts_for_ratio(original, ratio), importance(fresh_units, "magnitude"))
            brute.append(1 - sum(p.numel() for n, p in fresh.named_parameters() if n in shapes) / before)
        assert abs(achieved - target_sparsity) == min(abs(b - target_sparsity) for b in brute)
        assert brute == sorted(brute)  # the achieved fraction grows with r: bisection is exact


def test_iterative_steps_never_regrow():
    network = tiny_bilstm()
    units, shapes = structural_units(network), prunable_shapes(network)
    before, original = sum(int(np.prod(s)) for s in shapes.values()), counts(units)
    sizes = []
    for sparsity in (0.2063, 0.3700, 0.5):
        units = structural_units(network)
        prune_units(units, counts_for_sparsity(units, shapes, before, sparsity, original), importance(units, "magnitude"))
        sizes.append(counts(structural_units(network)))
    assert all(sizes[i + 1][k] <= sizes[i][k] for i in range(2) for k in sizes[0])


# torch-pruning path vs hand slicing (pie's implementation before torch-pruning).

def _rows(linear: nn.Linear) -> torch.Tensor:
    return linear.weight.detach().float().pow(2).sum(1) + linear.bias.detach().float().pow(2)


def _columns(linear: nn.Linear) -> torch.Tensor:
    return linear.weight.detach().float().pow(2).sum(0)


def _kept(scores: torch.Tensor, ratio: float) -> torch.Tensor:
    return torch.sort(scores, stable=True).indices[min(round(ratio * scores.numel()), scores.numel() - 1):].sort().values


def hand_sliced(network, ratio, kind="magnitude", generator=None):
    """The pre-torch-pruning implementation: per layer, score heads and neurons, then index_select
    q/k/v rows, output columns, intermediate rows and output columns by hand."""
    for layer in network.model.base_model.encoder.layer:
        attention = layer.attention.self
        n_heads, size = attention.query.out_features // attention.attention_head_size, attention.attention_head_size
        if kind == "random":
            head_scores = torch.rand(n_heads, generator=generator)
            ffn_scores = torch.rand(layer.intermediate.dense.out_features, generator=generator)
        else:
            squares = sum(_rows(linear) for linear in (attention.query, attention.key, attention.value))
            head_scores = (squares + _columns(layer.attention.output.dense)).view(n_heads, size).sum(dim=1).sqrt()
            ffn_scores = (_rows(layer.intermediate.dense) + _columns(layer.output.dense)).sqrt()
        heads, neurons = _kept(head_scores, ratio), _kept(ffn_scores, ratio)
        units = (heads[:, None] * size + torch.arange(size)).flatten()
        for linear, index in ((attention.query, units), (attention.key, units), (attention.value, units),
                              (layer.intermediate.dense, neurons)):
            linear.weight, linear.bias = nn.Parameter(linear.weight[index].detach()), nn.Parameter(linear.bias[index].detach())
        for linear, index in ((layer.attention.output.dense, units), (layer.output.dense, neurons)):
            linear.weight = nn.Parameter(linear.weight[:, index].detach().contiguous())
        attention.num_attention_heads, attention.all_head_size = heads.numel(), heads.numel() * size


def assert_bit_identical(a, b, batch) -> None:
    state_a, state_b = a.state_dict(), b.state_dict()
    assert state_a.keys() == state_b.keys() and all(torch.equal(state_a[k], state_b[k]) for k in state_a)
    assert torch.equal(logits(a, batch), logits(b, batch))


@pytest.mark.parametrize("family", ["bert", "roberta", "electra"])
@pytest.mark.parametrize("ratio", [0.25, 0.5, 0.75])
@pytest.mark.parametrize("kind", ["magnitude", "random"])
def test_torch_pruning_path_is_bit_identical_to_hand_slicing(family, ratio, kind, batch):
    network = tiny_bert(family=family)
    reference = copy.deepcopy(network)
    prune_by_ratio(network, ratio, kind, torch.Generator().manual_seed(5))
    hand_sliced(reference, ratio, kind, torch.Generator().manual_seed(5))
    assert structure_of(network)["heads"] == [HEADS - round(ratio * HEADS)] * LAYERS
    assert_bit_identical(network, reference, batch)


def test_torch_pruning_path_is_bit_identical_to_hand_slicing_on_minilm(batch):
    """The packaged all-MiniLM-L6-v2 (6 layers, 12 heads of 32, FFN 1536)."""
    class Tokens:
        pair_encoding, sep_id = "standard", 102

    network = build(2, Tokens(), resolve_checkpoint("packaged:all-MiniLM-L6-v2")).eval()
    reference = copy.deepcopy(network)
    prune_by_ratio(network, 0.5)
    hand_sliced(reference, 0.5)
    assert structure_of(network) == {"heads": [6] * 6, "ffn": [768] * 6}
    assert_bit_identical(network, reference, batch)


# Removing is masking: the removed units' outgoing weights were their only effect.

def test_removing_bert_units_equals_masking_them(batch):
    """Encoder weights are scaled up so that the removed units visibly change the logits."""
    network = tiny_bert()
    with torch.no_grad():
        for parameter in network.model.bert.encoder.parameters():
            if parameter.dim() == 2:
                parameter.mul_(10)
    masked, unpruned = copy.deepcopy(network), copy.deepcopy(network)
    prune_by_ratio(network, 0.25, "random", torch.Generator().manual_seed(3))
    with torch.no_grad():
        for pruned, layer in zip(network.model.bert.encoder.layer, masked.model.bert.encoder.layer):
            for head in range(HEADS):
                rows = layer.attention.self.query.weight[head_rows(head)]
                if not any(torch.equal(rows, kept) for kept in pruned.attention.self.query.weight.split(HEAD_SIZE)):
                    layer.attention.output.dense.weight[:, head_rows(head)] = 0
            for neuron in range(FFN):
                if not (pruned.intermediate.dense.weight == layer.intermediate.dense.weight[neuron]).all(dim=1).any():
                    layer.output.dense.weight[:, neuron] = 0
    assert torch.allclose(logits(network, batch), logits(masked, batch), atol=1e-5)
    assert not torch.allclose(logits(network, batch), logits(unpruned, batch), atol=1e-3)


@pytest.mark.parametrize("packed", [True, False])
def test_removing_lstm_units_and_mlp_channels_equals_masking_their_outputs(packed, batch):
    """A hidden unit acts only through its recurrent column, the next layer's input column and the
    MLP's input column; an MLP channel through the next layer's column. Zero those for the units
    random importance removes (seeded, so the same draw picks them), and the logits agree."""
    network = tiny_bilstm(packed=packed)
    with torch.no_grad():
        for parameter in network.parameters():
            parameter.mul_(3)
    masked, unpruned = copy.deepcopy(network), copy.deepcopy(network)
    units = structural_units(masked)
    scores = importance(units, "random", torch.Generator().manual_seed(4))
    target = {"lstm": 4, "mlp.0": 3, "mlp.2": 2}
    removed = [lowest(score, unit.count() - target[unit.name]) for unit, score in zip(units, scores)]
    with torch.no_grad():
        lstm, h = masked.lstm, LSTM_HIDDEN
        for row, gone in enumerate(removed[0]):
            layer, direction = divmod(row, 2)
            suffix = f"l{layer}{'_reverse' if direction else ''}"
            getattr(lstm, f"weight_hh_{suffix}")[:, gone] = 0
            readers = [lstm.weight_ih_l1, lstm.weight_ih_l1_reverse] if layer == 0 else [masked.mlp[0].weight]
            for reader in readers:
                reader[:, gone + direction * h] = 0
        masked.mlp[2].weight[:, removed[1].flatten()] = 0
        masked.classifier.weight[:, removed[2].flatten()] = 0
    units = structural_units(network)
    prune_units(units, target, importance(units, "random", torch.Generator().manual_seed(4)))
    assert structure_of(network) == {"lstm": [4], "mlp": [3, 2]}
    assert torch.allclose(logits(network, batch), logits(masked, batch), atol=1e-5)
    assert not torch.allclose(logits(network, batch), logits(unpruned, batch), atol=1e-3)


# Reload, errors, limits.

@pytest.mark.parametrize("make", [tiny_bert, tiny_bilstm])
def test_checkpoint_round_trip_with_weights_only(make, tmp_path, batch):
    network = make()
    prune_by_ratio(network, 0.5)
    torch.save(network.state_dict(), tmp_path / "model.pt")
    (tmp_path / "structure.json").write_text(json.dumps(structure_of(network)))
    fresh = make(seed=7)
    reshape_to(fresh, json.loads((tmp_path / "structure.json").read_text()))
    fresh.load_state_dict(torch.load(tmp_path / "model.pt", weights_only=True))
    assert structure_of(fresh) == structure_of(network)
    assert torch.equal(logits(fresh, batch), logits(network, batch))


def test_reshape_to_rejects_impossible_structures():
    with pytest.raises(ValueError, match="does not fit"):
        reshape_to(tiny_bert(), {"heads": [2], "ffn": [32]})
    with pytest.raises(ValueError, match="with 4 units to 5"):
        reshape_to(tiny_bert(), {"heads": [5, 2], "ffn": [32, 32]})
    with pytest.raises(ValueError, match="does not fit"):
        reshape_to(tiny_bilstm(), {"heads": [2, 2], "ffn": [32, 32]})


def test_random_importance_follows_the_generator():
    def pruned(seed):
        network = tiny_bilstm()
        prune_by_ratio(network, 0.5, "random", torch.Generator().manual_seed(seed))
        return network.state_dict()

    same_a, same_b, other = pruned(0), pruned(0), pruned(1)
    assert all(torch.equal(same_a[name], same_b[name]) for name in same_a)
    assert any(not torch.equal(same_a[name], other[name]) for name in same_a)


def test_unexpected_coupling_is_refused():
    """A group whose dependency graph does not couple what the model family says is not pruned."""
    network = tiny_bert()
    graph = structural_units(network)[0].graph
    names = {m: n for n, m in network.named_modules()}
    layer = network.model.bert.encoder.layer[0]
    with pytest.raises(RuntimeError, match="wired differently"):
        DependencyGroup("x", "ffn", graph, layer.intermediate.dense, 1, names,
                        outputs=(layer.intermediate.dense,), inputs=(layer.attention.output.dense,))


def test_unknown_networks_and_bad_values_are_refused():
    with pytest.raises(NotImplementedError, match="pruning=imp_ft"):
        structural_units(nn.Sequential(nn.Linear(2, 2)))
    with pytest.raises(ValueError, match="pruning.structured.importance must be one of magnitude, random, got 'taylor'"):
        check_structured("taylor", "prunable")
    with pytest.raises(ValueError, match="pruning.structured.sparsity_of must be one of prunable, units"):
        check_structured("magnitude", "weights")
    with pytest.raises(ValueError, match=r"in \[0, 1\)"):
        counts_for_ratio({"a": 4}, 1.0)


def test_torch_pruning_cannot_remove_hidden_units_of_a_multi_layer_bidirectional_lstm():
    """Why LSTM hidden units are removed by hand (README): torch-pruning 1.6.1's LSTM pruner
    asserts a single layer, and indexes even a single layer's weights wrongly."""
    import torch_pruning as tp

    prune = tp.pruner.function.prune_lstm_out_channels
    with pytest.raises(AssertionError):
        prune(nn.LSTM(8, 6, num_layers=2, bidirectional=True), [1])
    with pytest.raises(IndexError):
        prune(nn.LSTM(8, 6, num_layers=1, bidirectional=True), [1])
