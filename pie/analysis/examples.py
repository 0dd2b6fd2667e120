"""A7: qualitative look at PIEs — sample PIEs grouped by which population's decision is right
(Hooker et al. 2019 show PIEs this way; Tropeano et al. 2025 for text)."""

from __future__ import annotations

import numpy as np
import pandas as pd

GROUPS = ("pruned modal correct", "dense modal correct", "neither correct")


def _group_masks(dense_correct, pruned_correct, is_pie) -> dict[str, np.ndarray]:
    """bool[N] per group; a PIE falls in the first group it fits, in the order of GROUPS.

    Both decisions can be right only for a PIE by a tie (tie="pie"); it goes to the first group.
    """
    is_pie, pruned_right = np.asarray(is_pie, dtype=bool), np.asarray(pruned_correct, dtype=bool)
    dense_right = np.asarray(dense_correct, dtype=bool) & ~pruned_right
    neither = ~pruned_right & ~dense_right
    return dict(zip(GROUPS, (is_pie & pruned_right, is_pie & dense_right, is_pie & neither)))


def pie_examples(
    texts,
    gold,
    dense_decision,
    pruned_decision,
    dense_correct,
    pruned_correct,
    dense_votes,
    pruned_votes,
    is_pie,
    per_group: int = 15,
    example_ids=None,
) -> pd.DataFrame:
    """Up to per_group PIEs of each group (in dataset order), with raw votes.

    :param gold, dense_decision, pruned_decision: what to show per example (class names, or
        class sets written as "corn, grain").
    :param dense_correct, pruned_correct: bool[N], the population's decision is the gold one.
    :param example_ids: ids shown per example; the example's position when None.
    :returns: columns group, example_id, text, gold, dense_modal, pruned_modal, dense_votes,
        pruned_votes (lists of ints, one count per class).
    """
    ids = np.arange(len(gold)) if example_ids is None else np.asarray(example_ids, dtype=object)
    masks = _group_masks(dense_correct, pruned_correct, is_pie)
    chosen = {group: np.flatnonzero(mask)[:per_group] for group, mask in masks.items()}
    positions = np.concatenate(list(chosen.values())).astype(np.int64)

    def shown(values) -> np.ndarray:
        return np.asarray(values, dtype=object)[positions]

    return pd.DataFrame(
        {
            "group": np.repeat(list(chosen), [len(p) for p in chosen.values()]),
            "example_id": ids[positions],
            "text": np.asarray(texts, dtype=object)[positions],
            "gold": shown(gold),
            "dense_modal": shown(dense_decision),
            "pruned_modal": shown(pruned_decision),
            "dense_votes": np.asarray(dense_votes)[positions].tolist(),
            "pruned_votes": np.asarray(pruned_votes)[positions].tolist(),
        }
    )
