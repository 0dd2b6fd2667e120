"""Masks as a pure function of scores and the current mask, and the sparsity they achieve.

A mask is a bool tensor per parameter (True = kept). Pruning only ever removes kept entries, so
masks are monotone over steps; entries are removed in order of increasing score, ties broken by
flat index, so the achieved sparsity equals the target up to rounding to whole weights.
"""

from __future__ import annotations

from typing import Mapping

import torch

MaskSet = dict[str, torch.Tensor]
SCOPES = ("layerwise", "global")


def full_masks(params: Mapping[str, torch.Tensor]) -> MaskSet:
    """All-kept masks for the given parameters."""
    return {name: torch.ones_like(p, dtype=torch.bool) for name, p in params.items()}


def _remove_lowest(scores: torch.Tensor, kept: torch.Tensor, k: int) -> torch.Tensor:
    """Flat bool mask that drops the k lowest-scoring kept entries (ties: lowest index first)."""
    kept = kept.clone()
    if k <= 0:
        return kept
    if scores.dtype not in (torch.float32, torch.float64):
        scores = scores.float()
    candidates = scores[kept]
    if k >= candidates.numel():
        return torch.zeros_like(kept)
    threshold = torch.kthvalue(candidates, k).values
    below = kept & (scores < threshold)
    need = k - int(below.sum())
    at_threshold = torch.nonzero(kept & (scores == threshold)).flatten()[:need]
    kept[below] = False
    kept[at_threshold] = False
    return kept


def prune_to_sparsity(
    scores: Mapping[str, torch.Tensor],
    masks: Mapping[str, torch.Tensor],
    sparsity: float,
    scope: str = "layerwise",
) -> MaskSet:
    """New masks whose cumulative sparsity is `sparsity`, removing the lowest-scoring kept weights.

    :param scores: per-parameter importance (higher = keep), same shapes as the masks.
    :param masks: current masks (True = kept); never re-grown.
    :param sparsity: target fraction of zeros, per tensor ("layerwise") or over the union of all
        tensors ("global").
    """
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {', '.join(SCOPES)}, got {scope!r}")
    if not 0.0 <= sparsity <= 1.0:
        raise ValueError(f"sparsity must be in [0, 1], got {sparsity}")
    names = list(masks)
    if scope == "layerwise":
        new = {}
        for name in names:
            mask = masks[name]
            k = round(sparsity * mask.numel()) - int((~mask).sum())
            new[name] = _remove_lowest(scores[name].detach().flatten(), mask.flatten(), k).view_as(mask)
        return new
    flat_scores = torch.cat([scores[n].detach().flatten() for n in names])
    flat_masks = torch.cat([masks[n].flatten() for n in names])
    k = round(sparsity * flat_masks.numel()) - int((~flat_masks).sum())
    flat_new = _remove_lowest(flat_scores, flat_masks, k)
    new, offset = {}, 0
    for name in names:
        size = masks[name].numel()
        new[name] = flat_new[offset : offset + size].view_as(masks[name])
        offset += size
    return new


def sparsity_report(masks: Mapping[str, torch.Tensor], model: torch.nn.Module) -> dict:
    """Achieved sparsity per masked tensor, of the prunable set, and of the whole model.

    Whole-model sparsity counts the masked zeros against every parameter of the model.
    """
    zeros = {name: int((~mask).sum()) for name, mask in masks.items()}
    sizes = {name: mask.numel() for name, mask in masks.items()}
    prunable = sum(sizes.values())
    total = sum(p.numel() for p in model.parameters())
    return {
        "prunable": sum(zeros.values()) / prunable if prunable else 0.0,
        "model": sum(zeros.values()) / total if total else 0.0,
        "prunable_parameters": prunable,
        "model_parameters": total,
        "per_tensor": {name: zeros[name] / sizes[name] for name in masks},
    }
