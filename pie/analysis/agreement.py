"""Agreement beyond PIEs, each beside its dense-vs-dense value as the seed-noise baseline:

- churn: the share of examples on which a dense model and the pruned model of the same seed
  decide differently, mean over the seed pairs (churn between models, arXiv 2102.03349); its
  baseline pairs dense models of different seeds;
- label loyalty (Xu et al. 2021): 1 - churn, the share on which the pruned model keeps its dense
  model's label; probability loyalty: 1 - the Jensen-Shannon divergence (bits) of their predicted
  distributions, mean over examples and seed pairs;
- the taxicab CIE score of an example (Hooker et al. 2020): the L1 distance between the dense and
  the pruned population's label distributions (the shares of their models deciding each class);
  its baseline is measured between disjoint dense draws (pie.analysis.noise).

Multi-label: an example churns when any class decision differs (as a PIE is defined),
probability loyalty averages the per-class Bernoulli divergences, and the taxicab score sums the
per-class differences of decision rates (so it ranges to the number of classes, not 2).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pie.pies.losses import last_axis_sum
from pie.pies.task import Task


def _mean_over_pairs(measure, a: np.ndarray, b: np.ndarray | None = None, chunk: int = 16) -> float:
    """Mean of measure(x, y) [k, N] over the pairs (a[i], b[i]) for i < len(b), or, without b,
    over all pairs of different models of a; pairs are taken `chunk` at a time to bound memory."""
    first, second = (np.arange(len(b)), np.arange(len(b))) if b is not None else np.triu_indices(len(a), k=1)
    other = a if b is None else b
    if not len(first):
        return float("nan")
    total = sum(float(measure(a[first[i:i + chunk]], other[second[i:i + chunk]]).sum()) for i in range(0, len(first), chunk))
    return total / (len(first) * a.shape[1])


def churn(task: Task, dense: np.ndarray, pruned: np.ndarray, paired: int) -> float:
    """Churn of the first `paired` seed pairs (dense i, pruned i); NaN where there is no pair."""
    return _mean_over_pairs(task.differs, dense, pruned[:paired])


def probability_loyalty(task: Task, dense_probabilities: np.ndarray, pruned_probabilities: np.ndarray, paired: int) -> float:
    """1 - the mean JSD of the seed pairs' predicted distributions (task.probabilities)."""
    return 1.0 - _mean_over_pairs(task.divergence, dense_probabilities, pruned_probabilities[:paired])


@dataclass(frozen=True)
class DenseBaselines:
    """The dense-vs-dense baselines, over all pairs of different dense models, and the dense
    models' predicted distributions: computed once per dense population and model order and
    shared by all its pairs (the pairs of all models cost far more than a pair's own)."""

    probabilities: np.ndarray  # float64[M, N, C]
    churn: float
    probability_loyalty: float

    @classmethod
    def of(cls, task: Task, dense_logits: np.ndarray, dense: np.ndarray) -> "DenseBaselines":
        probabilities = task.probabilities(dense_logits)
        return cls(probabilities, _mean_over_pairs(task.differs, dense),
                   1.0 - _mean_over_pairs(task.divergence, probabilities))


def taxicab(dense_votes: np.ndarray, pruned_votes: np.ndarray, dense_models: int, pruned_models: int) -> np.ndarray:
    """float[..., N]: L1 distance between the two populations' label distributions (decision
    rates per class) from their votes [..., N, C], in any memory layout."""
    return taxicab_of_rates(np.asarray(dense_votes) / dense_models, np.asarray(pruned_votes) / pruned_models)


def taxicab_of_rates(dense_rates: np.ndarray, pruned_rates: np.ndarray) -> np.ndarray:
    """taxicab from the decision rates (votes / models) [..., N, C], which it overwrites with
    their absolute difference (a caller comparing one population with several divides once)."""
    difference = np.subtract(dense_rates, pruned_rates, out=pruned_rates)
    return last_axis_sum(np.abs(difference, out=difference))


def agreement_row(task: Task, baselines: DenseBaselines, pruned_logits: np.ndarray, dense: np.ndarray, pruned: np.ndarray,
                  paired: int) -> dict:
    """churn, label and probability loyalty of a pair, each with its dense-vs-dense baseline."""
    pair_churn = churn(task, dense, pruned, paired)
    pair_loyalty = probability_loyalty(task, baselines.probabilities, task.probabilities(pruned_logits[:paired]), paired)
    return {"seed_pairs": paired, "churn": pair_churn, "churn_dense": baselines.churn,
            "label_loyalty": 1.0 - pair_churn, "label_loyalty_dense": 1.0 - baselines.churn,
            "probability_loyalty": pair_loyalty, "probability_loyalty_dense": baselines.probability_loyalty}
