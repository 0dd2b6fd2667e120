"""The task seam: single-label vs multi-label classification, decided once from the gold labels
(`task_of`), so that every analysis, the training loss and the run metrics are written once
against one interface (open_lth's pattern: one protocol, two implementations, chosen once).

Per model, a task turns logits into decisions: the argmax class (single-label), or the classes
whose sigmoid reaches the model's own threshold τ (multi-label, Tropeano et al. 2025). A
population decides by its votes: the modal label with a tie rule (Hooker et al. 2019), or per
class a strict majority. An example is a PIE when the dense and the pruned population decide
differently. Scores are accuracy, or macro-F1 for multi-label data (the paper's headline metrics).

Each task carries the analysis conventions (pie.pies.conventions) where the reference code and pie
differ: the multi-label decision rule, subset macro-F1, the loss ratio and A5's error bars;
`task.using(conventions)` gives the same task under other conventions.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from pie.pies.conventions import PIE, Conventions
from pie.pies.losses import (binary_cross_entropies, binary_cross_entropy, cross_entropy, el2n_norms, el2n_norms_multi_label,
                             js_divergence, log_softmax)
from pie.pies.decisions import binarize, macro_f1_from_decisions, per_class_f1, tune_threshold
from pie.pies.modal import argmax_last, modal_from_votes
from pie.pies.multi_label import MultiLabelPieResult, majority_from_votes, pie_table_from_votes as multi_label_table, tied
from pie.pies.single_label import PieResult, pie_masks_against, pie_masks_from_votes, pie_table_from_votes


def _mean_std(values: np.ndarray, name: str) -> dict:
    """Mean and sample std (ddof=1, as the paper's pandas tables; NaN for one value)."""
    return {f"{name}_mean": float(np.mean(values)), f"{name}_std": float(np.std(values, ddof=1)) if len(values) > 1 else float("nan")}


def macro_f1(decisions: np.ndarray, targets: np.ndarray, subset: np.ndarray | None = None, empty_class_f1: str = "omit") -> np.ndarray:
    """Macro-F1 of decisions [..., N, C] on a subset of examples. A class with no gold and no
    predicted positive there is left out ("omit") or scores 0 ("zero", scikit-learn's rule); NaN
    when the subset is empty or no class is scored."""
    targets = np.asarray(targets)
    if subset is not None:
        subset = np.asarray(subset, dtype=bool)
        decisions, targets = decisions[..., subset, :], targets[subset]
    scores = per_class_f1(decisions, targets, undefined=0.0 if empty_class_f1 == "zero" and len(targets) else np.nan)
    defined = ~np.isnan(scores)
    total = np.where(defined, scores, 0.0).sum(axis=-1)
    count = defined.sum(axis=-1)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


class _Task:
    """What both tasks share: the conventions they analyse under."""

    def __init__(self, conventions: Conventions = PIE):
        self.conventions = conventions

    def using(self, conventions: Conventions):
        """This task under other analysis conventions."""
        return type(self)(conventions)

    def votes(self, decisions: np.ndarray, num_classes: int) -> np.ndarray:
        """int64[N, C]: how many of the models decide each class for each example (the
        indicators summed over the models)."""
        return self.indicators(decisions, num_classes).sum(axis=0, dtype=np.int64)


class SingleLabel(_Task):
    """One class per example; per-model decisions are argmax labels int64[M, N]."""

    name, metric, multi_label = "single-label", "accuracy", False
    # A3 columns in the order the tables have always had
    accuracy_order = ("pies", "dense_modal_all", "dense_modal_pies", "dense_mean_all", "dense_mean_pies",
                      "pruned_modal_all", "pruned_modal_pies", "pruned_mean_all", "pruned_mean_pies", "metric")

    # --- decisions and verdicts ------------------------------------------------------------
    def decide(self, logits: np.ndarray, thresholds=None) -> np.ndarray:
        return argmax_last(np.asarray(logits))

    def indicators(self, decisions: np.ndarray, num_classes: int) -> np.ndarray:
        """0/1 int32[M, N, C]: summing models gives votes of any sub- or resampled population."""
        return (decisions[..., None] == np.arange(num_classes)).astype(np.int32)

    def votes(self, decisions: np.ndarray, num_classes: int) -> np.ndarray:
        """int64[N, C]: the models deciding each class, counted class by class (the same counts as
        summing the indicators, in a quarter of the time)."""
        votes = np.empty((decisions.shape[1], num_classes), dtype=np.int64)
        for c in range(num_classes):
            np.sum(decisions == c, axis=0, out=votes[:, c])
        return votes

    def verdicts(self, dense_votes, pruned_votes, dense_models: int, pruned_models: int, tie: str) -> PieResult:
        return pie_table_from_votes(dense_votes, pruned_votes, tie)

    def pie_masks(self, dense_votes, pruned_votes, dense_models: int, pruned_models: int, tie: str) -> tuple[np.ndarray, np.ndarray]:
        """(is_pie, considered) bool[..., N] for votes [..., N, C] (leading axes batch populations)."""
        return pie_masks_from_votes(dense_votes, pruned_votes, tie)[:2]

    def pie_masks_against(self, votes, models: int, others, others_models: int, tie: str) -> list[tuple[np.ndarray, np.ndarray]]:
        """pie_masks(votes, other, models, others_models, tie) for each other population's votes,
        the first population decided once (a seed-noise draw compares its dense draw with two)."""
        return pie_masks_against(votes, others, tie)

    def is_pie(self, dense_votes, pruned_votes, dense_models: int, pruned_models: int, tie: str) -> np.ndarray:
        return self.pie_masks(dense_votes, pruned_votes, dense_models, pruned_models, tie)[0]

    def differs(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """bool[..., N]: two models' decisions differ (churn)."""
        return np.asarray(a) != np.asarray(b)

    def probabilities(self, logits: np.ndarray) -> np.ndarray:
        """float64[..., N, C]: each model's predicted distribution (softmax)."""
        return np.exp(log_softmax(np.asarray(logits, dtype=np.float64)))

    def divergence(self, p: np.ndarray, q: np.ndarray) -> np.ndarray:
        """float[..., N]: Jensen-Shannon divergence (base 2, in [0, 1]) of two predicted distributions."""
        return js_divergence(p, q)

    def constant_share(self, decisions: np.ndarray) -> np.ndarray:
        """float[M]: share of the examples given each model's most frequent decision (1 = one class for all)."""
        counts = np.stack([np.bincount(row, minlength=int(decisions.max()) + 1) for row in np.asarray(decisions)])
        return counts.max(axis=1) / decisions.shape[1]

    def baseline_score(self, labels: np.ndarray) -> float:
        """Accuracy of predicting the most frequent gold class for every example."""
        return float(np.bincount(np.asarray(labels)).max() / len(labels))

    def population_decision(self, votes: np.ndarray, models: int, tie: str) -> tuple[np.ndarray, np.ndarray]:
        """(modal label int64[N], tied bool[N])."""
        return modal_from_votes(votes, tie)

    # --- scores ----------------------------------------------------------------------------
    def model_scores(self, decisions: np.ndarray, labels: np.ndarray) -> np.ndarray:
        return (decisions == np.asarray(labels)[None, :]).mean(axis=1)

    def population_stats(self, decisions: np.ndarray, labels: np.ndarray) -> dict:
        """Seeds, mean and std over models of the accuracy."""
        return {"seeds": len(decisions), "metric": "accuracy", **_mean_std(self.model_scores(decisions, labels), "accuracy")}

    def score(self, decision: np.ndarray, labels: np.ndarray, subset: np.ndarray | None = None) -> float:
        """Accuracy of a population's decision on a subset (all examples for None); NaN when empty."""
        labels = np.asarray(labels)
        subset = np.ones(len(labels), dtype=bool) if subset is None else np.asarray(subset, dtype=bool)
        return float((np.asarray(decision)[subset] == labels[subset]).mean()) if subset.any() else float("nan")

    def mean_score(self, decisions: np.ndarray, labels: np.ndarray, subset: np.ndarray | None = None) -> float:
        """Mean over models of their accuracy on a subset (all examples for None)."""
        correct = decisions == np.asarray(labels)[None, :]
        if subset is None:
            return float(correct.mean(axis=1).mean())
        subset = np.asarray(subset, dtype=bool)
        return float(correct[:, subset].mean()) if subset.any() else float("nan")

    def per_class_scores(self, decisions: np.ndarray, labels: np.ndarray, num_classes: int) -> np.ndarray:
        """float[M, C]: recall of each model on each gold class; NaN for a class without examples."""
        labels = np.asarray(labels)
        one_hot = (labels[:, None] == np.arange(num_classes)[None, :]).astype(float)
        hits = (decisions == labels[None, :]).astype(float) @ one_hot
        support = one_hot.sum(axis=0)
        recall = np.full_like(hits, np.nan)
        np.divide(hits, support[None, :], out=recall, where=support[None, :] > 0)
        return recall

    def gold(self, labels: np.ndarray, num_classes: int) -> np.ndarray:
        """int64[N, C] one-hot gold classes."""
        return (np.asarray(labels)[:, None] == np.arange(num_classes)).astype(np.int64)

    def correct(self, decision: np.ndarray, labels: np.ndarray) -> np.ndarray:
        return np.asarray(decision) == np.asarray(labels)

    def loss(self, logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
        return cross_entropy(logits, labels)

    def ratio_losses(self, logits: np.ndarray, labels: np.ndarray, decisions: np.ndarray | None = None) -> np.ndarray:
        """The losses [M, N] whose pruned/dense ratio A5 averages; `decisions` of the same logits
        (decide), when known, spare finding each model's argmax again."""
        return cross_entropy(logits, labels, decisions)

    def loss_of_ratio_losses(self, losses: np.ndarray) -> np.ndarray:
        """`loss` from `ratio_losses` of the same logits: the same cross-entropies."""
        return losses

    def el2n_norms(self, logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """float32[M, N]: each model's EL2N norm; EL2N is their mean over models."""
        return el2n_norms(logits, labels)

    # --- what the tables show --------------------------------------------------------------
    def summary_extras(self, result: PieResult) -> dict:
        return {}

    def class_extras(self, result: PieResult) -> dict:
        return {}

    def shown(self, values: np.ndarray, names) -> np.ndarray:
        """Class names of labels or decisions."""
        return np.asarray(names, dtype=object)[np.asarray(values)]

    def pie_rows(self, example_ids, labels, result: PieResult, verdicts: dict) -> pd.DataFrame:
        return pd.DataFrame({
            "example_id": np.asarray(example_ids, dtype=object), "position": np.arange(len(labels)),
            "label": np.asarray(labels, dtype=np.int64), "dense_modal": result.dense_modal,
            "pruned_modal": result.pruned_modal, **verdicts,
        })

    # --- training --------------------------------------------------------------------------
    def torch_loss(self):
        from torch import nn

        return nn.CrossEntropyLoss()

    def torch_metrics(self, num_classes: int) -> tuple[Any, Any]:
        """(accuracy, macro-F1) torchmetrics for validation during training."""
        import torchmetrics

        return (torchmetrics.classification.MulticlassAccuracy(num_classes, average="micro"),
                torchmetrics.classification.MulticlassF1Score(num_classes, average="macro"))

    def metric_target(self, labels):
        return labels

    def example_losses(self, logits, labels):
        """Per-example cross-entropy (torch)."""
        import torch.nn.functional as F

        return F.cross_entropy(logits, labels, reduction="none")

    def soft_targets(self, logits: np.ndarray, temperature: float) -> np.ndarray:
        """float32[N, C]: a population's mean predicted distribution at `temperature` (softmax)."""
        return self.probabilities(np.asarray(logits, dtype=np.float64) / temperature).mean(axis=0).astype(np.float32)

    def soft_losses(self, logits, soft, temperature: float):
        """Per-example KL(soft || softmax(z / T)) (torch): the distillation term of Hinton et al. 2015."""
        import torch

        log_student = torch.log_softmax(logits / temperature, dim=-1)
        return (soft * (torch.log(soft.clamp_min(1e-12)) - log_student)).sum(dim=-1)

    def collects_train_logits(self, tune_on: str) -> bool:
        return False

    def threshold(self, tune_on: str, validation: tuple[np.ndarray, np.ndarray], train_epoch) -> dict | None:
        """Single-label decisions need no threshold."""
        return None

    def run_metrics(self, logits: np.ndarray, labels: np.ndarray, threshold: float | None = None) -> dict[str, float]:
        """Accuracy and macro-F1 of argmax predictions (torchmetrics)."""
        import torch
        import torchmetrics

        preds, target = torch.as_tensor(logits).argmax(1), torch.as_tensor(labels)
        task = {"task": "multiclass", "num_classes": logits.shape[1]}
        return {
            "accuracy": float(torchmetrics.functional.accuracy(preds, target, average="micro", **task)),
            "macro_f1": float(torchmetrics.functional.f1_score(preds, target, average="macro", **task)),
        }

    def prediction_table(self, example_ids, labels, logits: np.ndarray, threshold: float | None = None) -> pd.DataFrame:
        """One row per example: id, gold label, predicted label, softmax confidence and the logits."""
        shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
        probabilities = shifted / shifted.sum(axis=1, keepdims=True)
        return pd.DataFrame({
            "example_id": list(example_ids), "label": np.asarray(labels), "prediction": logits.argmax(axis=1),
            "confidence": probabilities.max(axis=1), "logits": [list(map(float, row)) for row in logits],
        })


class MultiLabel(_Task):
    """Sets of classes per example (multi-hot int8[N, C] gold); per-model decisions are bool[M, N, C]."""

    name, metric, multi_label = "multi-label", "macro_f1", True
    accuracy_order = ("pies", "metric", "dense_modal_all", "dense_mean_all", "dense_modal_pies", "dense_mean_pies",
                      "pruned_modal_all", "pruned_mean_all", "pruned_modal_pies", "pruned_mean_pies")

    def decide(self, logits: np.ndarray, thresholds) -> np.ndarray:
        thresholds = np.asarray(thresholds, dtype=np.float64)
        if np.isnan(thresholds).any():
            raise ValueError("multi-label runs without a decision threshold in their manifest; rerun them")
        return binarize(logits, thresholds, self.conventions.strict)

    def indicators(self, decisions: np.ndarray, num_classes: int) -> np.ndarray:
        return decisions.astype(np.int8)

    def verdicts(self, dense_votes, pruned_votes, dense_models: int, pruned_models: int, tie: str) -> MultiLabelPieResult:
        return multi_label_table(dense_votes, pruned_votes, dense_models, pruned_models)

    def pie_masks(self, dense_votes, pruned_votes, dense_models: int, pruned_models: int, tie: str) -> tuple[np.ndarray, np.ndarray]:
        """(is_pie, considered): every example counts (a strict majority needs no tie rule)."""
        return self.pie_masks_against(dense_votes, dense_models, [pruned_votes], pruned_models, tie)[0]

    def pie_masks_against(self, votes, models: int, others, others_models: int, tie: str) -> list[tuple[np.ndarray, np.ndarray]]:
        """pie_masks(votes, other, ...) for each other population's votes, the first one's
        majorities found once."""
        decided = majority_from_votes(votes, models)
        masks = [(decided != majority_from_votes(other, others_models)).any(axis=-1) for other in others]
        return [(is_pie, np.ones_like(is_pie)) for is_pie in masks]

    def is_pie(self, dense_votes, pruned_votes, dense_models: int, pruned_models: int, tie: str) -> np.ndarray:
        return self.pie_masks(dense_votes, pruned_votes, dense_models, pruned_models, tie)[0]

    def differs(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """bool[..., N]: two models decide some class differently (churn, as a PIE is defined)."""
        return (np.asarray(a) != np.asarray(b)).any(axis=-1)

    def probabilities(self, logits: np.ndarray) -> np.ndarray:
        """float64[..., N, C]: each model's probability of each class (sigmoid)."""
        return 1.0 / (1.0 + np.exp(-np.asarray(logits, dtype=np.float64)))

    def divergence(self, p: np.ndarray, q: np.ndarray) -> np.ndarray:
        """float[..., N]: the per-class Jensen-Shannon divergences (base 2) of the two Bernoulli
        distributions, averaged over the classes."""
        p, q = np.asarray(p, dtype=np.float64), np.asarray(q, dtype=np.float64)
        return js_divergence(np.stack([p, 1.0 - p], axis=-1), np.stack([q, 1.0 - q], axis=-1)).mean(axis=-1)

    def constant_share(self, decisions: np.ndarray) -> np.ndarray:
        """float[M]: share of the examples given each model's most frequent set of classes."""
        shares = []
        for model in np.asarray(decisions, dtype=bool):
            _, counts = np.unique(np.packbits(model, axis=1), axis=0, return_counts=True)
            shares.append(counts.max() / len(model))
        return np.array(shares)

    def baseline_score(self, labels: np.ndarray) -> float:
        """Macro-F1 of predicting the most frequent gold set of classes for every example."""
        labels = np.asarray(labels, dtype=bool)
        rows, counts = np.unique(labels, axis=0, return_counts=True)
        return float(macro_f1_from_decisions(np.repeat(rows[counts.argmax()][None], len(labels), axis=0), labels))

    def population_decision(self, votes: np.ndarray, models: int, tie: str) -> tuple[np.ndarray, np.ndarray]:
        """(strict-majority decisions bool[N, C], tied bool[N]); the tie rule does not apply."""
        return majority_from_votes(votes, models), tied(votes, models)

    def _macro_f1(self, decisions: np.ndarray, labels: np.ndarray, subset: np.ndarray | None = None) -> np.ndarray:
        """Macro-F1 with the conventions' rule for classes absent from the subset."""
        return macro_f1(decisions, labels, subset, self.conventions.empty_class_f1)

    def model_scores(self, decisions: np.ndarray, labels: np.ndarray) -> np.ndarray:
        return self._macro_f1(decisions, labels)

    def population_stats(self, decisions: np.ndarray, labels: np.ndarray) -> dict:
        """Seeds, macro-F1 (the headline) and subset accuracy of each model, mean and std."""
        exact = (decisions == np.asarray(labels, dtype=bool)[None]).all(axis=2).mean(axis=1)
        return {"seeds": len(decisions), "metric": "macro_f1", **_mean_std(self._macro_f1(decisions, labels), "macro_f1"),
                **_mean_std(exact, "accuracy")}

    def score(self, decision: np.ndarray, labels: np.ndarray, subset: np.ndarray | None = None) -> float:
        """Macro-F1 of a population's decisions on a subset."""
        return float(self._macro_f1(decision, labels, subset))

    def mean_score(self, decisions: np.ndarray, labels: np.ndarray, subset: np.ndarray | None = None) -> float:
        if subset is not None and not np.asarray(subset, dtype=bool).any():
            return float("nan")
        return float(np.nanmean(self._macro_f1(decisions, labels, subset)))

    def per_class_scores(self, decisions: np.ndarray, labels: np.ndarray, num_classes: int) -> np.ndarray:
        """float[M, C]: F1 of each model per class; NaN where a class is undefined."""
        return per_class_f1(decisions, labels, np.nan)

    def gold(self, labels: np.ndarray, num_classes: int) -> np.ndarray:
        return np.asarray(labels, dtype=np.int64)

    def correct(self, decision: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """The decided set is exactly the gold set."""
        return (np.asarray(decision, dtype=bool) == np.asarray(labels, dtype=bool)).all(axis=1)

    def loss(self, logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
        return binary_cross_entropy(logits, labels)

    def ratio_losses(self, logits: np.ndarray, labels: np.ndarray, decisions: np.ndarray | None = None) -> np.ndarray:
        """The losses whose pruned/dense ratio A5 averages: per class [M, N, C] (the ratio is the
        mean of per-class ratios) or the class mean [M, N], as the conventions' loss_ratio says
        (binary cross-entropies need no `decisions`)."""
        losses = binary_cross_entropies(logits, labels)
        return losses if self.conventions.loss_ratio == "per_class" else losses.mean(axis=2)

    def loss_of_ratio_losses(self, losses: np.ndarray) -> np.ndarray:
        """`loss` from `ratio_losses` of the same logits: per-class BCE averaged over the classes."""
        return losses.mean(axis=2) if losses.ndim == 3 else losses

    def el2n_norms(self, logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
        return el2n_norms_multi_label(logits, labels)

    def summary_extras(self, result: MultiLabelPieResult) -> dict:
        return {"flipped_decisions": int(result.flips.sum())}

    def class_extras(self, result: MultiLabelPieResult) -> dict:
        return {"flips": result.flips.sum(axis=0)}

    def shown(self, values: np.ndarray, names) -> np.ndarray:
        """Class sets as "name, name" ("(none)" for the empty set)."""
        names = np.asarray(names, dtype=object)
        return np.array([", ".join(names[np.flatnonzero(row)]) or "(none)" for row in np.asarray(values)], dtype=object)

    def pie_rows(self, example_ids, labels, result: MultiLabelPieResult, verdicts: dict) -> pd.DataFrame:
        def classes(matrix):
            return [np.flatnonzero(row).tolist() for row in np.asarray(matrix)]

        return pd.DataFrame({
            "example_id": np.asarray(example_ids, dtype=object), "position": np.arange(len(result.flips)),
            "labels": classes(labels), "dense_decisions": classes(result.dense_majority),
            "pruned_decisions": classes(result.pruned_majority), "flipped_classes": classes(result.flips), **verdicts,
        })

    def torch_loss(self):
        from torch import nn

        return nn.BCEWithLogitsLoss()

    def torch_metrics(self, num_classes: int) -> tuple[Any, Any]:
        """(subset accuracy, macro-F1) at τ = 0.5 for validation during training (the run's own τ
        is tuned after training)."""
        import torchmetrics

        return (torchmetrics.classification.MultilabelExactMatch(num_classes),
                torchmetrics.classification.MultilabelF1Score(num_classes, average="macro"))

    def metric_target(self, labels):
        return labels.long()

    def example_losses(self, logits, labels):
        """Per-example binary cross-entropy, mean over the classes (torch)."""
        import torch.nn.functional as F

        return F.binary_cross_entropy_with_logits(logits, labels, reduction="none").mean(dim=-1)

    def soft_targets(self, logits: np.ndarray, temperature: float) -> np.ndarray:
        """float32[N, C]: a population's mean probability of each class at `temperature` (sigmoid)."""
        return self.probabilities(np.asarray(logits, dtype=np.float64) / temperature).mean(axis=0).astype(np.float32)

    def soft_losses(self, logits, soft, temperature: float):
        """Per-example binary cross-entropy of sigmoid(z / T) against the soft targets, mean over classes."""
        import torch.nn.functional as F

        return F.binary_cross_entropy_with_logits(logits / temperature, soft, reduction="none").mean(dim=-1)

    def collects_train_logits(self, tune_on: str) -> bool:
        return tune_on == "train_epoch"

    def threshold(self, tune_on: str, validation: tuple[np.ndarray, np.ndarray], train_epoch) -> dict:
        """The run's τ: best macro-F1 on the final validation logits (eval mode), or on the last
        training epoch's logits (train mode, weights changing: the reference's way), deciding by
        the conventions' rule (recorded with it)."""
        logits, targets = validation if tune_on == "validation" else train_epoch
        tau, f1 = tune_threshold(logits, targets, strict=self.conventions.strict)
        return {"value": tau, "tuned_on": tune_on, "macro_f1": f1, "decision": self.conventions.decision}

    def run_metrics(self, logits: np.ndarray, labels: np.ndarray, threshold: float) -> dict[str, float]:
        """Subset accuracy and macro/micro precision, recall and F1 of the decisions sigmoid >= τ
        (> τ under strict conventions; torchmetrics; `accuracy` is the subset accuracy, so it reads
        like the single-label one)."""
        import torch
        import torchmetrics

        preds = torch.as_tensor(binarize(logits, threshold, self.conventions.strict)).long()
        target = torch.as_tensor(np.asarray(labels)).long()
        task = {"task": "multilabel", "num_labels": logits.shape[1]}
        functional = torchmetrics.functional
        metrics = {"accuracy": float(functional.exact_match(preds, target, **task))}
        for average in ("macro", "micro"):
            metrics[f"{average}_precision"] = float(functional.precision(preds, target, average=average, **task))
            metrics[f"{average}_recall"] = float(functional.recall(preds, target, average=average, **task))
            metrics[f"{average}_f1"] = float(functional.f1_score(preds, target, average=average, **task))
        return metrics

    def prediction_table(self, example_ids, labels, logits: np.ndarray, threshold: float) -> pd.DataFrame:
        """One row per example: gold and predicted class lists, confidence = the top sigmoid, logits."""
        return pd.DataFrame({
            "example_id": list(example_ids),
            "label": [np.flatnonzero(row).tolist() for row in np.asarray(labels)],
            "prediction": [np.flatnonzero(row).tolist() for row in binarize(logits, threshold, self.conventions.strict)],
            "confidence": 1.0 / (1.0 + np.exp(-logits.max(axis=1))),
            "logits": [list(map(float, row)) for row in logits],
        })


Task = SingleLabel | MultiLabel
SINGLE_LABEL, MULTI_LABEL = SingleLabel(), MultiLabel()


def task_for(multi_label: bool, conventions: Conventions = PIE) -> Task:
    """The one place that chooses the task: from the data's kind of labels, under `conventions`."""
    return (MULTI_LABEL if multi_label else SINGLE_LABEL).using(conventions)


def task_of(labels: np.ndarray) -> Task:
    """The task of gold labels: class indices [N] or multi-hot rows [N, C]."""
    return task_for(np.asarray(labels).ndim == 2)
