"""Modal (most frequent) predicted label of a population of models, per example."""

from __future__ import annotations

import numpy as np

TIE_RULES = ("lowest", "highest", "pie", "exclude")


def _as_population(logits) -> np.ndarray:
    array = np.asarray(logits)
    if array.ndim != 3:
        raise ValueError(
            f"population logits must have shape [models, examples, classes], got {array.shape}"
        )
    if array.shape[0] == 0:
        raise ValueError("a population needs at least one model")
    return array


def argmax_last(values: np.ndarray, highest: bool = False) -> np.ndarray:
    """argmax over the last axis (first maximum, or last with highest=True), as elementwise
    passes over the classes: with few classes and many examples this is several times faster
    than numpy's reduction over a short last axis."""
    labels, _ = _top_classes(values, highest)
    return labels.astype(np.int64)


def _top_classes(values: np.ndarray, highest: bool) -> tuple[np.ndarray, np.ndarray]:
    """(index of the first or last maximum, number of classes at the maximum) over the last axis,
    in the smallest integer type that holds them (int8 up to 127 classes). The index is counted
    rather than selected: the number of classes visited before the first maximum (from the top
    class down with `highest`), a few in-place passes per class. No maximum (NaN) gives 0."""
    classes = values.shape[-1]
    top = values[..., 0].copy()
    for c in range(1, classes):
        np.maximum(top, values[..., c], out=top)
    small = np.int8 if classes < 128 else np.int64
    labels = np.full(top.shape, classes - 1 if highest else 0, dtype=small)
    at_top = np.zeros(top.shape, dtype=small)
    before = np.ones(top.shape, dtype=bool)  # no maximum among the classes visited so far
    hit = np.empty(top.shape, dtype=bool)
    for c in (range(classes - 1, -1, -1) if highest else range(classes)):
        np.equal(values[..., c], top, out=hit)
        at_top += hit
        np.greater(before, hit, out=before)
        if c != (0 if highest else classes - 1):
            (np.subtract if highest else np.add)(labels, before, out=labels)
    if not highest and before.any():
        labels[before] = 0
    return labels, at_top


def one_hot_predictions(logits) -> np.ndarray:
    """int32[M, N, C]: 1 where class c is model m's prediction (argmax) for example n. Summing
    rows of it gives the votes of any sub- or resampled population without another argmax."""
    population = _as_population(logits)
    predictions = argmax_last(population)  # [M, N]
    return (predictions[..., None] == np.arange(population.shape[2])).astype(np.int32)


def vote_counts(logits) -> np.ndarray:
    """Votes[N, C]: how many of the M models predict class c (argmax of logits) for example n."""
    return one_hot_predictions(logits).sum(axis=0, dtype=np.int64)


def modal_from_votes(votes: np.ndarray, tie: str = "lowest") -> tuple[np.ndarray, np.ndarray]:
    """(modal label[..., N], is_tied[..., N]) from vote counts [..., N, C] (any leading batch
    axes); ties resolved to the lowest or highest class.

    "pie" and "exclude" resolve the label like "lowest"; they act when PIEs are compared.
    """
    labels, tied = modal_codes(votes, tie)
    return labels.astype(np.int64), tied


def modal_codes(votes: np.ndarray, tie: str = "lowest") -> tuple[np.ndarray, np.ndarray]:
    """modal_from_votes with the labels in the smallest integer type that holds them (int8 up to
    127 classes): enough to compare two populations' labels, without widening them first."""
    if tie not in TIE_RULES:
        raise ValueError(f"unknown tie rule {tie!r}; choose one of {', '.join(TIE_RULES)}")
    labels, at_top = _top_classes(votes, highest=tie == "highest")
    return labels, at_top > 1


def modal_labels(logits, tie: str = "lowest") -> tuple[np.ndarray, np.ndarray]:
    """Modal label per example over a population, and the vote counts behind it.

    :param logits: float array [M models, N examples, C classes].
    :param tie: "lowest" (the reference code's np.argmax) or "highest" (Hooker et al.'s
        pandas mode().max()); "pie"/"exclude" label like "lowest".
    :returns: (labels[N] int64, votes[N, C] int64).
    """
    votes = vote_counts(logits)
    labels, _ = modal_from_votes(votes, tie)
    return labels, votes
