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

import numpy as np

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


def churn(task: Task, dense: np.ndarray, pruned: np.ndarray, paired: int) -> tuple[float, float]:
    """(churn of the first `paired` seed pairs (dense i, pruned i), dense-vs-dense churn over all
    pairs of different dense models); NaN where there is no pair."""
    return _mean_over_pairs(task.differs, dense, pruned[:paired]), _mean_over_pairs(task.differs, dense)


def probability_loyalty(task: Task, dense_logits: np.ndarray, pruned_logits: np.ndarray, paired: int) -> tuple[float, float]:
    """(1 - mean JSD of the seed pairs, the same between different dense models)."""
    def divergence(x, y):
        return task.divergence(task.probabilities(x), task.probabilities(y))

    return 1.0 - _mean_over_pairs(divergence, dense_logits, pruned_logits[:paired]), 1.0 - _mean_over_pairs(divergence, dense_logits)


def taxicab(dense_votes: np.ndarray, pruned_votes: np.ndarray, dense_models: int, pruned_models: int) -> np.ndarray:
    """float[..., N]: L1 distance between the two populations' label distributions (decision
    rates per class) from their votes [..., N, C]."""
    return np.abs(np.asarray(dense_votes) / dense_models - np.asarray(pruned_votes) / pruned_models).sum(axis=-1)


def agreement_row(task: Task, dense_logits: np.ndarray, pruned_logits: np.ndarray, dense: np.ndarray, pruned: np.ndarray,
                  paired: int) -> dict:
    """churn, label and probability loyalty of a pair, each with its dense-vs-dense baseline."""
    pair_churn, dense_churn = churn(task, dense, pruned, paired)
    pair_loyalty, dense_loyalty = probability_loyalty(task, dense_logits, pruned_logits, paired)
    return {"seed_pairs": paired, "churn": pair_churn, "churn_dense": dense_churn,
            "label_loyalty": 1.0 - pair_churn, "label_loyalty_dense": 1.0 - dense_churn,
            "probability_loyalty": pair_loyalty, "probability_loyalty_dense": dense_loyalty}
