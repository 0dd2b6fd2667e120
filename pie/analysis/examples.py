"""A7: qualitative look at PIEs — sample PIEs grouped by which population's modal label is right
(Hooker et al. 2019 show PIEs this way; Tropeano et al. 2025 for text)."""

from __future__ import annotations

import numpy as np
import pandas as pd

GROUPS = ("pruned modal correct", "dense modal correct", "neither correct")


def _group_masks(labels, dense_modal, pruned_modal, is_pie) -> dict[str, np.ndarray]:
    """bool[N] per group; a PIE falls in the first group it fits, in the order of GROUPS.

    Both modal labels can be right only for a PIE by a tie (tie="pie"); it goes to the first group.
    """
    labels, is_pie = np.asarray(labels), np.asarray(is_pie, dtype=bool)
    pruned_right = np.asarray(pruned_modal) == labels
    dense_right = (np.asarray(dense_modal) == labels) & ~pruned_right
    neither = ~pruned_right & ~dense_right
    return dict(zip(GROUPS, (is_pie & pruned_right, is_pie & dense_right, is_pie & neither)))


def pie_examples(
    texts,
    labels,
    dense_modal,
    pruned_modal,
    dense_votes,
    pruned_votes,
    is_pie,
    label_names,
    per_group: int = 15,
    example_ids=None,
) -> pd.DataFrame:
    """Up to per_group PIEs of each group (in dataset order), with labels as names and raw votes.

    :param example_ids: ids shown per example; the example's position when None.
    :param label_names: names of the class indices in labels/modal labels; None when those are
        already readable values (e.g. multi-label sets written as "corn, grain").
    :returns: columns group, example_id, text, gold, dense_modal, pruned_modal (label names),
        dense_votes, pruned_votes (lists of ints, one count per class).
    """
    ids = np.arange(len(labels)) if example_ids is None else np.asarray(example_ids, dtype=object)
    names = np.asarray(label_names, dtype=object) if label_names is not None else None

    masks = _group_masks(labels, dense_modal, pruned_modal, is_pie)
    chosen = {group: np.flatnonzero(mask)[:per_group] for group, mask in masks.items()}
    positions = np.concatenate(list(chosen.values())).astype(np.int64)

    def shown(values) -> np.ndarray:
        values = np.asarray(values)[positions]
        return values.astype(object) if names is None else names[values]

    return pd.DataFrame(
        {
            "group": np.repeat(list(chosen), [len(p) for p in chosen.values()]),
            "example_id": ids[positions],
            "text": np.asarray(texts, dtype=object)[positions],
            "gold": shown(labels),
            "dense_modal": shown(dense_modal),
            "pruned_modal": shown(pruned_modal),
            "dense_votes": np.asarray(dense_votes)[positions].tolist(),
            "pruned_votes": np.asarray(pruned_votes)[positions].tolist(),
        }
    )
