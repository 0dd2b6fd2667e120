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


def vote_counts(logits) -> np.ndarray:
    """Votes[N, C]: how many of the M models predict class c (argmax of logits) for example n."""
    population = _as_population(logits)
    n_models, n_examples, n_classes = population.shape
    predictions = population.argmax(axis=2)  # [M, N]
    votes = np.zeros((n_examples, n_classes), dtype=np.int64)
    for model_predictions in predictions:
        votes[np.arange(n_examples), model_predictions] += 1
    return votes


def modal_from_votes(votes: np.ndarray, tie: str = "lowest") -> tuple[np.ndarray, np.ndarray]:
    """(modal label[N], is_tied[N]) from vote counts; ties resolved to the lowest or highest class.

    "pie" and "exclude" resolve the label like "lowest"; they act when PIEs are compared.
    """
    if tie not in TIE_RULES:
        raise ValueError(f"unknown tie rule {tie!r}; choose one of {', '.join(TIE_RULES)}")
    top = votes.max(axis=1, keepdims=True)
    is_top = votes == top
    is_tied = is_top.sum(axis=1) > 1
    if tie == "highest":
        labels = votes.shape[1] - 1 - is_top[:, ::-1].argmax(axis=1)
    else:
        labels = is_top.argmax(axis=1)
    return labels.astype(np.int64), is_tied


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
