"""Multi-label PIEs (Tropeano et al. 2025, after Hooker et al. 2019): each model binarises its
sigmoid outputs with its own threshold τ; per class, a population predicts the class when more
than half of its models do (strict majority, as the reference); an example is a PIE when the
dense and pruned majority decisions differ for any class."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pie.pies.decisions import binarize


@dataclass(frozen=True)
class MultiLabelPieResult:
    """Per-example and per-class PIE verdicts with the decisions and votes behind them."""

    flips: np.ndarray  # bool[N, C]: the majority decision for class c differs
    dense_majority: np.ndarray  # bool[N, C]
    pruned_majority: np.ndarray  # bool[N, C]
    dense_votes: np.ndarray  # int64[N, C]: models predicting class c
    pruned_votes: np.ndarray  # int64[N, C]
    dense_models: int
    pruned_models: int

    @property
    def is_pie(self) -> np.ndarray:
        """bool[N]: the decision flips for at least one class."""
        return self.flips.any(axis=1)

    @property
    def considered(self) -> np.ndarray:
        """Every example counts (a strict majority needs no tie rule)."""
        return np.ones(len(self.flips), dtype=bool)

    @property
    def dense_tied(self) -> np.ndarray:
        """bool[N]: exactly half of the dense models predict some class (decided as 'no')."""
        return tied(self.dense_votes, self.dense_models)

    @property
    def pruned_tied(self) -> np.ndarray:
        return tied(self.pruned_votes, self.pruned_models)

    @property
    def pie_fraction(self) -> float:
        return float(self.is_pie.mean()) if len(self.flips) else float("nan")

    @property
    def dense_decision(self) -> np.ndarray:
        return self.dense_majority

    @property
    def pruned_decision(self) -> np.ndarray:
        return self.pruned_majority


def _population(logits, thresholds, side: str) -> np.ndarray:
    logits = np.asarray(logits)
    if logits.ndim != 3 or len(logits) == 0:
        raise ValueError(f"{side} logits must have shape [models, examples, classes], got {logits.shape}")
    thresholds = np.asarray(thresholds, dtype=np.float64).reshape(-1)
    if len(thresholds) != len(logits):
        raise ValueError(f"{side} population: {len(logits)} models but {len(thresholds)} thresholds (one per model)")
    return binarize(logits, thresholds)


def majority_from_votes(votes: np.ndarray, n_models: int) -> np.ndarray:
    """bool[..., C]: the population predicts a class when more than half of its n models do."""
    return 2 * votes > n_models


def tied(votes: np.ndarray, n_models: int) -> np.ndarray:
    """bool[...]: exactly half of the models predict some class (the strict majority says no)."""
    return (2 * votes == n_models).any(axis=-1)


def majority(decisions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(strict majority bool[N, C], votes int64[N, C]) of per-model decisions [M, N, C]."""
    votes = decisions.sum(axis=0, dtype=np.int64)
    return majority_from_votes(votes, len(decisions)), votes


def pie_table_from_votes(dense_votes: np.ndarray, pruned_votes: np.ndarray, dense_models: int, pruned_models: int) -> MultiLabelPieResult:
    """Verdicts from the two populations' votes [N, C] (models deciding each class, each at its own τ)."""
    if dense_votes.shape != pruned_votes.shape:
        raise ValueError(
            f"dense and pruned populations must cover the same examples and classes: votes {dense_votes.shape} vs {pruned_votes.shape}"
        )
    dense_majority = majority_from_votes(dense_votes, dense_models)
    pruned_majority = majority_from_votes(pruned_votes, pruned_models)
    return MultiLabelPieResult(
        flips=dense_majority != pruned_majority, dense_majority=dense_majority, pruned_majority=pruned_majority,
        dense_votes=dense_votes, pruned_votes=pruned_votes, dense_models=dense_models, pruned_models=pruned_models,
    )


def pie_table_from_decisions(dense_decisions: np.ndarray, pruned_decisions: np.ndarray) -> MultiLabelPieResult:
    """Verdicts from binarised populations [M, N, C] (each model already at its own τ)."""
    if dense_decisions.shape[1:] != pruned_decisions.shape[1:]:
        raise ValueError(
            "dense and pruned populations must cover the same examples and classes: "
            f"{dense_decisions.shape[1:]} vs {pruned_decisions.shape[1:]}"
        )
    return pie_table_from_votes(majority(dense_decisions)[1], majority(pruned_decisions)[1], len(dense_decisions), len(pruned_decisions))


def multi_label_pie_table(dense_logits, pruned_logits, dense_thresholds, pruned_thresholds) -> MultiLabelPieResult:
    """Verdicts, majority decisions and votes; the inputs are never modified (the reference
    binarised its callers' arrays in place)."""
    return pie_table_from_decisions(
        _population(dense_logits, dense_thresholds, "dense"), _population(pruned_logits, pruned_thresholds, "pruned")
    )


def multi_label_pies(dense_logits, pruned_logits, dense_thresholds, pruned_thresholds) -> np.ndarray:
    """bool[N, C]: True where the dense and pruned majority decisions for class c differ; an
    example is a PIE when its row has any True (`.any(axis=1)`).

    :param dense_logits: [M_dense, N, C] logits of the dense population.
    :param pruned_logits: [M_pruned, N, C] logits of the pruned population (M may differ).
    :param dense_thresholds: [M_dense] each dense model's decision threshold τ on sigmoid(z).
    :param pruned_thresholds: [M_pruned] likewise.
    """
    return multi_label_pie_table(dense_logits, pruned_logits, dense_thresholds, pruned_thresholds).flips
