"""Structured pruning: physically remove whole units — BERT attention heads and FFN neurons, the
BiLSTM's MLP channels and LSTM hidden units — so the pruned model is smaller and faster.

Which weights belong to a unit is read from torch-pruning's dependency graph (Fang et al. 2023,
"DepGraph: Towards Any Structural Pruning"): the group rooted at a head's query rows holds its
key and value rows and its attention-output columns, for any BERT-layout checkpoint; an FFN
neuron's group holds its intermediate row and output column; an MLP channel's its row and the
next layer's column. torch-pruning removes the group's slices. torch-pruning 1.6.1 cannot remove
the hidden units of a multi-layer bidirectional nn.LSTM (its LSTM pruner asserts num_layers == 1
and indexes the recurrent weights with hidden-unit indices, an IndexError; its graph cannot
trace the concatenation of the two directions), so those are removed by hand here
(`LSTMHiddenUnits`), the only hand-written slicing.

Units are ranked within their layer by importance: "magnitude" is the L2 norm of every weight
and bias the unit's removal deletes (Michel et al. 2019 prune heads, Li et al. 2017 filters, by
such norms), "random" a seeded uniform draw; the lowest go (ties: lowest index first), at least
one unit stays. How many go follows one fraction r for every layer, chosen so that a target
fraction of the prunable parameters is removed (`counts_for_sparsity`), or r given directly
(`counts_for_ratio`).

A pruned model is checkpointed as its state_dict plus `structure_of(network)`; `reshape_to`
gives a freshly built model that structure so the state_dict loads with weights_only=True.
Parameters are replaced on the existing modules, so optimizers must be rebuilt afterwards.
"""

from __future__ import annotations

import bisect
import math
from collections import defaultdict
from typing import Callable, Iterable, Mapping, Sequence

import torch
from torch import nn

from pie.models.bert import BertClassifier
from pie.models.bilstm import BiLSTMClassifier

IMPORTANCES = ("magnitude", "random")
SPARSITY_OF = ("prunable", "units")
Governed = tuple[str, int, int]  # (parameter name, dim, entries removed along dim per unit removed)


class Units:
    """One family of units of one layer: `rows` independent rankings that share one unit count
    (one for a BERT layer's heads; layers x directions for an LSTM, whose hidden size is one
    number), and what removing units deletes."""

    name: str  # e.g. "model.bert.encoder.layer.0.heads"
    family: str  # "heads", "ffn", "mlp" or "lstm": structure_of lists the counts per family
    rows: int = 1

    def count(self) -> int:
        raise NotImplementedError

    def squares(self) -> torch.Tensor:
        """[rows, count] float32: sum of squares of every weight and bias removing the unit deletes."""
        raise NotImplementedError

    def governs(self) -> list[Governed]:
        """The prunable dimensions removing one unit (from every row) shortens."""
        raise NotImplementedError

    def remove(self, index: torch.Tensor) -> None:
        """Remove units `index` [rows, k] (current positions), in place."""
        raise NotImplementedError


class DependencyGroup(Units):
    """Units whose weights torch-pruning's dependency graph couples with the output channels of a
    root Linear; a unit is `width` consecutive channels (a head's head_size, else 1). The graph
    must couple exactly `outputs` (output rows) and `inputs` (input columns), else the model is
    wired in a way this code does not know and is refused."""

    def __init__(self, name: str, family: str, graph, root: nn.Linear, width: int, names: Mapping[nn.Module, str],
                 outputs: Sequence[nn.Linear], inputs: Sequence[nn.Linear], after: Callable[[], None] | None = None):
        self.name, self.family, self.graph, self.root, self.width = name, family, graph, root, width
        self.names, self.after = names, after
        self.order = {module: i for i, module in enumerate(names)}
        members = self._members(self._group(range(root.out_features)))
        found = ({m for m, out, _ in members if out}, {m for m, out, _ in members if not out})
        if found != (set(outputs), set(inputs)):
            described = ", ".join(f"{names.get(m, m)} ({'rows' if out else 'columns'})" for m, out, _ in members)
            raise RuntimeError(
                f"torch-pruning's dependency graph couples {described} with {names[root]}; expected the rows of "
                f"{', '.join(names[m] for m in outputs)} and the columns of {', '.join(names[m] for m in inputs)}: "
                "this model's layers are wired differently, so its units cannot be removed safely"
            )

    def _group(self, channels: Iterable[int]):
        import torch_pruning as tp

        return self.graph.get_pruning_group(self.root, tp.prune_linear_out_channels, idxs=list(channels))

    def _members(self, group) -> list[tuple[nn.Linear, bool, object]]:
        """(Linear, True for its rows / False for its columns, group item), rows first, each in
        the network's module order (the order the importance sums in)."""
        import torch_pruning as tp

        members = [
            (item.dep.target.module, item.dep.handler == tp.prune_linear_out_channels, item)
            for item in group.items
            if isinstance(item.dep.target.module, nn.Linear)
        ]
        return sorted(members, key=lambda m: (not m[1], self.order.get(m[0], len(self.order))))

    def count(self) -> int:
        return self.root.out_features // self.width

    def squares(self) -> torch.Tensor:
        total = 0
        for linear, rows, item in self._members(self._group(range(self.root.out_features))):
            per_channel = _row_squares(linear) if rows else _column_squares(linear)
            index, root = (torch.as_tensor(i, dtype=torch.long, device=per_channel.device) for i in (item.idxs, item.root_idxs))
            total = total + torch.zeros(self.root.out_features, device=per_channel.device).index_add_(0, root, per_channel[index])
        return total.view(1, self.count(), self.width).sum(dim=2)

    def governs(self) -> list[Governed]:
        governed = []
        for linear, rows, item in self._members(self._group(range(self.root.out_features))):
            per_unit = len(item.idxs) // self.count()
            name = self.names[linear]
            governed.append((f"{name}.weight", 0 if rows else 1, per_unit))
            if rows and linear.bias is not None:
                governed.append((f"{name}.bias", 0, per_unit))
        return governed

    def remove(self, index: torch.Tensor) -> None:
        if index.numel() == 0:
            return
        channels = (index.flatten()[:, None] * self.width + torch.arange(self.width)).flatten()
        self._group(channels.tolist()).prune()
        if self.after is not None:
            self.after()


class LSTMHiddenUnits(Units):
    """The hidden units of a (multi-layer, bidirectional) nn.LSTM, removed by hand because
    torch-pruning 1.6.1 cannot (module docstring). nn.LSTM has one hidden size, so every layer and
    direction keeps the same number of units, each its own: row l * directions + d ranks layer
    l's direction d. A unit is its four gate rows of weight_ih/weight_hh and the biases, its
    column of weight_hh, and its input column in the next layer (both directions) or, after the
    last layer, in `consumer`, which reads [forward state ; backward state]."""

    family = "lstm"

    def __init__(self, name: str, network: nn.Module, lstm: nn.LSTM, consumer: nn.Linear, names: Mapping[nn.Module, str]):
        if lstm.proj_size or not lstm.bias:
            raise NotImplementedError("removing LSTM hidden units needs an nn.LSTM with biases and no projection")
        self.name, self.network, self.lstm, self.consumer, self.names = name, network, lstm, consumer, names
        self.directions = 2 if lstm.bidirectional else 1
        self.rows = lstm.num_layers * self.directions

    def count(self) -> int:
        return self.lstm.hidden_size

    def _suffix(self, layer: int, direction: int) -> str:
        return f"l{layer}{'_reverse' if direction else ''}"

    def _parameter(self, kind: str, layer: int, direction: int) -> nn.Parameter:
        return getattr(self.lstm, f"{kind}_{self._suffix(layer, direction)}")

    def _readers(self, layer: int) -> list[tuple[str, nn.Parameter]]:
        """The weights that read layer `layer`'s hidden states as input columns."""
        if layer + 1 < self.lstm.num_layers:
            return [(f"{self.names[self.lstm]}.weight_ih_{self._suffix(layer + 1, d)}", self._parameter("weight_ih", layer + 1, d))
                    for d in range(self.directions)]
        return [(f"{self.names[self.consumer]}.weight", self.consumer.weight)]

    def squares(self) -> torch.Tensor:
        hidden = self.count()
        rows = []
        for layer in range(self.lstm.num_layers):
            for direction in range(self.directions):
                total = 0
                for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                    gates = self._parameter(kind, layer, direction).detach().float().pow(2).reshape(4, hidden, -1)
                    total = total + gates.sum(dim=(0, 2))
                total = total + self._parameter("weight_hh", layer, direction).detach().float().pow(2).sum(dim=0)
                columns = slice(direction * hidden, (direction + 1) * hidden)
                for _, reader in self._readers(layer):
                    total = total + reader.detach().float()[:, columns].pow(2).sum(dim=0)
                rows.append(total)
        return torch.stack(rows)

    def governs(self) -> list[Governed]:
        prefix = self.names[self.lstm]
        governed = []
        for layer in range(self.lstm.num_layers):
            for direction in range(self.directions):
                suffix = self._suffix(layer, direction)
                governed += [(f"{prefix}.{kind}_{suffix}", 0, 4) for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
                governed.append((f"{prefix}.weight_hh_{suffix}", 1, 1))
                governed += [(name, 1, 1) for name, _ in self._readers(layer)]
        return governed

    def remove(self, index: torch.Tensor) -> None:
        if index.numel() == 0:
            return
        hidden = self.count()
        kept = _complement(index, hidden)
        for layer in range(self.lstm.num_layers):
            for direction in range(self.directions):
                suffix = self._suffix(layer, direction)
                rows = self._gate_rows(kept[layer * self.directions + direction], hidden)
                weight_ih = _select(self._parameter("weight_ih", layer, direction), 0, rows)
                if layer:
                    weight_ih = _select(weight_ih, 1, self._outputs(kept, layer - 1, hidden))
                setattr(self.lstm, f"weight_ih_{suffix}", weight_ih)
                weight_hh = _select(self._parameter("weight_hh", layer, direction), 0, rows)
                setattr(self.lstm, f"weight_hh_{suffix}", _select(weight_hh, 1, kept[layer * self.directions + direction]))
                for kind in ("bias_ih", "bias_hh"):
                    setattr(self.lstm, f"{kind}_{suffix}", _select(self._parameter(kind, layer, direction), 0, rows))
        self.consumer.weight = _select(self.consumer.weight, 1, self._outputs(kept, self.lstm.num_layers - 1, hidden))
        self.consumer.in_features = self.consumer.weight.shape[1]
        self.lstm.hidden_size = kept.shape[1]
        self.lstm._init_flat_weights()
        if hasattr(self.network, "hidden_size"):
            self.network.hidden_size = kept.shape[1]

    @staticmethod
    def _gate_rows(units: torch.Tensor, hidden: int) -> torch.Tensor:
        """The rows of `units` in each of the four gate blocks (i, f, g, o) of a weight or bias."""
        return torch.cat([units + gate * hidden for gate in range(4)])

    def _outputs(self, kept: torch.Tensor, layer: int, hidden: int) -> torch.Tensor:
        """Layer `layer`'s kept units as positions in its output [forward ; backward]."""
        return torch.cat([kept[layer * self.directions + d] + d * hidden for d in range(self.directions)])


def structural_units(network: nn.Module) -> list[Units]:
    """The units structured pruning can remove from the model the run built, in a fixed order."""
    if isinstance(network, BertClassifier):
        return _bert_units(network)
    if isinstance(network, BiLSTMClassifier):
        return _bilstm_units(network)
    raise NotImplementedError(
        f"structured pruning knows BERT-layout encoders and the BiLSTM, not {type(network).__name__}; "
        "prune it with an unstructured method (e.g. pruning=imp_ft)"
    )


def _dependency_graph(model: nn.Module, example_inputs):
    """torch-pruning's dependency graph, traced in eval mode (dropout would draw from the global
    RNG and change the run) with gradients on (the trace follows autograd)."""
    import torch_pruning as tp

    was_training = model.training
    model.eval()
    try:
        with torch.enable_grad():
            return tp.DependencyGraph().build_dependency(model, example_inputs=example_inputs)
    finally:
        model.train(was_training)


def _bert_units(network: BertClassifier) -> list[Units]:
    """Per encoder layer: its heads, then its FFN neurons."""
    layers = _encoder_layers(network)
    device = next(network.parameters()).device
    ids = torch.zeros((1, 2), dtype=torch.long, device=device)
    graph = _dependency_graph(network, (ids, torch.ones_like(ids)))
    names = {module: name for name, module in network.named_modules()}
    units: list[Units] = []
    for i, layer in enumerate(layers):
        attention = layer.attention.self
        qkv = (attention.query, attention.key, attention.value)
        units.append(DependencyGroup(
            f"{names[layer]}.heads", "heads", graph, attention.query, attention.attention_head_size, names,
            outputs=qkv, inputs=(layer.attention.output.dense,), after=lambda a=attention: _update_heads(a),
        ))
        units.append(DependencyGroup(
            f"{names[layer]}.ffn", "ffn", graph, layer.intermediate.dense, 1, names,
            outputs=(layer.intermediate.dense,), inputs=(layer.output.dense,),
        ))
    return units


def _update_heads(attention: nn.Module) -> None:
    """The attributes transformers keeps about the heads (its forward reshapes with -1 and
    attention_head_size)."""
    attention.num_attention_heads = attention.query.out_features // attention.attention_head_size
    attention.all_head_size = attention.query.out_features


def _bilstm_units(network: BiLSTMClassifier) -> list[Units]:
    """The LSTM's hidden units (by hand), then each hidden MLP layer's channels. torch-pruning
    cannot trace the whole BiLSTM (the two directions' states are concatenated), so its graph is
    built over the MLP and classifier, which hold every weight an MLP channel owns."""
    names = {module: name for name, module in network.named_modules()}
    linears = [m for m in network.mlp if isinstance(m, nn.Linear)]
    readers = [*linears[1:], network.classifier]
    units: list[Units] = [LSTMHiddenUnits(names[network.lstm], network, network.lstm, (linears or [network.classifier])[0], names)]
    if linears:
        head = nn.Sequential(network.mlp, network.classifier)
        graph = _dependency_graph(head, torch.zeros((1, linears[0].in_features), device=linears[0].weight.device))
        units += [DependencyGroup(names[linear], "mlp", graph, linear, 1, names, outputs=(linear,), inputs=(reader,))
                  for linear, reader in zip(linears, readers)]
    return units


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


def counts(units: Sequence[Units]) -> dict[str, int]:
    """Units per family member now: {unit name: count}."""
    return {u.name: u.count() for u in units}


def counts_for_ratio(original: Mapping[str, int], ratio: float, current: Mapping[str, int] | None = None) -> dict[str, int]:
    """Units left when round(ratio * n) of each family's original n go (at least one stays),
    never more than `current` (pruning never regrows)."""
    _check_ratio(ratio)
    left = {name: n - min(round(ratio * n), n - 1) for name, n in original.items()}
    return {name: min(n, current[name]) for name, n in left.items()} if current else left


def _remaining(plan: Sequence[tuple[int, str, list[Governed]]], shapes: Mapping[str, Sequence[int]], target: Mapping[str, int]) -> int:
    removed: dict[tuple[str, int], int] = defaultdict(int)
    for count, name, governed in plan:
        for parameter, dim, per_unit in governed:
            removed[parameter, dim] += per_unit * (count - target[name])
    return sum(math.prod(size - removed.get((name, dim), 0) for dim, size in enumerate(shape)) for name, shape in shapes.items())


def counts_for_sparsity(units: Sequence[Units], shapes: Mapping[str, Sequence[int]], before: int, sparsity: float,
                        original: Mapping[str, int]) -> dict[str, int]:
    """Unit counts from one fraction r of every family (`counts_for_ratio`), r chosen so that the
    prunable parameters left (`shapes`, of `before` at the start) come closest to
    (1 - sparsity) * before (ties: the smaller r). The achieved fraction grows with r, so r is
    found by bisection among the fractions k / n that change some family's count."""
    current = counts(units)
    plan = [(u.count(), u.name, u.governs()) for u in units]

    def achieved(ratio: float) -> float:
        return 1 - _remaining(plan, shapes, counts_for_ratio(original, ratio, current)) / before

    candidates = sorted({k / n for n in original.values() for k in range(n)})
    above = bisect.bisect_left(candidates, sparsity, key=achieved)
    nearby = candidates[max(above - 1, 0): above + 1]
    return counts_for_ratio(original, min(nearby, key=lambda r: abs(achieved(r) - sparsity)), current)


def importance(units: Sequence[Units], kind: str, generator: torch.Generator | None = None) -> list[torch.Tensor]:
    """Per family, [rows, count] scores: L2 norms ("magnitude") or uniform draws ("random")."""
    if kind not in IMPORTANCES:
        raise ValueError(f"importance must be one of {', '.join(IMPORTANCES)}, got {kind!r}")
    if kind == "random":
        return [torch.rand((u.rows, u.count()), generator=generator) for u in units]
    return [u.squares().sqrt() for u in units]


def lowest(scores: torch.Tensor, k: int) -> torch.Tensor:
    """[rows, k] ascending positions of each row's k lowest scores (ties: lowest index first)."""
    order = torch.sort(scores.cpu(), dim=1, stable=True).indices
    return order[:, :k].sort(dim=1).values


def prune_units(units: Sequence[Units], target: Mapping[str, int], scores: Sequence[torch.Tensor]) -> None:
    """Cut every family to `target` units, removing each row's lowest-scoring ones."""
    for unit, score in zip(units, scores):
        unit.remove(lowest(score, unit.count() - target[unit.name]))


def structure_of(network: nn.Module) -> dict:
    """Units per family, per layer in order (JSON-serialisable): {"heads": [...], "ffn": [...]}
    for BERT, {"lstm": [hidden size], "mlp": [...]} for the BiLSTM."""
    structure: dict[str, list[int]] = {}
    for unit in structural_units(network):
        structure.setdefault(unit.family, []).append(unit.count())
    return structure


def reshape_to(network: nn.Module, structure: Mapping[str, Sequence[int]]) -> None:
    """Shrink a freshly built, unpruned model to `structure` (keeping the first units, whose
    values are then overwritten by load_state_dict)."""
    units = structural_units(network)
    families: dict[str, list[Units]] = defaultdict(list)
    for unit in units:
        families[unit.family].append(unit)
    if sorted(families) != sorted(structure) or any(len(families[f]) != len(structure[f]) for f in structure):
        raise ValueError(f"structure {dict(structure)} does not fit this model's units {structure_of(network)}")
    for family, members in families.items():
        for unit, wanted in zip(members, structure[family]):
            if not 1 <= wanted <= unit.count():
                raise ValueError(f"cannot reshape {unit.name} with {unit.count()} units to {wanted}")
            unit.remove(torch.arange(wanted, unit.count()).expand(unit.rows, -1))


def check_structured(importance: str, sparsity_of: str) -> None:
    """The structured section's values, each with its allowed values."""
    if importance not in IMPORTANCES:
        raise ValueError(f"pruning.structured.importance must be one of {', '.join(IMPORTANCES)}, got {importance!r}")
    if sparsity_of not in SPARSITY_OF:
        raise ValueError(f"pruning.structured.sparsity_of must be one of {', '.join(SPARSITY_OF)}, got {sparsity_of!r}")


def _check_ratio(ratio: float) -> None:
    """Ratios are fractions removed; 1 would empty a layer."""
    if not 0 <= ratio < 1:
        raise ValueError(f"the fraction of units removed must be in [0, 1), got {ratio}")


def _complement(index: torch.Tensor, n: int) -> torch.Tensor:
    """[rows, n - k] ascending positions not in each row of `index` [rows, k]."""
    keep = torch.ones((index.shape[0], n), dtype=torch.bool)
    keep.scatter_(1, index.cpu(), False)
    return torch.stack([row.nonzero().flatten() for row in keep])


def _select(parameter: nn.Parameter, dim: int, index: torch.Tensor) -> nn.Parameter:
    """A new contiguous Parameter of the given slices along `dim`, with the old one's requires_grad."""
    data = parameter.detach().index_select(dim, index.to(parameter.device)).contiguous()
    return nn.Parameter(data, requires_grad=parameter.requires_grad)


def _row_squares(linear: nn.Linear) -> torch.Tensor:
    """Sum of squares per output channel: its weight row and its bias."""
    squares = linear.weight.detach().float().pow(2).sum(dim=1)
    if linear.bias is not None:
        squares = squares + linear.bias.detach().float().pow(2)
    return squares


def _column_squares(linear: nn.Linear) -> torch.Tensor:
    """Sum of squares per input channel (its weight column; the bias belongs to no input)."""
    return linear.weight.detach().float().pow(2).sum(dim=0)
