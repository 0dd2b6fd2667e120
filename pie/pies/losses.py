"""Per-model, per-example losses and EL2N difficulty scores (Paul et al. 2021) from logits, in
float64 where tiny losses must stay distinguishable (loss ratios)."""

from __future__ import annotations

import numpy as np


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Numerically stable log-softmax over the last axis."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def el2n(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """float[N]: EL2N, the mean over models of ||softmax(z) - onehot(y)||_2 (Paul et al. 2021)."""
    logits = np.asarray(logits, dtype=np.float32)
    probabilities = np.exp(log_softmax(logits))  # [M, N, C]
    one_hot = np.asarray(labels)[:, None] == np.arange(logits.shape[2])[None, :]  # [N, C]
    return np.linalg.norm(probabilities - one_hot[None], axis=2).mean(axis=0)


def el2n_multi_label(logits: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """float[N]: multi-label EL2N, the mean over models of ||sigmoid(z) - y||_2 (the reference's)."""
    probabilities = 1.0 / (1.0 + np.exp(-np.asarray(logits, dtype=np.float32)))  # [M, N, C]
    return np.linalg.norm(probabilities - np.asarray(targets, dtype=np.float32)[None], axis=2).mean(axis=0)


def cross_entropy(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """float64[M, N]: cross-entropy loss of each model on each example, logsumexp(z) - z_y, as
    (m - z_y) + log1p(sum over the other classes of exp(z_c - m)) with m = max(z): a confident
    model's tiny loss stays exact (logits [40, 0], gold 0: 4.25e-18, where logsumexp(z) - z_y
    cancels to 0), so loss ratios stay defined."""
    logits = np.asarray(logits)
    top_class = logits.argmax(axis=-1)
    top = np.take_along_axis(logits, top_class[..., None], axis=-1)[..., 0].astype(np.float64)
    rest = np.zeros(top.shape)
    for c in range(logits.shape[-1]):
        rest += np.where(top_class == c, 0.0, np.exp(logits[..., c] - top))
    gold = np.take_along_axis(logits, np.asarray(labels)[None, :, None], axis=2)[..., 0]
    return (top - gold) + np.log1p(rest)


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
    mixture = (p + q) / 2

    def kl(a):
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(a > 0, a * (np.log2(a) - np.log2(mixture)), 0.0).sum(axis=-1)

    return np.clip((kl(p) + kl(q)) / 2, 0.0, 1.0)
