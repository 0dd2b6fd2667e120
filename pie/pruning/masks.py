"""Masks as a pure function of scores and the current mask, and the sparsity they achieve.

A mask is a bool tensor per parameter (True = kept). Pruning only ever removes kept entries, so
masks are monotone over steps; entries are removed in order of increasing score, ties broken by
flat index, so the achieved sparsity equals the target up to rounding to whole weights.
"""

from __future__ import annotations

import functools
import math
from typing import Mapping

import torch

MaskSet = dict[str, torch.Tensor]
SCOPES = ("layerwise", "global")
_DIRECT = 1 << 15  # inputs up to this many entries take the exact path directly
_MIN_SAMPLE = 1024
_SPREAD = 4.0  # window half-width, in standard deviations of the sampled rank


def full_masks(params: Mapping[str, torch.Tensor]) -> MaskSet:
    """All-kept masks for the given parameters."""
    return {name: torch.ones_like(p, dtype=torch.bool) for name, p in params.items()}


def _remove_lowest(scores: torch.Tensor, kept: torch.Tensor, k: int) -> torch.Tensor:
    """Flat bool mask that drops the k lowest-scoring kept entries (ties: lowest index first).

    The exact path on the compacted kept scores: used for small inputs and as the fallback of the
    windowed selection (NaN scores, or a window that missed the k-th value).
    """
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


def _window(
    segments: list[torch.Tensor], kept: list[torch.Tensor], kept_counts: list[int], k: int
) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """Bounds (None = unbounded) that likely bracket the k-th lowest kept score, from a sample.

    A fixed-seed uniform sample of about total^(2/3) kept scores; the bounds are the sample's
    order statistics `_SPREAD` standard deviations either side of the k-th value's expected rank.
    """
    total = sum(s.numel() for s in segments)
    size = min(total, max(_MIN_SAMPLE, int(total ** (2 / 3))))
    generator = torch.Generator().manual_seed(0)
    parts = []
    for scores, keep, count in zip(segments, kept, kept_counts):
        if count == 0:
            continue
        draw = torch.randint(scores.numel(), (max(1, size * scores.numel() // total),), generator=generator)
        draw = draw.to(scores.device)
        part = scores[draw]
        parts.append(part if count == scores.numel() else part[keep[draw]])
    sample = torch.cat(parts).sort().values if parts else torch.empty(0)
    m = sample.numel()
    q = k / sum(kept_counts)
    spread = _SPREAD * math.sqrt(m * q * (1 - q)) + 1
    low, high = math.floor(q * m - spread), math.ceil(q * m + spread)
    return (sample[low] if low >= 0 else None), (sample[high] if high < m else None)


def _remove_lowest_windowed(
    segments: list[torch.Tensor], kept: list[torch.Tensor], kept_counts: list[int], k: int
) -> list[torch.Tensor] | None:
    """Drop the k lowest kept entries by an exact selection within a sampled window of scores.

    Kept entries below the window are all dropped and those above all kept, so only the window's
    few candidates are ranked. None when the window missed the k-th value or holds a NaN.
    """
    low, high = _window(segments, kept, kept_counts, k)
    new, indices, values, below = [], [], [], 0
    for scores, keep, count in zip(segments, kept, kept_counts):
        full = count == scores.numel()
        if low is None:
            mask = keep.clone()
        else:
            under = torch.lt(scores, low)
            if not full:
                under.logical_and_(keep)
            below += int(torch.count_nonzero(under))
            mask = under.logical_not_()
            if not full:
                mask.logical_and_(keep)
        inside = mask.clone() if high is None else torch.gt(scores, high).logical_not_().logical_and_(mask)
        index = torch.nonzero(inside).flatten()
        new.append(mask)
        indices.append(index)
        values.append(scores[index])
    need = k - below
    window = torch.cat(values)
    if not 0 <= need <= window.numel() or bool(torch.isnan(window).any()):
        return None
    if need:
        threshold = torch.kthvalue(window, need).values
        drop = window < threshold
        ties = torch.nonzero(window == threshold).flatten()[: need - int(torch.count_nonzero(drop))]
        drop[ties] = True
        for mask, index, dropped in zip(new, indices, drop.split([i.numel() for i in indices])):
            mask[index[dropped]] = False
    return new


def _remove_lowest_many(
    segments: list[torch.Tensor], kept: list[torch.Tensor], kept_counts: list[int], k: int
) -> list[torch.Tensor]:
    """Flat masks without the k lowest-scoring kept entries of the concatenated flat segments.

    Ties go in concatenation order. Scores are compared in the dtype `torch.cat` would give them
    (float32 when that is not a float32/float64 dtype), so the result equals `_remove_lowest` on
    the concatenation.
    """
    n_kept = sum(kept_counts)
    if k <= 0:
        return [keep.clone() for keep in kept]
    if k >= n_kept:
        return [torch.zeros_like(keep) for keep in kept]
    dtype = functools.reduce(torch.promote_types, [s.dtype for s in segments])
    if dtype not in (torch.float32, torch.float64):
        dtype = torch.float32
    segments = [s.to(dtype) for s in segments]
    sizes = [s.numel() for s in segments]
    if sum(sizes) > _DIRECT:
        new = _remove_lowest_windowed(segments, kept, kept_counts, k)
        if new is not None:
            return new
    flat = _remove_lowest(torch.cat(segments), torch.cat(kept), k)
    return list(flat.split(sizes))


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
    flat_scores = [scores[n].detach().flatten() for n in names]
    flat_masks = [masks[n].flatten() for n in names]
    counts = [int(torch.count_nonzero(m)) for m in flat_masks]
    if scope == "layerwise":
        flat_new = [
            _remove_lowest_many([s], [m], [c], round(sparsity * m.numel()) - (m.numel() - c))[0]
            for s, m, c in zip(flat_scores, flat_masks, counts)
        ]
    else:
        total = sum(m.numel() for m in flat_masks)
        k = round(sparsity * total) - (total - sum(counts))
        flat_new = _remove_lowest_many(flat_scores, flat_masks, counts, k)
    return {name: new.view_as(masks[name]) for name, new in zip(names, flat_new)}


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
