"""The optimised selection in pie.pruning.masks against a straightforward argsort reference.

Every case compares whole masks for identity: random shapes, float32/float64 (and mixed, and
integer) scores, layer-wise and global scope, heavy ties, partially pruned starting masks and
sparsities from 0 to 1. The NumPy paths are also forced onto small inputs (`_SMALL`, `_CHUNK`)
and their sampled window is replaced by no bounds or by one that misses, so every branch meets
the reference.
"""

import pytest
import torch

from pie.pruning import masks as masks_module
from pie.pruning.masks import prune_to_sparsity

SPARSITIES = (0.0, 0.2, 0.5, 0.9, 0.99, 1.0)


def reference_prune(scores, masks, sparsity, scope):
    """Remove the k lowest kept scores: stable argsort of the kept scores, drop the first k."""
    names = list(masks)
    groups = [[n] for n in names] if scope == "layerwise" else [names]
    new = {}
    for group in groups:
        flat_scores = torch.cat([scores[n].flatten() for n in group])
        if flat_scores.dtype not in (torch.float32, torch.float64):
            flat_scores = flat_scores.float()
        flat_masks = torch.cat([masks[n].flatten() for n in group])
        k = round(sparsity * flat_masks.numel()) - int((~flat_masks).sum())
        kept = torch.nonzero(flat_masks).flatten()
        order = torch.argsort(flat_scores[kept], stable=True)
        result = flat_masks.clone()
        if k > 0:
            result[kept[order[:k]]] = False
        offset = 0
        for n in group:
            new[n] = result[offset : offset + masks[n].numel()].view_as(masks[n])
            offset += masks[n].numel()
    return new


def random_shape(generator, large):
    """A 1-D or 2-D shape; large shapes exceed the direct-sort threshold."""
    if large:
        total = int(torch.randint(40_000, 150_000, (1,), generator=generator))
    else:
        total = int(torch.randint(1, 3_000, (1,), generator=generator))
    if torch.rand(1, generator=generator) < 0.5:
        return (total,)
    rows = int(torch.randint(1, 64, (1,), generator=generator))
    return (rows, max(1, total // rows))


def random_scores(shape, dtype, kind, generator):
    """Scores of a given kind: continuous, signed, few distinct values, or ties at +-0 and inf."""
    if kind == "uniform":
        return torch.rand(shape, generator=generator, dtype=dtype)
    if kind == "magnitude":
        return (torch.randn(shape, generator=generator, dtype=dtype) * 0.02).abs()
    if kind == "signed":
        return torch.randn(shape, generator=generator, dtype=dtype)
    if kind == "ties":
        levels = int(torch.randint(1, 5, (1,), generator=generator))
        return torch.randint(0, levels, shape, generator=generator).to(dtype) / 4
    special = torch.tensor([0.0, -0.0, 1.0, float("inf"), 0.5], dtype=dtype)
    return special[torch.randint(0, 5, shape, generator=generator)]


def random_case(seed, large=False, mixed_dtypes=False):
    """(scores, masks) for 1-4 tensors, with partially pruned masks about half the time."""
    generator = torch.Generator().manual_seed(seed)
    n_tensors = int(torch.randint(1, 5, (1,), generator=generator))
    kinds = ("uniform", "magnitude", "signed", "ties", "special")
    dtype = (torch.float32, torch.float64)[seed % 2]
    scores, masks = {}, {}
    for i in range(n_tensors):
        shape = random_shape(generator, large and i == 0)
        kind = kinds[int(torch.randint(0, len(kinds), (1,), generator=generator))]
        if mixed_dtypes:
            dtype = (torch.float32, torch.float64)[i % 2]
        scores[f"w{i}"] = random_scores(shape, dtype, kind, generator)
        keep = float(torch.rand(1, generator=generator)) if torch.rand(1, generator=generator) < 0.5 else 1.0
        masks[f"w{i}"] = torch.rand(shape, generator=generator) < keep
    return scores, masks


def assert_same(scores, masks, sparsity, scope):
    got = prune_to_sparsity(scores, masks, sparsity, scope)
    want = reference_prune(scores, masks, sparsity, scope)
    assert list(got) == list(want)
    for name in want:
        assert got[name].dtype == torch.bool and got[name].shape == masks[name].shape
        assert torch.equal(got[name], want[name]), f"{name} differs at sparsity {sparsity} ({scope})"


MODES = ["default", "numpy-paths-on-small-inputs", "unbounded-window", "window-misses-once", "window-misses"]


@pytest.fixture(params=MODES)
def selection_mode(request, monkeypatch):
    """Default thresholds, or the windowed path on every input in tiny chunks: as is, with no
    window bounds at all, or with a window above the k-th score on the first try (so the wider
    retry runs) or on every try (so the exact torch fallback runs)."""
    window = masks_module._window

    def missing(segments, kept, counts, k, attempt):
        low, high = window(segments, kept, counts, k, attempt)
        if request.param == "window-misses" or attempt == 0:
            return high, high
        return low, high

    if request.param != "default":
        monkeypatch.setattr(masks_module, "_SMALL", 0)
        monkeypatch.setattr(masks_module, "_CHUNK", 64)
    if request.param == "unbounded-window":
        monkeypatch.setattr(masks_module, "_window", lambda *args: (None, None))
    if request.param.startswith("window-misses"):
        monkeypatch.setattr(masks_module, "_window", missing)
    return request.param


@pytest.mark.parametrize("scope", ["layerwise", "global"])
def test_random_small_cases_match_reference(scope, selection_mode):
    """60 random cases x 6 sparsities per scope and mode: identical masks."""
    for seed in range(60):
        scores, masks = random_case(seed)
        for sparsity in SPARSITIES:
            assert_same(scores, masks, sparsity, scope)


@pytest.mark.parametrize("scope", ["layerwise", "global"])
def test_random_large_cases_match_reference(scope):
    """Tensors above the direct-sort threshold take the sampled-window path: identical masks."""
    for seed in range(8):
        scores, masks = random_case(1000 + seed, large=True)
        for sparsity in SPARSITIES:
            assert_same(scores, masks, sparsity, scope)


@pytest.mark.parametrize("large", [False, True])
def test_global_mixed_dtypes_compare_in_float64(large):
    """float32 and float64 tensors in one global selection are ranked as torch.cat promotes them."""
    for seed in range(10):
        scores, masks = random_case(2000 + seed, large=large, mixed_dtypes=True)
        for sparsity in SPARSITIES:
            assert_same(scores, masks, sparsity, "global")


def test_float64_scores_that_float32_cannot_tell_apart():
    """Distinct float64 scores equal after rounding to float32 are still ranked exactly."""
    base = torch.full((50_000,), 1.0, dtype=torch.float64)
    scores = {"w": base + torch.arange(50_000, dtype=torch.float64).flip(0) * 1e-12}
    masks = {"w": torch.ones(50_000, dtype=torch.bool)}
    assert torch.unique(scores["w"].float()).numel() == 1
    for scope in ("layerwise", "global"):
        for sparsity in SPARSITIES:
            assert_same(scores, masks, sparsity, scope)
    kept = prune_to_sparsity(scores, masks, 0.5, "layerwise")["w"]
    assert kept[:25_000].all() and not kept[25_000:].any()


def test_integer_scores_are_ranked_as_float32():
    """Non-float scores are converted to float32, as the exact path always did."""
    generator = torch.Generator().manual_seed(5)
    scores = {
        "a": torch.randint(0, 1000, (60_000,), generator=generator),
        "b": torch.randint(0, 3, (200,), generator=generator),
    }
    masks = {n: torch.ones_like(s, dtype=torch.bool) for n, s in scores.items()}
    for scope in ("layerwise", "global"):
        for sparsity in SPARSITIES:
            assert_same(scores, masks, sparsity, scope)


@pytest.mark.parametrize("size", [500, 60_000])
def test_all_equal_scores_drop_lowest_indices(size):
    """One value everywhere: the first k kept flat indices go, for small and large tensors."""
    scores = {"w": torch.ones(size)}
    masks = {"w": torch.arange(size) % 3 != 0}
    new = prune_to_sparsity(scores, masks, 0.9, "layerwise")["w"]
    k = round(0.9 * size) - int((~masks["w"]).sum())
    kept_indices = torch.nonzero(masks["w"]).flatten()
    assert not new[kept_indices[:k]].any() and new[kept_indices[k:]].all()
    assert not new[~masks["w"]].any()


@pytest.mark.parametrize("scope", ["layerwise", "global"])
def test_nan_scores_behave_as_the_exact_path(scope):
    """NaN scores take the exact torch path, whatever it does with them (NaN ranks last)."""
    generator = torch.Generator().manual_seed(7)
    scores = {"a": torch.rand(50_000, generator=generator), "b": torch.rand(300, generator=generator)}
    scores["a"][::97] = float("nan")
    scores["b"][::5] = float("nan")
    masks = {n: torch.ones_like(s, dtype=torch.bool) for n, s in scores.items()}
    for sparsity in (0.5, 0.9, 0.99):
        got = prune_to_sparsity(scores, masks, sparsity, scope)
        groups = [list(masks)] if scope == "global" else [[n] for n in masks]
        for group in groups:
            flat = torch.cat([scores[n] for n in group])
            flat_masks = torch.cat([masks[n] for n in group])
            k = round(sparsity * flat_masks.numel())
            want = masks_module._remove_lowest(flat, flat_masks, k)
            assert torch.equal(torch.cat([got[n] for n in group]), want)


def test_results_do_not_depend_on_threads():
    """One thread or two: identical masks, and the same on a second call."""
    scores, masks = random_case(3000, large=True)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        single = {s: prune_to_sparsity(scores, masks, 0.9, s) for s in ("layerwise", "global")}
        torch.set_num_threads(2)
        double = {s: prune_to_sparsity(scores, masks, 0.9, s) for s in ("layerwise", "global")}
        again = {s: prune_to_sparsity(scores, masks, 0.9, s) for s in ("layerwise", "global")}
    finally:
        torch.set_num_threads(threads)
    for scope in single:
        for name in masks:
            assert torch.equal(single[scope][name], double[scope][name])
            assert torch.equal(double[scope][name], again[scope][name])


def test_inputs_are_not_modified_and_outputs_are_new():
    """Scores and masks are left as they were; the new masks share no memory with the old."""
    scores, masks = random_case(4000, large=True)
    before = {n: (scores[n].clone(), masks[n].clone()) for n in masks}
    for scope in ("layerwise", "global"):
        new = prune_to_sparsity(scores, masks, 0.9, scope)
        for name in masks:
            assert torch.equal(scores[name], before[name][0]) and torch.equal(masks[name], before[name][1])
            assert new[name].data_ptr() != masks[name].data_ptr()
