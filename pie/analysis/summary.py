"""Per-population summary: accuracy over seeds, % PIEs, and modal accuracy on all examples vs
on the PIEs, for the dense and the pruned population."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pie.pies.single_label import PieResult


def model_accuracies(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Accuracy of each model of a population: float[M]."""
    return (np.asarray(logits).argmax(axis=2) == np.asarray(labels)[None, :]).mean(axis=1)


def subset_accuracy(predictions: np.ndarray, labels: np.ndarray, subset: np.ndarray) -> float:
    """Accuracy of predictions on the subset; NaN when the subset is empty."""
    subset = np.asarray(subset, dtype=bool)
    return float((predictions[subset] == labels[subset]).mean()) if subset.any() else float("nan")


def accuracy_stats(logits: np.ndarray, labels: np.ndarray) -> dict:
    """Seeds, mean and sample std (ddof=1, as the paper's pandas tables) of model accuracies."""
    accuracies = model_accuracies(logits, labels)
    return {
        "seeds": len(accuracies),
        "metric": "accuracy",
        "accuracy_mean": float(accuracies.mean()),
        "accuracy_std": float(accuracies.std(ddof=1)) if len(accuracies) > 1 else float("nan"),
    }


def dense_row(logits: np.ndarray, labels: np.ndarray, modal: np.ndarray, tied: np.ndarray) -> dict:
    """Summary of a dense population on its own."""
    return {
        **accuracy_stats(logits, labels),
        "examples": len(labels),
        "dense_modal_accuracy_all": subset_accuracy(modal, labels, np.ones(len(labels), bool)),
        "dense_ties": int(tied.sum()),
    }


def pair_row(dense_logits, pruned_logits, labels, result: PieResult) -> dict:
    """Summary of a pruned population against its dense population."""
    everything = np.ones(len(labels), dtype=bool)
    considered = int(result.considered.sum())
    return {
        **accuracy_stats(pruned_logits, labels),
        "examples": considered,
        "pies": int(result.is_pie.sum()),
        "pie_percent": 100.0 * result.pie_fraction,
        "dense_modal_accuracy_all": subset_accuracy(result.dense_modal, labels, everything),
        "dense_modal_accuracy_pies": subset_accuracy(result.dense_modal, labels, result.is_pie),
        "pruned_modal_accuracy_all": subset_accuracy(result.pruned_modal, labels, everything),
        "pruned_modal_accuracy_pies": subset_accuracy(result.pruned_modal, labels, result.is_pie),
        "dense_ties": int(result.dense_tied.sum()),
        "pruned_ties": int(result.pruned_tied.sum()),
    }


def verdict_columns(result) -> dict:
    """Per-example columns every PIE result has (single- or multi-label): votes, ties, verdict."""
    return {
        "dense_votes": list(result.dense_votes),
        "pruned_votes": list(result.pruned_votes),
        "dense_tied": result.dense_tied,
        "pruned_tied": result.pruned_tied,
        "considered": result.considered,
        "is_pie": result.is_pie,
    }


def pie_rows(example_ids, labels, result: PieResult) -> pd.DataFrame:
    """One row per example: gold label, modal labels, vote counts, ties and the PIE verdict."""
    return pd.DataFrame(
        {
            "example_id": np.asarray(example_ids, dtype=object),
            "position": np.arange(len(labels)),
            "label": np.asarray(labels, dtype=np.int64),
            "dense_modal": result.dense_modal,
            "pruned_modal": result.pruned_modal,
            **verdict_columns(result),
        }
    )
