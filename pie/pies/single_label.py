"""Single-label PIEs (Hooker et al. 2019): the pruned population's modal label differs from the
dense population's modal label."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pie.pies.modal import modal_codes, modal_from_votes, vote_counts


@dataclass(frozen=True)
class PieResult:
    """Per-example PIE verdicts with everything needed to explain them."""

    is_pie: np.ndarray  # bool[N]
    considered: np.ndarray  # bool[N]; False only for ties under tie="exclude"
    dense_modal: np.ndarray  # int64[N]
    pruned_modal: np.ndarray  # int64[N]
    dense_votes: np.ndarray  # int64[N, C]
    pruned_votes: np.ndarray  # int64[N, C]
    dense_tied: np.ndarray  # bool[N]
    pruned_tied: np.ndarray  # bool[N]

    @property
    def pie_fraction(self) -> float:
        """Share of the considered examples that are PIEs."""
        n = int(self.considered.sum())
        return float(self.is_pie.sum() / n) if n else float("nan")

    @property
    def dense_decision(self) -> np.ndarray:
        return self.dense_modal

    @property
    def pruned_decision(self) -> np.ndarray:
        return self.pruned_modal


def single_label_pie_table(dense_logits, pruned_logits, tie: str = "lowest") -> PieResult:
    """PIE verdicts plus modal labels, votes and ties for a dense and a pruned population.

    Tie rules: "lowest"/"highest" break a tied vote toward that class index and compare modal
    labels; "pie" counts every example tied in either population as a PIE; "exclude" never counts
    a tied example and marks it as not considered.
    """
    return pie_table_from_votes(vote_counts(dense_logits), vote_counts(pruned_logits), tie)


def _same_examples(dense_votes: np.ndarray, pruned_votes: np.ndarray) -> None:
    """Raise ValueError unless the two populations' votes cover the same examples and classes."""
    if dense_votes.shape != pruned_votes.shape:
        raise ValueError(
            "dense and pruned populations must cover the same examples and classes: "
            f"votes {dense_votes.shape} vs {pruned_votes.shape}"
        )


def pie_masks_from_votes(dense_votes: np.ndarray, pruned_votes: np.ndarray, tie: str = "lowest"):
    """(is_pie, considered, dense modal, pruned modal, dense tied, pruned tied), each [..., N],
    from vote counts [..., N, C]; leading axes batch many population pairs at once."""
    _same_examples(dense_votes, pruned_votes)
    dense_modal, dense_tied = modal_from_votes(dense_votes, tie)
    pruned_modal, pruned_tied = modal_from_votes(pruned_votes, tie)
    return (*masks_of_modals(dense_modal, dense_tied, pruned_modal, pruned_tied, tie), dense_modal, pruned_modal,
            dense_tied, pruned_tied)


def masks_of_modals(dense_modal, dense_tied, pruned_modal, pruned_tied, tie: str) -> tuple[np.ndarray, np.ndarray]:
    """(is_pie, considered) bool[..., N] from the two populations' modal labels and ties: the
    labels differ, and the tie rule decides what a tie in either population means."""
    differs = dense_modal != pruned_modal
    tied = dense_tied | pruned_tied
    considered = np.ones_like(differs)
    if tie == "pie":
        is_pie = differs | tied
    elif tie == "exclude":
        considered = ~tied
        is_pie = differs & considered
    else:
        is_pie = differs
    return is_pie, considered


def pie_masks_against(votes: np.ndarray, others, tie: str = "lowest") -> list[tuple[np.ndarray, np.ndarray]]:
    """pie_masks_from_votes(votes, other)[:2] for each of the other populations' votes, the first
    population's modal labels found once (the seed-noise draws compare one dense draw with two)."""
    for other in others:
        _same_examples(votes, other)
    modal, tied = modal_codes(votes, tie)
    return [masks_of_modals(modal, tied, *modal_codes(other, tie), tie) for other in others]


def pie_table_from_votes(dense_votes: np.ndarray, pruned_votes: np.ndarray, tie: str = "lowest") -> PieResult:
    """PIE verdicts from the two populations' vote counts [N, C] (see single_label_pie_table)."""
    is_pie, considered, dense_modal, pruned_modal, dense_tied, pruned_tied = pie_masks_from_votes(
        dense_votes, pruned_votes, tie
    )
    return PieResult(
        is_pie=is_pie,
        considered=considered,
        dense_modal=dense_modal,
        pruned_modal=pruned_modal,
        dense_votes=dense_votes,
        pruned_votes=pruned_votes,
        dense_tied=dense_tied,
        pruned_tied=pruned_tied,
    )


def single_label_pies(dense_logits, pruned_logits, tie: str = "lowest") -> np.ndarray:
    """bool[N]: example n is a PIE when the modal labels of the two populations differ.

    :param dense_logits: [M_dense, N, C] logits of the dense population.
    :param pruned_logits: [M_pruned, N, C] logits of the pruned population (M may differ).
    :param tie: "lowest" (reference default), "highest", "pie" or "exclude".
    """
    return single_label_pie_table(dense_logits, pruned_logits, tie).is_pie
