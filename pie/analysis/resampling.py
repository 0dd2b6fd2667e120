"""Bootstrap resampling over examples, drawn in bounded chunks so that thousands of resamples of
large evaluation sets never hold more than about CHUNK_ELEMENTS indices at once."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

CHUNK_ELEMENTS = 1 << 22
GATHER_ELEMENTS = 1 << 16


def rows_at_once(n: int) -> int:
    """How many resamples of n positions to gather at once: about GATHER_ELEMENTS values, which
    stay in the CPU's cache (a resample's sums are its own, so the numbers do not change)."""
    return max(1, GATHER_ELEMENTS // n)


def index_draws(n: int, n_boot: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
    """Chunks [k, n] of n_boot resamples (with replacement) of the positions 0..n-1."""
    chunk = max(1, CHUNK_ELEMENTS // n)
    for start in range(0, n_boot, chunk):
        yield rng.integers(0, n, size=(min(chunk, n_boot - start), n))
