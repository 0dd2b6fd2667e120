"""Every analysis of one pruned population against its dense population, from arrays.

The caller (identify_pies) loads the logits and texts; this module only computes, so the whole
bundle is testable on hand-made populations.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from pie.analysis.accuracy import accuracy_on_subsets
from pie.analysis.classes import class_accuracy_change, class_distribution
from pie.analysis.examples import pie_examples
from pie.analysis.influence import cross_entropy, loss_ratio_from_losses, per_bin_share
from pie.analysis.stability import bootstrap_percent, pie_stability
from pie.analysis.summary import pair_row, pie_rows
from pie.analysis.text import text_ratios
from pie.pies.modal import vote_counts
from pie.pies.single_label import pie_table_from_votes, single_label_pie_table


@dataclass(frozen=True)
class SplitArrays:
    """Logits of a dense and a pruned population on one split, models aligned by seed where
    both populations share seeds (loss ratios pair model i with model i)."""

    dense: np.ndarray  # [Md, N, C]
    pruned: np.ndarray  # [Mp, N, C]
    labels: np.ndarray  # int[N], or multi-hot int8[N, C]
    dense_thresholds: np.ndarray | None = None  # float[Md]: multi-label decision thresholds τ
    pruned_thresholds: np.ndarray | None = None  # float[Mp]

    @property
    def multi_label(self) -> bool:
        return np.asarray(self.labels).ndim == 2


@dataclass(frozen=True)
class DenseTrainSplit:
    """What A5 needs of the dense population on the train split, computed once per population:
    per-model losses [Md, T] in the order the pairs align models, and vote counts [T, C]."""

    losses: np.ndarray
    votes: np.ndarray

    @classmethod
    def of(cls, logits: np.ndarray, labels: np.ndarray) -> "DenseTrainSplit":
        return cls(losses=cross_entropy(logits, labels), votes=vote_counts(logits))


@dataclass(frozen=True)
class PairInputs:
    test: SplitArrays
    example_ids: np.ndarray
    texts: list[str] | None = None
    label_names: tuple[str, ...] = ()
    text_measures: pd.DataFrame | None = None  # one row per test example
    train: SplitArrays | None = None  # final-epoch train logits, for PIEs on the train split (A5)
    train_bins: np.ndarray | None = None  # EL2N bin of each train example (A5)
    dense_train: DenseTrainSplit | None = None  # precomputed from train.dense when given
    n_bins: int = 20


@dataclass
class PairAnalyses:
    summary: dict
    accuracy: dict
    pies: pd.DataFrame
    classes: pd.DataFrame
    class_change: pd.DataFrame
    stability: pd.DataFrame
    influence: pd.DataFrame = field(default_factory=pd.DataFrame)
    text: pd.DataFrame = field(default_factory=pd.DataFrame)
    examples: pd.DataFrame = field(default_factory=pd.DataFrame)


def _accuracy(test: SplitArrays, result) -> dict:
    dense = accuracy_on_subsets(test.dense, test.labels, result.dense_modal, result.is_pie)
    pruned = accuracy_on_subsets(test.pruned, test.labels, result.pruned_modal, result.is_pie)
    return {
        "pies": int(result.is_pie.sum()),
        **{f"dense_{k.replace('subset', 'pies')}": v for k, v in dense.items() if k != "n_subset"},
        **{f"pruned_{k.replace('subset', 'pies')}": v for k, v in pruned.items() if k != "n_subset"},
    }


def _influence(inputs: PairInputs, tie: str) -> pd.DataFrame:
    train = inputs.train
    dense = inputs.dense_train or DenseTrainSplit.of(train.dense, train.labels)
    train_pies = pie_table_from_votes(dense.votes, vote_counts(train.pruned), tie).is_pie
    share = per_bin_share(inputs.train_bins, train_pies, inputs.n_bins)
    ratio = loss_ratio_from_losses(dense.losses, cross_entropy(train.pruned, train.labels), inputs.train_bins, inputs.n_bins)
    return pd.DataFrame({
        "bin": share["bin"], "examples": share["examples"], "pie_share": share["share"],
        "loss_ratio": ratio["mean"], "loss_ratio_sem": ratio["sem"],
    })


def analyse_pair(inputs: PairInputs, rng: np.random.Generator, tie: str = "lowest", n_boot: int = 200,
                 stability_repeats: int = 20, examples_per_group: int = 15) -> PairAnalyses:
    """A2-A8 for one pair (A1, effectiveness, needs only the runs' metrics and is done apart)."""
    test = inputs.test
    result = single_label_pie_table(test.dense, test.pruned, tie)
    interval = bootstrap_percent(result.is_pie, result.considered, rng, n_boot=n_boot)
    num_classes = test.dense.shape[2]
    analyses = PairAnalyses(
        summary={**pair_row(test.dense, test.pruned, test.labels, result),
                 "pie_percent_low": interval["low"], "pie_percent_high": interval["high"]},
        accuracy={**_accuracy(test, result), "metric": "accuracy"},
        pies=pie_rows(inputs.example_ids, test.labels, result),
        classes=class_distribution(test.labels, result.is_pie, num_classes),
        class_change=class_accuracy_change(test.dense, test.pruned, test.labels, num_classes),
        stability=pie_stability(test.dense, test.pruned, n_repeats=stability_repeats, rng=rng, tie=tie),
    )
    if inputs.train is not None and inputs.train_bins is not None:
        analyses.influence = _influence(inputs, tie)
    if inputs.text_measures is not None:
        analyses.text = text_ratios(inputs.text_measures, result.is_pie, rng, n_boot=n_boot)
    if inputs.texts is not None:
        analyses.examples = pie_examples(
            inputs.texts, test.labels, result.dense_modal, result.pruned_modal, result.dense_votes,
            result.pruned_votes, result.is_pie, list(inputs.label_names), per_group=examples_per_group,
            example_ids=inputs.example_ids,
        )
    return analyses
