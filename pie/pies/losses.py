"""Per-model, per-example losses and EL2N difficulty scores (Paul et al. 2021) from logits, in
float64 where tiny losses must stay distinguishable (loss ratios)."""

from __future__ import annotations

import numpy as np

from pie.pies.modal import argmax_last


def last_axis_max(values: np.ndarray) -> np.ndarray:
    """max over the last axis (the classes), as elementwise passes: NumPy's reduction over a short
    last axis is several times slower, and a maximum is the same whichever way it is taken."""
    top = values[..., 0]
    for c in range(1, values.shape[-1]):
        top = np.maximum(top, values[..., c])
    return top


def last_axis_sum(values: np.ndarray) -> np.ndarray:
    """Sum of floats over the last axis (the classes), bit for bit as NumPy's reduction of a
    contiguous last axis, whatever the memory layout: left to right below 8 classes, as elementwise
    passes (several times faster); from 8 on NumPy's pairwise sum of a contiguous copy.
    tests/test_pies.py checks that this matches NumPy."""
    if values.shape[-1] >= 8:
        return np.ascontiguousarray(values).sum(axis=-1)
    total = values[..., 0] + 0.0  # NumPy starts from +0.0: a sum of negative zeros is +0.0
    for c in range(1, values.shape[-1]):
        total += values[..., c]
    return total


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Numerically stable log-softmax over the last axis."""
    shifted = logits - last_axis_max(logits)[..., None]
    return shifted - np.log(last_axis_sum(np.exp(shifted)))[..., None]


def _norms(differences: np.ndarray) -> np.ndarray:
    """L2 norms over the last axis, as np.linalg.norm computes them (sqrt of the sum of squares)."""
    return np.sqrt(last_axis_sum(differences * differences))


def el2n_norms(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """float32[M, N]: each model's ||softmax(z) - onehot(y)||_2; EL2N is their mean over models."""
    logits = np.asarray(logits, dtype=np.float32)
    probabilities = np.exp(log_softmax(logits))  # [M, N, C]
    one_hot = np.asarray(labels)[:, None] == np.arange(logits.shape[2])[None, :]  # [N, C]
    return _norms(probabilities - one_hot[None])


def el2n(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """float[N]: EL2N, the mean over models of ||softmax(z) - onehot(y)||_2 (Paul et al. 2021)."""
    return el2n_norms(logits, labels).mean(axis=0)


def el2n_norms_multi_label(logits: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """float32[M, N]: each model's ||sigmoid(z) - y||_2 (the reference's multi-label EL2N)."""
    probabilities = 1.0 / (1.0 + np.exp(-np.asarray(logits, dtype=np.float32)))  # [M, N, C]
    return _norms(probabilities - np.asarray(targets, dtype=np.float32)[None])


def el2n_multi_label(logits: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """float[N]: multi-label EL2N, the mean over models of ||sigmoid(z) - y||_2 (the reference's)."""
    return el2n_norms_multi_label(logits, targets).mean(axis=0)


def _pick(values: np.ndarray, index: np.ndarray) -> np.ndarray:
    """values[..., index] per row: np.take_along_axis over the last axis, as one flat take (a
    quarter of the time) when every index is in range."""
    classes, index = values.shape[-1], np.broadcast_to(index, values.shape[:-1])
    if index.size and (index.min() < 0 or index.max() >= classes):  # NumPy's negative indices and errors
        return np.take_along_axis(values, index[..., None], axis=-1)[..., 0]
    flat = np.ascontiguousarray(values).reshape(-1)
    return flat.take(np.arange(0, flat.size, classes).reshape(index.shape) + index)


def cross_entropy(logits: np.ndarray, labels: np.ndarray, decisions: np.ndarray | None = None) -> np.ndarray:
    """float64[M, N]: cross-entropy loss of each model on each example, logsumexp(z) - z_y, as
    (m - z_y) + log1p(sum over the other classes of exp(z_c - m)) with m = max(z): a confident
    model's tiny loss stays exact (logits [40, 0], gold 0: 4.25e-18, where logsumexp(z) - z_y
    cancels to 0), so loss ratios stay defined. `decisions`: the argmax classes of the same
    logits when the caller has them (pie.runs.derived), so they are not found twice."""
    logits = np.asarray(logits)
    finite = np.isfinite(logits).all()
    # the first maximum: by elementwise passes (pie.pies.modal), or by NumPy where a NaN is the maximum
    if not finite and np.isnan(logits).any():
        top_class = logits.argmax(axis=-1)
    else:
        top_class = argmax_last(logits) if decisions is None else decisions
    top = _pick(logits, top_class).astype(np.float64)
    # The top class adds 0: where every logit is finite, exp(z_c - m) is in [0, 1] and multiplying
    # by the 0/1 mask is exact and several times faster than np.where; an infinite maximum makes it NaN.
    rest = np.zeros(top.shape)
    for c in range(logits.shape[-1]):
        other = np.exp(logits[..., c] - top)
        rest += other * (top_class != c) if finite else np.where(top_class == c, 0.0, other)
    return (top - _pick(logits, np.asarray(labels))) + np.log1p(rest)


def binary_cross_entropies(logits: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """float64[M, N, C]: binary cross-entropy of each model on each example and class
    (BCEWithLogits), as y softplus(-z) + (1 - y) softplus(z) with softplus(x) = logaddexp(0, x):
    exact for confident models (z = 40, y = 1: 4.25e-18, where softplus(z) - y z cancels to 0)."""
    logits = np.asarray(logits, dtype=np.float64)
    targets = np.asarray(targets, dtype=np.float64)[None]
    return targets * np.logaddexp(0.0, -logits) + (1.0 - targets) * np.logaddexp(0.0, logits)


def binary_cross_entropy(logits: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """float64[M, N]: binary cross-entropy of each model on each example, mean over the classes."""
    return binary_cross_entropies(logits, targets).mean(axis=2)


def js_divergence(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """float[...]: Jensen-Shannon divergence in bits (in [0, 1]) of distributions over the last
    axis; 0 log 0 = 0."""
    p, q = np.asarray(p, dtype=np.float64), np.asarray(q, dtype=np.float64)
    with np.errstate(divide="ignore"):
        log_mixture = np.log2((p + q) / 2)

    def kl(a):
        with np.errstate(divide="ignore", invalid="ignore"):
            return last_axis_sum(np.where(a > 0, a * (np.log2(a) - log_mixture), 0.0))

    return np.clip((kl(p) + kl(q)) / 2, 0.0, 1.0)
