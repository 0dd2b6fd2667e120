"""Mask computation for one pruning step to 90% on a bert-base-shaped model: pie vs the reference.

For magnitude (layer-wise and global), impact and random scores, times pie's
`prune_to_sparsity`, including computing the scores from the weights (and gradients), against the
reference code's algorithm in NumPy: a per-tensor (or global) `np.percentile` threshold with a
strict `<` rule, and for random pruning `np.random.choice` followed by a Python loop zeroing one
entry at a time. One more row gives both sides the impact scores, to time the selection alone.
Prints a Markdown table; writes nothing.
Run: .venv/bin/python benchmarks/bench_masks.py
"""

from __future__ import annotations

import ctypes
import os
import platform
import statistics
import sys
import time

import numpy as np
import torch
import transformers

from pie.pruning.masks import full_masks, prune_to_sparsity
from pie.pruning.scores import magnitude
from pie.pruning.selection import reference

SPARSITY = 0.9
REPEATS = 3
THREADS = 2
WARM_MIB = 3072  # heap touched before timing (see keep_freed_memory)
LOOP_PREFIX = "bert.encoder.layer.0."  # random pruning: the tensors whose Python loop is timed
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc mallopt parameters


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (the platform's processor string elsewhere)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def keep_freed_memory() -> bool:
    """Make glibc keep freed memory for reuse instead of returning it to the OS; True if it did.

    On this VM a first-touched page costs ~6 us, so otherwise a large allocation (pie's new
    masks, the reference's concatenation) can cost more than the computation around it.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.mallopt(M_MMAP_THRESHOLD, 1 << 30) and libc.mallopt(M_TRIM_THRESHOLD, 2**31 - 1))
    except (OSError, AttributeError):
        return False


def warm_heap(mib: int) -> None:
    """Touch `mib` MiB of heap and free it: kept by glibc, it serves later allocations."""
    blocks = [np.ones(64 << 20, dtype=np.uint8) for _ in range(mib // 64)]
    del blocks


def timed(fn, setup, repeats: int) -> tuple[float, object]:
    """Median wall time of fn(*setup()) over `repeats` runs that follow an untimed warm-up run
    (setup untimed, the previous result freed first), and the last result."""
    fn(*setup())
    times, result = [], None
    for _ in range(repeats):
        result = None
        args = setup()
        start = time.perf_counter()
        result = fn(*args)
        times.append(time.perf_counter() - start)
        del args
    return statistics.median(times), result


def sparsity(masks: dict) -> float:
    """Fraction of zeros over all masks (torch or NumPy)."""
    arrays = [m.numpy() if isinstance(m, torch.Tensor) else m for m in masks.values()]
    return sum(a.size - np.count_nonzero(a) for a in arrays) / sum(a.size for a in arrays)


def reference_layerwise(weights: dict, masks: dict) -> dict:
    """Per tensor: threshold = percentile of the remaining |w|, then zero every |w| < threshold."""
    for name, w in weights.items():
        mask = masks[name]
        thr = np.percentile(np.abs(w[mask == 1]), SPARSITY * 100)
        mask[np.abs(w) < thr] = 0
    return masks


def reference_global(weights: dict, masks: dict) -> dict:
    """One percentile over all remaining |w|, then the strict rule per tensor."""
    remaining = np.concatenate([np.abs(w[masks[n] == 1]) for n, w in weights.items()])
    thr = np.percentile(remaining, SPARSITY * 100)
    for name, w in weights.items():
        masks[name][np.abs(w) < thr] = 0
    return masks


def reference_impact(weights: dict, grads: dict, masks: dict) -> dict:
    """Per tensor: |w * g|, its percentile over the remaining entries, then the strict rule."""
    for name, w in weights.items():
        mask = masks[name]
        score = np.abs(w * grads[name])
        thr = np.percentile(score[mask == 1], SPARSITY * 100)
        mask[score < thr] = 0
    return masks


def reference_given(scores: dict, masks: dict) -> dict:
    """Per tensor: percentile of the given scores over the remaining entries, then the strict rule."""
    for name, score in scores.items():
        mask = masks[name]
        thr = np.percentile(score[mask == 1], SPARSITY * 100)
        mask[score < thr] = 0
    return masks


def reference_random(masks: dict, looped: set[str]) -> tuple[dict, float]:
    """np.random.choice of the remaining entries to remove, then a Python loop zeroing each.

    The loop runs only for the `looped` tensors; elsewhere the same entries are zeroed at once,
    untimed, and the loop's time is extrapolated by the number of entries removed. Returns the
    masks and the seconds (choices timed for every tensor, loop extrapolated).
    """
    np.random.seed(0)
    choice_s = loop_s = 0.0
    looped_removed = removed = 0
    for name, new_mask in masks.items():
        start = time.perf_counter()
        remaining = np.flatnonzero(new_mask.numpy().reshape(-1) == 1)
        indexes = np.random.choice(remaining, round(len(remaining) * SPARSITY), replace=False)
        choice_s += time.perf_counter() - start
        if name in looped:
            start = time.perf_counter()
            for index in indexes:
                new_mask.view(-1)[index] = 0
            loop_s += time.perf_counter() - start
            looped_removed += len(indexes)
        else:
            new_mask.view(-1)[torch.from_numpy(indexes)] = 0
        removed += len(indexes)
    return masks, choice_s + loop_s * removed / looped_removed


def main() -> int:
    torch.set_num_threads(THREADS)
    load = os.getloadavg()[0]
    kept_memory = keep_freed_memory()
    if kept_memory:
        warm_heap(WARM_MIB)
    transformers.logging.set_verbosity_error()
    torch.manual_seed(0)
    model = transformers.BertForSequenceClassification(transformers.BertConfig(num_labels=3))
    params = {name: p.detach() for name, p in reference(model).items()}
    total = sum(p.numel() for p in params.values())
    weights = {name: p.numpy() for name, p in params.items()}
    generator = torch.Generator().manual_seed(0)
    grads = {name: torch.randn(p.shape, generator=generator) for name, p in params.items()}
    np_grads = {name: g.numpy() for name, g in grads.items()}

    def torch_masks():
        return (full_masks(params),)

    def numpy_masks():
        return ({name: np.ones(w.shape, dtype=np.float32) for name, w in weights.items()},)

    def given_torch():
        return {name: (p * grads[name]).abs() for name, p in params.items()}, full_masks(params)

    def given_numpy():
        return {name: np.abs(w * np_grads[name]) for name, w in weights.items()}, numpy_masks()[0]

    cases = [  # method, pie and its setup, the reference and its setup (None: the random pruner)
        (
            "magnitude, layer-wise",
            lambda m: prune_to_sparsity(magnitude(params), m, SPARSITY, "layerwise"), torch_masks,
            lambda m: reference_layerwise(weights, m), numpy_masks,
        ),
        (
            "magnitude, global",
            lambda m: prune_to_sparsity(magnitude(params), m, SPARSITY, "global"), torch_masks,
            lambda m: reference_global(weights, m), numpy_masks,
        ),
        (
            "impact, layer-wise",
            lambda m: prune_to_sparsity(
                {name: (p * grads[name]).abs() for name, p in params.items()}, m, SPARSITY, "layerwise"
            ),
            torch_masks,
            lambda m: reference_impact(weights, np_grads, m), numpy_masks,
        ),
        (
            "impact, layer-wise, scores given",
            lambda scores, m: prune_to_sparsity(scores, m, SPARSITY, "layerwise"), given_torch,
            reference_given, given_numpy,
        ),
        (
            "random, layer-wise",
            lambda m: prune_to_sparsity(
                {n: torch.rand(p.shape, generator=torch.Generator().manual_seed(0)) for n, p in params.items()},
                m,
                SPARSITY,
                "layerwise",
            ),
            torch_masks,
            None, None,
        ),
    ]
    looped = {name for name in params if name.startswith(LOOP_PREFIX)}

    rows = []
    for method, ours, ours_setup, ref, ref_setup in cases:
        ours_s, ours_masks = timed(ours, ours_setup, REPEATS)
        ours_sparsity = sparsity(ours_masks)
        if abs(ours_sparsity - SPARSITY) > 1e-4:
            raise SystemExit(f"{method}: pie reached sparsity {ours_sparsity:.6f}, not {SPARSITY}")
        del ours_masks
        if ref is not None:
            ref_s, ref_masks = timed(ref, ref_setup, REPEATS)
            note = f"median of {REPEATS} runs each"
        else:
            ones = {name: torch.ones(p.shape) for name, p in params.items()}
            ref_masks, ref_s = reference_random(ones, looped)
            share = sum(params[n].numel() for n in looped) / total
            note = (
                f"pie: median of {REPEATS} runs; reference: 1 run, its Python loop extrapolated from "
                f"{len(looped)} of {len(params)} tensors ({share:.1%} of the weights)"
            )
        rows.append((method, ours_s, ref_s, ours_sparsity, sparsity(ref_masks), note))
        del ref_masks

    memory = (
        f"The allocator keeps freed memory and {WARM_MIB} MiB of heap are touched first"
        if kept_memory
        else "The allocator could not be told to keep freed memory"
    )
    print(
        f"# Mask computation: one pruning step to {SPARSITY:.0%} on bert-base "
        f"({total:,} prunable weights)\n"
    )
    print(
        f"Machine: {cpu_model()}, {os.cpu_count()} cores (load average {load:.2f} at start); "
        f"torch {torch.__version__} ({THREADS} threads), NumPy {np.__version__}, "
        f"Python {platform.python_version()}.\n"
    )
    print(
        "Wall-clock seconds; both sides compute their scores (|w|, |w*g| with fixed gradients, uniform) "
        "inside the timed region, except in the row with scores given. "
        f"{memory}, and every timed run follows an untimed warm-up, so first-touch page faults are "
        "timed on neither side.\n"
    )
    print("| method | pie (s) | reference (s) | speed-up | pie sparsity | reference sparsity | timing |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for method, ours_s, ref_s, ours_sp, ref_sp, note in rows:
        print(
            f"| {method} | {ours_s:.3f} | {ref_s:.3f} | {ref_s / ours_s:.1f}x "
            f"| {ours_sp:.6f} | {ref_sp:.6f} | {note} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
