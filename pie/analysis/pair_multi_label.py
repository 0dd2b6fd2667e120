"""Every analysis of one pruned population against its dense population for multi-label data:
the single-label bundle (pair.py) with majority decisions at each model's threshold in place of
modal labels and macro-F1 in place of accuracy (Tropeano et al. 2025, §5.3–5.4 of the spec)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pie.analysis.classes import class_distribution, class_score_change
from pie.analysis.examples import pie_examples
from pie.analysis.influence import binary_cross_entropy, loss_ratio_from_losses, per_bin_share
from pie.analysis.pair import PairAnalyses, PairInputs, SplitArrays
from pie.analysis.stability import bootstrap_percent, stability_from_indicators
from pie.analysis.summary import verdict_columns
from pie.analysis.text import text_ratios
from pie.models.thresholds import binarize, per_class_f1
from pie.pies.multi_label import MultiLabelPieResult, majority, majority_from_votes, pie_table_from_decisions, tied


def macro_f1(decisions: np.ndarray, targets: np.ndarray, subset: np.ndarray | None = None) -> np.ndarray:
    """Macro-F1 of decisions [..., N, C] on a subset of examples, over the classes defined there
    (some positive or predicted); NaN when the subset is empty or no class is defined."""
    targets = np.asarray(targets)
    if subset is not None:
        subset = np.asarray(subset, dtype=bool)
        decisions, targets = decisions[..., subset, :], targets[subset]
    scores = per_class_f1(decisions, targets, undefined=np.nan)
    defined = ~np.isnan(scores)
    total = np.where(defined, scores, 0.0).sum(axis=-1)
    count = defined.sum(axis=-1)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def _mean_std(values: np.ndarray, name: str) -> dict:
    return {f"{name}_mean": float(np.mean(values)), f"{name}_std": float(np.std(values, ddof=1)) if len(values) > 1 else float("nan")}


def population_stats(decisions: np.ndarray, targets: np.ndarray) -> dict:
    """Seeds, macro-F1 (the headline) and subset accuracy of each model, mean and std (ddof=1)."""
    exact = (decisions == np.asarray(targets, dtype=bool)[None]).all(axis=2).mean(axis=1)
    return {"seeds": len(decisions), "metric": "macro_f1", **_mean_std(macro_f1(decisions, targets), "macro_f1"),
            **_mean_std(exact, "accuracy")}


def dense_row_multi_label(logits: np.ndarray, targets: np.ndarray, thresholds: np.ndarray) -> dict:
    """Summary of a dense population on its own."""
    decisions = binarize(logits, thresholds)
    votes_majority, votes = majority(decisions)
    return {
        **population_stats(decisions, targets),
        "examples": len(targets),
        "dense_modal_accuracy_all": float(macro_f1(votes_majority, targets)),
        "dense_ties": int(tied(votes, len(decisions)).sum()),
    }


def _rows(inputs: PairInputs, result: MultiLabelPieResult) -> pd.DataFrame:
    """One row per example: gold classes, both majority decisions, flipped classes, votes."""
    def classes(matrix):
        return [np.flatnonzero(row).tolist() for row in np.asarray(matrix)]

    return pd.DataFrame({
        "example_id": np.asarray(inputs.example_ids, dtype=object),
        "position": np.arange(len(result.flips)),
        "labels": classes(inputs.test.labels),
        "dense_decisions": classes(result.dense_majority),
        "pruned_decisions": classes(result.pruned_majority),
        "flipped_classes": classes(result.flips),
        **verdict_columns(result),
    })


def _summary(test: SplitArrays, pruned: np.ndarray, result: MultiLabelPieResult, interval: dict, accuracy: dict) -> dict:
    """The pair's summary row; the majority decisions' macro-F1s are those of the A3 row."""
    return {
        **population_stats(pruned, test.labels),
        "examples": len(test.labels),
        "pies": int(result.is_pie.sum()),
        "pie_percent": 100.0 * result.pie_fraction,
        "flipped_decisions": int(result.flips.sum()),
        **{f"{side}_modal_accuracy_{subset}": accuracy[f"{side}_modal_{subset}"]
           for side in ("dense", "pruned") for subset in ("all", "pies")},
        "dense_ties": int(result.dense_tied.sum()),
        "pruned_ties": int(result.pruned_tied.sum()),
        "pie_percent_low": interval["low"],
        "pie_percent_high": interval["high"],
    }


def _accuracy(test: SplitArrays, dense: np.ndarray, pruned: np.ndarray, result: MultiLabelPieResult) -> dict:
    """A3 for multi-label: macro-F1 of the majority decisions and mean per-model macro-F1, on all
    examples and on the PIEs, for both populations."""
    row = {"pies": int(result.is_pie.sum()), "metric": "macro_f1"}
    for side, decisions, decided in (("dense", dense, result.dense_majority), ("pruned", pruned, result.pruned_majority)):
        for subset_name, subset in (("all", None), ("pies", result.is_pie)):
            row[f"{side}_modal_{subset_name}"] = float(macro_f1(decided, test.labels, subset))
            row[f"{side}_mean_{subset_name}"] = float(np.nanmean(macro_f1(decisions, test.labels, subset))) if subset is None or subset.any() else float("nan")
    return row


def _classes(test: SplitArrays, dense: np.ndarray, pruned: np.ndarray, result: MultiLabelPieResult) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A4: gold-class counts among all examples and PIEs, decisions flipped per class; per-class
    F1 of the dense vs pruned models with Welch's t-test."""
    num_classes = test.labels.shape[1]
    distribution = class_distribution(test.labels, result.is_pie, num_classes)
    distribution["flips"] = result.flips.sum(axis=0)
    support = np.asarray(test.labels).sum(axis=0, dtype=np.int64)
    change = class_score_change(per_class_f1(dense, test.labels, np.nan), per_class_f1(pruned, test.labels, np.nan), support)
    return distribution, change


def _stability(dense: np.ndarray, pruned: np.ndarray, rng, repeats: int) -> pd.DataFrame:
    def is_pie(dense_votes, pruned_votes, m):
        return (majority_from_votes(dense_votes, m) != majority_from_votes(pruned_votes, m)).any(axis=-1)

    return stability_from_indicators(dense.astype(np.int8), pruned.astype(np.int8), is_pie, n_repeats=repeats, rng=rng)


@dataclass(frozen=True)
class DenseTrainDecisions:
    """What A5 needs of the dense population on the train split, computed once: per-model BCE
    losses [Md, T] and the majority decisions [T, C]."""

    losses: np.ndarray
    majority: np.ndarray

    @classmethod
    def of(cls, train: SplitArrays) -> "DenseTrainDecisions":
        return cls(binary_cross_entropy(train.dense, train.labels), majority(binarize(train.dense, train.dense_thresholds))[0])


def _influence(inputs: PairInputs) -> pd.DataFrame:
    train = inputs.train
    dense = inputs.dense_train or DenseTrainDecisions.of(train)
    train_pies = (dense.majority != majority(binarize(train.pruned, train.pruned_thresholds))[0]).any(axis=1)
    share = per_bin_share(inputs.train_bins, train_pies, inputs.n_bins)
    ratio = loss_ratio_from_losses(dense.losses, binary_cross_entropy(train.pruned, train.labels), inputs.train_bins, inputs.n_bins)
    return pd.DataFrame({
        "bin": share["bin"], "examples": share["examples"], "pie_share": share["share"],
        "loss_ratio": ratio["mean"], "loss_ratio_sem": ratio["sem"],
    })


def _examples(inputs: PairInputs, result: MultiLabelPieResult, per_group: int) -> pd.DataFrame:
    """A7: PIEs grouped by whether the pruned or the dense majority decides exactly the gold set."""
    names = np.asarray(inputs.label_names, dtype=object)

    def named(matrix):
        return np.array([", ".join(names[np.flatnonzero(row)]) or "(none)" for row in np.asarray(matrix)], dtype=object)

    return pie_examples(
        inputs.texts, named(inputs.test.labels), named(result.dense_majority), named(result.pruned_majority),
        result.dense_votes, result.pruned_votes, result.is_pie, None, per_group=per_group, example_ids=inputs.example_ids,
    )


def analyse_multi_label_pair(inputs: PairInputs, rng: np.random.Generator, n_boot: int = 200,
                             stability_repeats: int = 20, examples_per_group: int = 15) -> PairAnalyses:
    """A2-A8 for one multi-label pair; every model is binarised with its own threshold."""
    test = inputs.test
    dense, pruned = binarize(test.dense, test.dense_thresholds), binarize(test.pruned, test.pruned_thresholds)
    result = pie_table_from_decisions(dense, pruned)
    interval = bootstrap_percent(result.is_pie, result.considered, rng, n_boot=n_boot)
    classes, class_change = _classes(test, dense, pruned, result)
    accuracy = _accuracy(test, dense, pruned, result)
    analyses = PairAnalyses(
        summary=_summary(test, pruned, result, interval, accuracy),
        accuracy=accuracy,
        pies=_rows(inputs, result),
        classes=classes,
        class_change=class_change,
        stability=_stability(dense, pruned, rng, stability_repeats),
    )
    if inputs.train is not None and inputs.train_bins is not None:
        analyses.influence = _influence(inputs)
    if inputs.text_measures is not None:
        analyses.text = text_ratios(inputs.text_measures, result.is_pie, rng, n_boot=n_boot)
    if inputs.texts is not None:
        analyses.examples = _examples(inputs, result, examples_per_group)
    return analyses
