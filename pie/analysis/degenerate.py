"""Degenerate models and populations: a model that gives (almost) every example the same decision,
or does no better than always answering the most frequent gold class, has collapsed, and PIEs
measured against it describe the collapse, not which examples pruning hurts."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pie.pies.task import Task

SHARE = 0.99  # default: one decision for at least this share of the test examples


@dataclass(frozen=True)
class Degeneracy:
    """Per model: the share of examples given its most frequent decision, its score (accuracy, or
    macro-F1 for multi-label data) and whether it is degenerate; the majority baseline's score."""

    constant_share: np.ndarray  # float[M]
    score: np.ndarray  # float[M]
    baseline: float
    degenerate: np.ndarray  # bool[M]

    def reason(self, model: int) -> str:
        return (f"degenerate: {100 * self.constant_share[model]:.1f}% of the test examples get its most frequent decision; "
                f"score {self.score[model]:.4f} vs {self.baseline:.4f} for always answering the most frequent gold class")

    @property
    def population_degenerate(self) -> bool:
        """More than half of the population's models are degenerate."""
        return 2 * int(self.degenerate.sum()) > len(self.degenerate)


def degeneracy(task: Task, decisions: np.ndarray, labels: np.ndarray, share: float = SHARE) -> Degeneracy:
    """A model is degenerate when one decision covers at least `share` of the examples, or when its
    score is not above the majority baseline's."""
    constant = task.constant_share(decisions)
    score = task.model_scores(decisions, labels)
    baseline = task.baseline_score(labels)
    return Degeneracy(constant, score, baseline, (constant >= share) | (score <= baseline))
