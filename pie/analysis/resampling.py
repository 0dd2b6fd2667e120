"""Bootstrap resampling over examples, drawn in bounded chunks so that thousands of resamples of
large evaluation sets never hold more than about CHUNK_ELEMENTS indices at once."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

CHUNK_ELEMENTS = 1 << 22


def index_draws(n: int, n_boot: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
    """Chunks [k, n] of n_boot resamples (with replacement) of the positions 0..n-1."""
    chunk = max(1, CHUNK_ELEMENTS // n)
    for start in range(0, n_boot, chunk):
        yield rng.integers(0, n, size=(min(chunk, n_boot - start), n))
