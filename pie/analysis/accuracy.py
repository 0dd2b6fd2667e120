"""A3: accuracy on all examples vs on a subset (usually the PIEs), for the modal label of a
population and for its individual models (Hooker et al. 2019; Tropeano et al. 2025)."""

from __future__ import annotations

import numpy as np

from pie.analysis.summary import subset_accuracy


def accuracy_on_subsets(
    logits: np.ndarray, labels: np.ndarray, modal: np.ndarray, subset: np.ndarray
) -> dict:
    """Modal-label accuracy and mean per-model accuracy, on all examples and on the subset.

    :param logits: [M, N, C] logits of the population.
    :param labels: int[N] gold labels.
    :param modal: int[N] modal labels of the population.
    :param subset: bool[N]; the subset accuracies are NaN when it is empty.
    :returns: dict with modal_all, modal_subset, mean_all, mean_subset and n_subset.
    """
    labels = np.asarray(labels)
    subset = np.asarray(subset, dtype=bool)
    everything = np.ones(len(labels), dtype=bool)
    correct = np.asarray(logits).argmax(axis=2) == labels[None, :]  # [M, N]
    return {
        "modal_all": subset_accuracy(np.asarray(modal), labels, everything),
        "modal_subset": subset_accuracy(np.asarray(modal), labels, subset),
        "mean_all": float(correct.mean(axis=1).mean()),
        "mean_subset": float(correct[:, subset].mean()) if subset.any() else float("nan"),
        "n_subset": int(subset.sum()),
    }
