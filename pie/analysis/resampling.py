"""Bootstrap resampling over examples, drawn in bounded chunks so that thousands of resamples of
large evaluation sets never hold more than about CHUNK_ELEMENTS indices at once."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

CHUNK_ELEMENTS = 1 << 22
GATHER_ELEMENTS = 1 << 16


def index_draws(n: int, n_boot: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
    """Chunks [k, n] of n_boot resamples (with replacement) of the positions 0..n-1."""
    chunk = max(1, CHUNK_ELEMENTS // n)
    for start in range(0, n_boot, chunk):
        yield rng.integers(0, n, size=(min(chunk, n_boot - start), n))


def gathered_draws(n: int, n_boot: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
    """index_draws's resamples in batches of about GATHER_ELEMENTS positions, so that the values a
    batch gathers stay in the CPU's cache (a resample's sums are its own: the same numbers as
    gathering a whole chunk at once, several times faster)."""
    step = max(1, GATHER_ELEMENTS // n)
    for draws in index_draws(n, n_boot, rng):
        for start in range(0, len(draws), step):
            yield draws[start:start + step]
