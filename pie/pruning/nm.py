"""N:M semi-structured sparsity (Mishra et al. 2021, "Accelerating Sparse Deep Neural Networks";
Zhou et al. 2021, "Learning N:M Fine-grained Structured Sparse Neural Networks"): in every group
of M consecutive input weights of a Linear layer's output row at most N are nonzero. 2:4 is the
pattern NVIDIA's sparse tensor cores execute, through `torch.sparse.to_sparse_semi_structured`.

Masks are a pure function of scores (any of pie.pruning.scores: magnitude, impact, random) and
the current masks, like `pie.pruning.masks.prune_to_sparsity`, but the selection is within each
group: a prune to sparsity s removes round(s * M) weights of every group (its lowest-scoring
ones, ties to the lowest index; removed weights stay removed), so the final step of a schedule
that ends at 1 - N/M leaves exactly N per group, and earlier steps of the iterative schedule
leave fewer zeros per group.
"""

from __future__ import annotations

from typing import Mapping

import torch
from torch import nn

from pie.pruning.masks import MaskSet


def check_nm(n: int, m: int, sparsity: float) -> None:
    """N:M must keep 1 <= N < M weights per group of M, and a pruning run's final sparsity must be
    the pattern's, 1 - N/M (sparsity 0 is the dense run)."""
    if not (isinstance(n, int) and isinstance(m, int) and 1 <= n < m):
        raise ValueError(f"pruning.nm.n and pruning.nm.m must be integers with 1 <= n < m (e.g. n=2, m=4), got n={n}, m={m}")
    if sparsity and abs(sparsity - (1 - n / m)) > 1e-9:
        raise ValueError(
            f"N:M sparsity with pruning.nm.n={n}, pruning.nm.m={m} keeps {n} of every {m} weights, so sparsity must "
            f"be {1 - n / m:g} (or 0 for the dense run), got {sparsity:g}; set sparsity={1 - n / m:g} or change n and m"
        )


def linear_weights(network: nn.Module, params: Mapping[str, nn.Parameter], m: int) -> dict[str, nn.Parameter]:
    """The parameters of `params` that are nn.Linear weights (the layers a semi-structured kernel
    runs); each must have a multiple of M inputs."""
    weights = {f"{name}.weight" for name, module in network.named_modules() if isinstance(module, nn.Linear)}
    selected = {name: p for name, p in params.items() if name in weights}
    if not selected:
        raise ValueError(f"N:M pruning needs Linear weights among the prunable parameters, found none in {list(params)}")
    uneven = [f"{name} ({p.shape[1]} inputs)" for name, p in selected.items() if p.shape[1] % m]
    if uneven:
        raise ValueError(f"N:M pruning groups every {m} inputs, but {', '.join(uneven)} do not divide; choose pruning.nm.m accordingly")
    return selected


def nm_masks(scores: Mapping[str, torch.Tensor], masks: Mapping[str, torch.Tensor], sparsity: float, m: int) -> MaskSet:
    """New masks with at least round(sparsity * m) zeros in every group of m consecutive inputs
    (exactly that many where the current masks have no more): each group's lowest-scoring kept
    weights go, ties to the lowest index."""
    if not 0.0 <= sparsity <= 1.0:
        raise ValueError(f"sparsity must be in [0, 1], got {sparsity}")
    k = round(sparsity * m)
    new = {}
    for name, mask in masks.items():
        rows, inputs = mask.shape
        score = scores[name].detach().float().reshape(rows, inputs // m, m).masked_fill(~mask.reshape(rows, inputs // m, m), -torch.inf)
        rank = torch.sort(score, dim=-1, stable=True).indices.argsort(dim=-1)
        new[name] = mask & (rank >= k).reshape(rows, inputs)
    return new


def is_semi_structured(weight: torch.Tensor) -> bool:
    """Whether every group of 4 consecutive inputs has at most 2 nonzeros (the 2:4 pattern)."""
    rows, inputs = weight.shape
    return inputs % 4 == 0 and bool(((weight != 0).reshape(rows, inputs // 4, 4).sum(dim=-1) <= 2).all())


def to_semi_structured(network: nn.Module) -> list[str]:
    """Inference on sparse tensor cores: replace, in place, the weight of every Linear layer that
    has the 2:4 pattern by `torch.sparse.to_sparse_semi_structured(weight)` (CUDA, half or
    bfloat16, shapes the kernel takes); returns the names of the layers converted. Layers the
    kernel cannot take stay dense."""
    from torch.sparse import to_sparse_semi_structured

    converted = []
    for name, module in network.named_modules():
        if isinstance(module, nn.Linear) and module.weight.is_cuda and is_semi_structured(module.weight):
            try:
                sparse = to_sparse_semi_structured(module.weight.detach())
            except RuntimeError:  # dtype or shape the kernel does not take
                continue
            module.weight = nn.Parameter(sparse, requires_grad=False)
            converted.append(name)
    return converted
