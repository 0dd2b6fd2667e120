"""Structured pruning: physically remove attention heads and FFN neurons from BERT-family models.

transformers v5 dropped `prune_heads`/`head_mask`, so heads are removed by slicing the query,
key and value Linears (output rows) and the attention-output Linear (input columns); FFN neurons
by slicing intermediate.dense (rows) and output.dense (columns). Hidden size, embeddings,
LayerNorms, pooler and classifier are untouched. Parameters are replaced in place on the existing
Linear modules (hooks and module identity survive), so optimizers must be rebuilt afterwards.

A pruned model is checkpointed as its state_dict plus `structure_of(network)`; `reshape_to`
gives a freshly built model that structure so the state_dict loads with weights_only=True.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from pie.models.bert import BertClassifier

IMPORTANCES = ("magnitude", "random")


def prune_structured(network: nn.Module, **kwargs) -> dict:
    """Structured pruning of whichever model the run built; BERT-family only."""
    if isinstance(network, BertClassifier):
        return prune_bert_structured(network, **kwargs)
    raise NotImplementedError(
        f"structured pruning is supported for BERT-family models only, not {type(network).__name__}: "
        "torch-pruning's LSTM pruner fails for multi-layer bidirectional LSTMs, so prune the BiLSTM "
        "with unstructured pruning instead (e.g. pruning=imp_ft)"
    )


def prune_bert_structured(
    network: BertClassifier,
    head_ratio: float,
    ffn_ratio: float,
    importance: str = "magnitude",
    generator: torch.Generator | None = None,
) -> dict:
    """Remove round(ratio * n) lowest-importance heads and FFN neurons from every encoder layer
    (at least one of each kept), in place; returns counts per layer and parameter totals."""
    _check_ratio("head_ratio", head_ratio)
    _check_ratio("ffn_ratio", ffn_ratio)
    if importance not in IMPORTANCES:
        raise ValueError(f"importance must be one of {IMPORTANCES}, got {importance!r}")
    before = _count_parameters(network)
    with torch.no_grad():
        for layer in _encoder_layers(network):
            head_scores = _head_scores(layer, importance, generator)
            ffn_scores = _ffn_scores(layer, importance, generator)
            _keep_heads(layer, _kept_indices(head_scores, head_ratio))
            _keep_ffn(layer, _kept_indices(ffn_scores, ffn_ratio))
    structure = structure_of(network)
    return {
        "heads_per_layer": structure["heads"],
        "ffn_per_layer": structure["ffn"],
        "parameters_before": before,
        "parameters_after": _count_parameters(network),
    }


def structure_of(network: BertClassifier) -> dict:
    """Heads and FFN neurons per encoder layer, read from the weight shapes (JSON-serialisable)."""
    layers = _encoder_layers(network)
    return {
        "heads": [_num_heads(layer) for layer in layers],
        "ffn": [layer.intermediate.dense.out_features for layer in layers],
    }


def reshape_to(network: BertClassifier, structure: dict) -> None:
    """Shrink a freshly built, unpruned model to `structure` (keeping the first heads/neurons,
    whose values are then overwritten by load_state_dict)."""
    layers = _encoder_layers(network)
    heads, ffn = list(structure["heads"]), list(structure["ffn"])
    if len(heads) != len(layers) or len(ffn) != len(layers):
        raise ValueError(f"structure has {len(heads)}/{len(ffn)} layers, the model {len(layers)}")
    with torch.no_grad():
        for layer, n_heads, n_ffn in zip(layers, heads, ffn):
            _check_size("heads", n_heads, _num_heads(layer))
            _check_size("ffn neurons", n_ffn, layer.intermediate.dense.out_features)
            _keep_heads(layer, torch.arange(n_heads))
            _keep_ffn(layer, torch.arange(n_ffn))


def _check_ratio(name: str, ratio: float) -> None:
    """Ratios are fractions removed; 1 would empty a layer."""
    if not 0 <= ratio < 1:
        raise ValueError(f"{name} must be in [0, 1), got {ratio}")


def _check_size(what: str, wanted: int, available: int) -> None:
    """A target size must be reachable by removing units from the fresh model."""
    if not 1 <= wanted <= available:
        raise ValueError(f"cannot reshape a layer with {available} {what} to {wanted}")


def _count_parameters(network: nn.Module) -> int:
    return sum(p.numel() for p in network.parameters())


def _encoder_layers(network: BertClassifier) -> Sequence[nn.Module]:
    """The encoder layers of a BERT-layout model (BERT, RoBERTa, ELECTRA, MiniLM, ...)."""
    encoder = getattr(network.model.base_model, "encoder", None)
    layers = getattr(encoder, "layer", None)
    if layers is None or not all(hasattr(layer.attention, "self") for layer in layers):
        raise NotImplementedError(
            f"structured pruning needs a BERT-layout encoder (encoder.layer[i].attention.self), "
            f"not {type(network.model).__name__}"
        )
    return layers


def _num_heads(layer: nn.Module) -> int:
    attention = layer.attention.self
    return attention.query.out_features // attention.attention_head_size


def _kept_indices(scores: torch.Tensor, ratio: float) -> torch.Tensor:
    """Ascending indices of the units that survive removing the round(ratio * n) lowest scores
    (ties: lowest index removed first), keeping at least one unit."""
    n = scores.numel()
    remove = min(round(ratio * n), n - 1)
    order = torch.sort(scores, stable=True).indices
    return order[remove:].sort().values


def _head_scores(layer: nn.Module, importance: str, generator: torch.Generator | None) -> torch.Tensor:
    """Per head: L2 norm of its q/k/v rows and biases and its attention-output columns."""
    n_heads = _num_heads(layer)
    if importance == "random":
        return torch.rand(n_heads, generator=generator)
    attention = layer.attention.self
    size = attention.attention_head_size
    squares = sum(_row_squares(linear) for linear in (attention.query, attention.key, attention.value))
    squares = squares + _column_squares(layer.attention.output.dense)
    return squares.view(n_heads, size).sum(dim=1).sqrt()


def _ffn_scores(layer: nn.Module, importance: str, generator: torch.Generator | None) -> torch.Tensor:
    """Per neuron: L2 norm of its intermediate row and bias and its output column."""
    if importance == "random":
        return torch.rand(layer.intermediate.dense.out_features, generator=generator)
    squares = _row_squares(layer.intermediate.dense) + _column_squares(layer.output.dense)
    return squares.sqrt()


def _row_squares(linear: nn.Linear) -> torch.Tensor:
    """Sum of squares per output unit: its weight row and its bias."""
    squares = linear.weight.detach().float().pow(2).sum(dim=1)
    if linear.bias is not None:
        squares = squares + linear.bias.detach().float().pow(2)
    return squares


def _column_squares(linear: nn.Linear) -> torch.Tensor:
    """Sum of squares per input unit (its weight column; the bias belongs to no input unit)."""
    return linear.weight.detach().float().pow(2).sum(dim=0)


def _keep_heads(layer: nn.Module, heads: torch.Tensor) -> None:
    """Slice the layer's attention to the given heads and update the attributes transformers
    keeps about them (its forward reshapes with -1 and attention_head_size)."""
    attention = layer.attention.self
    size = attention.attention_head_size
    if heads.numel() == _num_heads(layer):
        return
    units = (heads[:, None] * size + torch.arange(size)).flatten()
    for linear in (attention.query, attention.key, attention.value):
        _keep_outputs(linear, units)
    _keep_inputs(layer.attention.output.dense, units)
    attention.num_attention_heads = heads.numel()
    attention.all_head_size = heads.numel() * size


def _keep_ffn(layer: nn.Module, neurons: torch.Tensor) -> None:
    """Slice the layer's feed-forward block to the given intermediate neurons."""
    if neurons.numel() == layer.intermediate.dense.out_features:
        return
    _keep_outputs(layer.intermediate.dense, neurons)
    _keep_inputs(layer.output.dense, neurons)


def _keep_outputs(linear: nn.Linear, index: torch.Tensor) -> None:
    """Keep the given output units (weight rows and bias entries) of a Linear, in place."""
    index = index.to(linear.weight.device)
    linear.weight = _like(linear.weight, linear.weight.index_select(0, index))
    if linear.bias is not None:
        linear.bias = _like(linear.bias, linear.bias.index_select(0, index))
    linear.out_features = index.numel()


def _keep_inputs(linear: nn.Linear, index: torch.Tensor) -> None:
    """Keep the given input units (weight columns) of a Linear, in place."""
    index = index.to(linear.weight.device)
    linear.weight = _like(linear.weight, linear.weight.index_select(1, index))
    linear.in_features = index.numel()


def _like(parameter: nn.Parameter, data: torch.Tensor) -> nn.Parameter:
    """A new contiguous Parameter with the old one's requires_grad."""
    return nn.Parameter(data.contiguous(), requires_grad=parameter.requires_grad)
