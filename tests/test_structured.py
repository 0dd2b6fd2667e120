"""Structured pruning of a tiny random BERT: shapes, parameter counts, importance, equivalence with
masking, checkpoint round trip, and refusal for the BiLSTM."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch
import transformers

from pie.models.bert import BertClassifier
from pie.models.bilstm import BiLSTMClassifier
from pie.pruning.structured import prune_bert_structured, prune_structured, reshape_to, structure_of

HIDDEN, HEADS, FFN, LAYERS = 32, 4, 64, 2
HEAD_SIZE = HIDDEN // HEADS


def tiny_bert(seed: int = 0) -> BertClassifier:
    """A tiny random BERT classifier in eval mode."""
    torch.manual_seed(seed)
    config = transformers.BertConfig(
        vocab_size=50, hidden_size=HIDDEN, num_hidden_layers=LAYERS, num_attention_heads=HEADS,
        intermediate_size=FFN, max_position_embeddings=64, num_labels=3,
    )
    return BertClassifier(transformers.BertForSequenceClassification(config)).eval()


@pytest.fixture
def batch():
    generator = torch.Generator().manual_seed(1)
    input_ids = torch.randint(0, 50, (2, 7), generator=generator)
    attention_mask = torch.tensor([[1] * 7, [1] * 5 + [0] * 2])
    return input_ids, attention_mask


def logits(network, batch) -> torch.Tensor:
    with torch.no_grad():
        return network(*batch)


def head_rows(head: int) -> slice:
    return slice(head * HEAD_SIZE, (head + 1) * HEAD_SIZE)


def test_half_pruning_shapes_parameter_count_and_forward(batch):
    network = tiny_bert()
    report = prune_bert_structured(network, head_ratio=0.5, ffn_ratio=0.5)
    assert structure_of(network) == {"heads": [2, 2], "ffn": [32, 32]}
    assert report["heads_per_layer"] == [2, 2] and report["ffn_per_layer"] == [32, 32]
    removed_units = 2 * HEAD_SIZE
    qkv = 3 * (removed_units * HIDDEN + removed_units)
    attention_output = HIDDEN * removed_units
    intermediate = 32 * HIDDEN + 32
    output = HIDDEN * 32
    per_layer = qkv + attention_output + intermediate + output
    assert report["parameters_before"] - report["parameters_after"] == LAYERS * per_layer
    assert report["parameters_after"] == sum(p.numel() for p in network.parameters())
    assert logits(network, batch).shape == (2, 3)


def test_magnitude_removes_the_zeroed_head():
    network = tiny_bert()
    layer = network.model.bert.encoder.layer[0]
    attention = layer.attention.self
    with torch.no_grad():
        for linear in (attention.query, attention.key, attention.value):
            linear.weight[head_rows(2)] = 0
            linear.bias[head_rows(2)] = 0
        layer.attention.output.dense.weight[:, head_rows(2)] = 0
    original = copy.deepcopy(layer)
    prune_bert_structured(network, head_ratio=0.25, ffn_ratio=0.0)
    assert structure_of(network)["heads"] == [3, 3]
    kept = torch.cat([torch.arange(HIDDEN)[head_rows(h)] for h in (0, 1, 3)])
    for name in ("query", "key", "value"):
        pruned, before = getattr(attention, name), getattr(original.attention.self, name)
        assert torch.equal(pruned.weight, before.weight[kept])
        assert torch.equal(pruned.bias, before.bias[kept])
    assert torch.equal(layer.attention.output.dense.weight, original.attention.output.dense.weight[:, kept])
    assert attention.num_attention_heads == 3 and attention.all_head_size == 3 * HEAD_SIZE


def test_zero_ratios_leave_logits_bit_identical(batch):
    network = tiny_bert()
    before = logits(network, batch)
    report = prune_bert_structured(network, head_ratio=0.0, ffn_ratio=0.0)
    assert report["parameters_before"] == report["parameters_after"]
    assert torch.equal(logits(network, batch), before)


def test_removing_heads_and_neurons_equals_masking_them(batch):
    """Encoder weights are scaled up so that the removed units visibly change the logits."""
    network = tiny_bert()
    with torch.no_grad():
        for parameter in network.model.bert.encoder.parameters():
            if parameter.dim() == 2:
                parameter.mul_(10)
    masked, unpruned = copy.deepcopy(network), copy.deepcopy(network)
    prune_bert_structured(network, head_ratio=0.25, ffn_ratio=0.25, importance="random",
                          generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        for pruned, layer in zip(network.model.bert.encoder.layer, masked.model.bert.encoder.layer):
            mask_removed_units(pruned, layer)
    assert torch.allclose(logits(network, batch), logits(masked, batch), atol=1e-5)
    assert not torch.allclose(logits(network, batch), logits(unpruned, batch), atol=1e-3)


def mask_removed_units(pruned, layer) -> None:
    """Zero, in an unpruned layer, the q/k/v rows and output columns of heads (and the FFN
    neurons) that pruning removed, identified by matching the surviving query/intermediate rows."""
    attention = layer.attention.self
    for head in range(HEADS):
        rows = attention.query.weight[head_rows(head)]
        if not any(torch.equal(rows, kept) for kept in pruned.attention.self.query.weight.split(HEAD_SIZE)):
            for linear in (attention.query, attention.key, attention.value):
                linear.weight[head_rows(head)] = 0
                linear.bias[head_rows(head)] = 0
            layer.attention.output.dense.weight[:, head_rows(head)] = 0
    for neuron in range(FFN):
        row = layer.intermediate.dense.weight[neuron]
        if not (pruned.intermediate.dense.weight == row).all(dim=1).any():
            layer.output.dense.weight[:, neuron] = 0


def test_checkpoint_round_trip_with_weights_only(tmp_path, batch):
    network = tiny_bert()
    prune_bert_structured(network, head_ratio=0.5, ffn_ratio=0.25)
    torch.save(network.state_dict(), tmp_path / "model.pt")
    (tmp_path / "structure.json").write_text(json.dumps(structure_of(network)))
    fresh = tiny_bert(seed=7)
    reshape_to(fresh, json.loads((tmp_path / "structure.json").read_text()))
    fresh.load_state_dict(torch.load(tmp_path / "model.pt", weights_only=True))
    assert structure_of(fresh) == structure_of(network)
    assert torch.equal(logits(fresh, batch), logits(network, batch))


def test_reshape_to_rejects_impossible_structures():
    with pytest.raises(ValueError):
        reshape_to(tiny_bert(), {"heads": [2], "ffn": [32]})
    with pytest.raises(ValueError):
        reshape_to(tiny_bert(), {"heads": [5, 2], "ffn": [32, 32]})


def randomly_pruned_weights(seed: int) -> dict:
    """State of a model half-pruned with random importance; which units survive shows in it."""
    network = tiny_bert()
    prune_bert_structured(network, head_ratio=0.5, ffn_ratio=0.5, importance="random",
                          generator=torch.Generator().manual_seed(seed))
    return {name: p.clone() for name, p in network.state_dict().items()}


def test_random_importance_follows_the_generator():
    same_a, same_b, other = randomly_pruned_weights(0), randomly_pruned_weights(0), randomly_pruned_weights(1)
    assert all(torch.equal(same_a[name], same_b[name]) for name in same_a)
    assert any(not torch.equal(same_a[name], other[name]) for name in same_a)


def test_prune_structured_dispatches_bert_and_refuses_bilstm():
    assert prune_structured(tiny_bert(), head_ratio=0.5, ffn_ratio=0.5)["heads_per_layer"] == [2, 2]
    bilstm = BiLSTMClassifier(np.zeros((10, 8), dtype="float32"), num_classes=2)
    with pytest.raises(NotImplementedError, match="LSTM"):
        prune_structured(bilstm, head_ratio=0.5, ffn_ratio=0.5)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"head_ratio": 1.0, "ffn_ratio": 0.5},
        {"head_ratio": -0.1, "ffn_ratio": 0.5},
        {"head_ratio": 0.5, "ffn_ratio": 1.5},
        {"head_ratio": 0.5, "ffn_ratio": 0.5, "importance": "taylor"},
    ],
)
def test_bad_arguments_raise(kwargs):
    with pytest.raises(ValueError):
        prune_bert_structured(tiny_bert(), **kwargs)
