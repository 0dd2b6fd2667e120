"""Deterministic stratified splits and subsamples, driven by a split seed that is independent of
the run seed (every seed of a population sees the same examples)."""

from __future__ import annotations

from typing import Mapping

import numpy as np


def _per_class(labels: np.ndarray, rng: np.random.Generator) -> list[np.ndarray]:
    return [rng.permutation(np.flatnonzero(labels == c)) for c in np.unique(labels)]


def stratified_split(labels, fractions: Mapping[str, float], seed: int) -> dict[str, np.ndarray]:
    """Split positions 0..N-1 into named parts with the given fractions, class by class.

    Each class is shuffled with `seed` and cut at the cumulative fractions, so class proportions
    are kept in every part. Returned indices are sorted (dataset order).
    """
    total = sum(fractions.values())
    if not np.isclose(total, 1.0) or any(f <= 0 for f in fractions.values()):
        raise ValueError(f"split fractions must be positive and sum to 1, got {dict(fractions)}")
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    parts: dict[str, list[np.ndarray]] = {name: [] for name in fractions}
    bounds = np.cumsum(list(fractions.values()))
    for members in _per_class(labels, rng):
        cuts = np.round(bounds * len(members)).astype(int)
        start = 0
        for name, stop in zip(fractions, cuts):
            parts[name].append(members[start:stop])
            start = stop
    return {name: np.sort(np.concatenate(chunks)) for name, chunks in parts.items()}


def stratified_subsample(labels, n: int | None, seed: int) -> np.ndarray:
    """Sorted positions of a class-stratified subsample of size n (all positions if n is None
    or n >= N). Classes get round(n * share) examples, adjusted so the total is exactly n."""
    labels = np.asarray(labels)
    if n is None or n >= len(labels):
        return np.arange(len(labels))
    if n < 1:
        raise ValueError(f"subsample size must be >= 1, got {n}")
    rng = np.random.default_rng(seed)
    members = _per_class(labels, rng)
    quota = np.floor(np.array([len(m) for m in members]) * n / len(labels)).astype(int)
    remainders = np.array([len(m) for m in members]) * n / len(labels) - quota
    for c in np.argsort(-remainders, kind="stable")[: n - quota.sum()]:
        quota[c] += 1
    return np.sort(np.concatenate([m[:q] for m, q in zip(members, quota)]))
