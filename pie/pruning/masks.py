"""Masks as a pure function of scores and the current mask, and the sparsity they achieve.

A mask is a bool tensor per parameter (True = kept). Pruning only ever removes kept entries, so
masks are monotone over steps; entries are removed in order of increasing score, ties broken by
flat index, so the achieved sparsity equals the target up to rounding to whole weights.

On CPU the selection runs in NumPy, on torch.get_num_threads() threads (one tensor per thread;
for the global scope, the tensors' passes). A systematic sample of the kept scores gives a narrow
window that holds the k-th lowest score; one pass with two comparisons drops every kept score
below the window and lists the few inside it, and an exact selection among those finishes the
job (small inputs are simply sorted). The result is identical to a stable sort of the kept
scores; a window that misses is resampled and widened, and NaN scores, repeated misses and
tensors off the CPU take the exact torch path.
"""

from __future__ import annotations

import functools
import math
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Mapping

import numpy as np
import torch

MaskSet = dict[str, torch.Tensor]
SCOPES = ("layerwise", "global")
_SMALL = 1 << 15  # selections over at most this many entries sort the kept scores outright
_CHUNK = 1 << 20  # entries per chunk of the comparison passes, whose temporaries stay in cache
_SAMPLE = 3.0  # sample size, in units of total^(2/3) entries
_SPREADS = (3.0, 12.0)  # window half-width per attempt, in standard deviations of the sampled rank


def full_masks(params: Mapping[str, torch.Tensor]) -> MaskSet:
    """All-kept masks for the given parameters."""
    return {name: torch.ones_like(p, dtype=torch.bool) for name, p in params.items()}


def _remove_lowest(scores: torch.Tensor, kept: torch.Tensor, k: int) -> torch.Tensor:
    """Flat bool mask that drops the k lowest-scoring kept entries (ties: lowest index first).

    The exact path in torch on the compacted kept scores: for tensors off the CPU, and the
    fallback of the NumPy paths (NaN scores, or a sampled window that missed the k-th score).
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


def _map(fn: Callable, items: list) -> list:
    """[fn(item) for item in items] on up to torch.get_num_threads() threads, in order.

    The work is mostly NumPy's, which releases the GIL in its loops.
    """
    workers = min(torch.get_num_threads(), len(items))
    if workers <= 1:
        return [fn(item) for item in items]
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(fn, items))


def _count(mask: torch.Tensor) -> int:
    """Number of True entries (NumPy's popcount is several times faster than torch's on CPU)."""
    if mask.device.type == "cpu":
        return int(np.count_nonzero(mask.numpy()))
    return int(torch.count_nonzero(mask))


def _sparse_nonzero(flags: np.ndarray, levels: int = 2) -> np.ndarray:
    """Indices of the True entries of a sparse flat bool array whose length is a multiple of 8**levels.

    Finds the nonzero 8-byte words first (recursively: as the True entries of a bool array an
    eighth as long), then the True bytes within those words only: a few times faster than
    NumPy's bytewise nonzero when few entries are True.
    """
    words = flags.view(np.uint64)
    nonzero = words != 0
    hit = _sparse_nonzero(nonzero, levels - 1) if levels > 1 else np.flatnonzero(nonzero)
    inner = np.flatnonzero(words[hit].view(np.bool_))
    return hit[inner >> 3] * 8 + (inner & 7)


def _prime_stride(target: int) -> int:
    """The smallest odd prime >= target: a sampling stride that does not align with tensor rows."""
    stride = max(3, target | 1)
    while any(stride % d == 0 for d in range(3, math.isqrt(stride) + 1, 2)):
        stride += 2
    return stride


def _window(
    segments: list[np.ndarray], kept: list[np.ndarray], counts: list[int], k: int, attempt: int
) -> tuple[np.floating | None, np.floating | None]:
    """Bounds (None: unbounded) that likely bracket the k-th lowest kept score; low <= high.

    Order statistics of a systematic sample of about `_SAMPLE` * total^(2/3) kept scores (every
    stride-th entry, the stride a prime, the next one on a retry), `_SPREADS[attempt]` standard
    deviations either side of the k-th score's expected rank in the sample.
    """
    total = sum(s.size for s in segments)
    stride = _prime_stride(round(total ** (1 / 3) / _SAMPLE))
    for _ in range(attempt):
        stride = _prime_stride(stride + 2)
    parts = [
        scores[::stride] if count == scores.size else scores[::stride][keep[::stride]]
        for scores, keep, count in zip(segments, kept, counts)
        if count
    ]
    sample = np.concatenate(parts)
    m = sample.size
    q = k / sum(counts)
    half = _SPREADS[attempt] * math.sqrt(m * q * (1 - q)) + 1
    low, high = math.floor(q * m - half), math.ceil(q * m + half)
    if low >= 0:
        sample.partition(low)
    if high < m:
        upper = sample[max(low + 1, 0) :]
        upper.partition(high - max(low + 1, 0))
    bounds = (sample[low] if low >= 0 else None), (sample[high] if high < m else None)
    return tuple(None if b is None or np.isnan(b) else b for b in bounds)


def _split_at_window(
    scores: np.ndarray, keep: np.ndarray, full: bool, low, high, out: np.ndarray
) -> tuple[np.ndarray, np.ndarray, int]:
    """Set `out` to the kept entries not below the window; return the indices and scores of the
    kept entries inside it, and the number below it.

    Chunked, so that the second comparison, the bool temporaries and the gathers work in cache.
    """
    buffer = np.empty(-(-min(_CHUNK, scores.size) // 64) * 64, dtype=np.bool_)
    indices, values, below = [np.empty(0, dtype=np.intp)], [scores[:0]], 0
    for start in range(0, scores.size, _CHUNK):
        stop = min(start + _CHUNK, scores.size)
        x, o, kp = scores[start:stop], out[start:stop], keep[start:stop]
        flags = buffer[: -(-(stop - start) // 64) * 64]
        inside = flags[: stop - start]
        if inside.size < flags.size:
            flags[inside.size :] = False
        if low is None:
            o[:] = False
        else:
            np.less(x, low, out=o)
            if not full:
                o &= kp
            below += int(np.count_nonzero(o))
        if high is None:
            np.not_equal(kp, o, out=inside)
        else:
            np.less_equal(x, high, out=inside)
            if not full:
                inside &= kp
            inside ^= o
        if full:
            np.logical_not(o, out=o)
        else:
            o ^= kp
        index = _sparse_nonzero(flags)
        values.append(x[index])
        indices.append(index + start)
    return np.concatenate(indices), np.concatenate(values), below


def _remove_lowest_windowed(
    segments: list[np.ndarray], kept: list[np.ndarray], counts: list[int], k: int, outs: list[np.ndarray]
) -> bool:
    """Write into `outs` the masks without the k lowest kept entries, ranking only a sampled window.

    Kept entries below the window are all dropped and those above it (or NaN) all kept, so two
    NumPy comparisons per entry (several times faster than torch's here) and an exact selection
    among the window's few entries suffice. A window that misses the k-th score is resampled and
    widened; False if it misses every time (or the k-th kept score is NaN).
    """
    for attempt in range(len(_SPREADS)):
        low, high = _window(segments, kept, counts, k, attempt)
        split = _map(
            lambda i: _split_at_window(
                segments[i], kept[i], counts[i] == segments[i].size, low, high, outs[i]
            ),
            list(range(len(segments))),
        )
        need = k - sum(below for _, _, below in split)
        window = np.concatenate([values for _, values, _ in split])
        if 0 <= need <= window.size:
            break
    else:
        return False
    if need:
        threshold = np.partition(window, need - 1)[need - 1]
        if np.isnan(threshold):
            return False
        drop = window < threshold
        drop[np.flatnonzero(window == threshold)[: need - np.count_nonzero(drop)]] = True
        start = 0
        for out, (index, _, _) in zip(outs, split):
            out[index[drop[start : start + index.size]]] = False
            start += index.size
    return True


def _remove_lowest_sorted(
    segments: list[np.ndarray], kept: list[np.ndarray], k: int, outs: list[np.ndarray]
) -> bool:
    """Write into `outs` the masks without the k lowest kept entries, by a stable sort of the
    kept scores (small inputs). False when a kept score is NaN."""
    keep = np.concatenate(kept)
    index = np.flatnonzero(keep)
    values = np.concatenate(segments)[index]
    if np.isnan(values).any():
        return False
    keep[index[np.argsort(values, kind="stable")[:k]]] = False
    start = 0
    for out in outs:
        out[:] = keep[start : start + out.size]
        start += out.size
    return True


def _remove_lowest_many(
    segments: list[torch.Tensor],
    kept: list[torch.Tensor],
    counts: list[int],
    k: int,
    outs: list[torch.Tensor],
) -> None:
    """Write into `outs` the flat masks without the k lowest-scoring kept entries of the
    concatenated flat segments.

    Equal to `_remove_lowest` on the concatenation: ties go in concatenation order, and scores
    are compared in the dtype `torch.cat` gives them (float32 unless float32 or float64).
    """
    if k <= 0:
        for out, keep in zip(outs, kept):
            out.copy_(keep)
        return
    if k >= sum(counts):
        for out in outs:
            out.zero_()
        return
    dtype = functools.reduce(torch.promote_types, [s.dtype for s in segments])
    if dtype not in (torch.float32, torch.float64):
        dtype = torch.float32
    segments = [s.to(dtype) for s in segments]
    if all(t.device.type == "cpu" for t in (*segments, *kept, *outs)):
        arrays = [[t.numpy() for t in group] for group in (segments, kept, outs)]
        if sum(s.numel() for s in segments) > _SMALL:
            done = _remove_lowest_windowed(arrays[0], arrays[1], counts, k, arrays[2])
        else:
            done = _remove_lowest_sorted(arrays[0], arrays[1], k, arrays[2])
        if done:
            return
    flat = _remove_lowest(torch.cat(segments), torch.cat(kept), k)
    for out, part in zip(outs, flat.split([s.numel() for s in segments])):
        out.copy_(part)


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
    new = [torch.empty_like(m) for m in flat_masks]
    if scope == "layerwise":

        def layer(i: int) -> None:
            mask, count = flat_masks[i], _count(flat_masks[i])
            k = round(sparsity * mask.numel()) - (mask.numel() - count)
            _remove_lowest_many([flat_scores[i]], [mask], [count], k, [new[i]])

        _map(layer, list(range(len(names))))
    else:
        counts = _map(_count, flat_masks)
        total = sum(m.numel() for m in flat_masks)
        k = round(sparsity * total) - (total - sum(counts))
        _remove_lowest_many(flat_scores, flat_masks, counts, k, new)
    return {name: out.view_as(masks[name]) for name, out in zip(names, new)}


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
