"""Multi-label decisions: a model predicts class c when sigmoid(z_c) >= its threshold τ (pie), or
> τ (strict, the reference code), one τ per model, chosen on a grid to maximise macro-F1 (the
paper's grid 0.00, 0.01, ..., 0.99)."""

from __future__ import annotations

import numpy as np

GRID = np.round(np.arange(100) / 100, 2)


def logit_of(threshold: float) -> float:
    """The logit at which sigmoid reaches the threshold (-inf for 0): comparing logits with it
    avoids computing sigmoid over whole populations."""
    threshold = float(threshold)
    if not 0.0 <= threshold < 1.0:
        raise ValueError(f"a decision threshold must lie in [0, 1), got {threshold}")
    return -np.inf if threshold == 0.0 else float(np.log(threshold) - np.log1p(-threshold))


def binarize(logits: np.ndarray, thresholds, strict: bool = False) -> np.ndarray:
    """bool[..., N, C]: sigmoid(logits) >= τ, or > τ when strict. `thresholds` is one τ, or one
    per model for population logits [M, N, C] (each model binarised with its own τ)."""
    logits = np.asarray(logits)
    cut = np.vectorize(logit_of, otypes=[np.float64])(np.asarray(thresholds, dtype=np.float64))
    if cut.ndim == 1:
        if logits.ndim != 3 or len(cut) != len(logits):
            raise ValueError(f"{len(cut)} thresholds for logits of shape {logits.shape}: give one per model")
        cut = cut[:, None, None]
    return logits > cut if strict else logits >= cut


def per_class_f1(decisions: np.ndarray, targets: np.ndarray, undefined: float = 0.0) -> np.ndarray:
    """F1 of each class (last axis) for decisions [..., N, C] against targets [N, C]. A class with
    no positives and no predictions scores `undefined`: 0 as sklearn and torchmetrics (used to
    tune τ and for run metrics), or NaN to leave it out of a mean (small subsets such as PIEs)."""
    decisions, targets = np.asarray(decisions, dtype=bool), np.asarray(targets, dtype=bool)
    true_positives = (decisions & targets).sum(axis=-2)
    predicted = decisions.sum(axis=-2)
    actual = targets.sum(axis=-2)
    denominator = predicted + actual
    f1 = np.full(np.broadcast_shapes(predicted.shape, actual.shape), undefined, dtype=np.float64)
    np.divide(2.0 * true_positives, denominator, out=f1, where=denominator > 0)
    return f1


def macro_f1_from_decisions(decisions: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Macro-F1 (undefined classes score 0) for decisions [..., N, C] against targets [N, C]."""
    return per_class_f1(decisions, targets).mean(axis=-1)


def tune_threshold(logits: np.ndarray, targets: np.ndarray, grid=GRID, strict: bool = False) -> tuple[float, float]:
    """(τ, macro-F1) of the grid threshold with the best macro-F1 of one model's logits [N, C],
    deciding as `binarize` with `strict`; the lowest such τ on ties."""
    logits, targets = np.asarray(logits), np.asarray(targets, dtype=bool)
    if logits.ndim != 2 or logits.shape != targets.shape:
        raise ValueError(f"logits {logits.shape} and multi-hot targets {targets.shape} must both be [N, C]")
    scores = np.array([macro_f1_from_decisions(binarize(logits, tau, strict), targets) for tau in grid])
    best = int(np.argmax(scores))
    return float(grid[best]), float(scores[best])
