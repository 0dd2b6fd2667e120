"""Every analysis of one pruned population against its dense population, from arrays, written
once against the task seam (pie.pies.task): single- and multi-label data take the same path.

The caller (identify_pies) loads the logits and texts; this module only computes, so the whole
bundle is testable on hand-made populations.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from pie.analysis.accuracy import accuracy_row
from pie.analysis.agreement import DenseBaselines
from pie.analysis.classes import class_distribution, class_score_change
from pie.analysis.examples import pie_examples
from pie.analysis.influence import loss_ratio_from_losses, per_bin_share, rank_bins
from pie.analysis.overlap import bootstrap_percent, pie_overlap
from pie.analysis.summary import dense_row, pair_row, verdict_columns
from pie.analysis.degenerate import SHARE, degeneracy
from pie.analysis.noise import confidence, seed_draws
from pie.analysis.options import AnalysisOptions
from pie.analysis.text import text_ratios
from pie.analysis.training_measures import gap_of_losses
from pie.analysis.trust import degenerate_columns, top_examples, trust
from pie.pies.task import Task


@dataclass(frozen=True)
class SplitArrays:
    """Logits of a dense and a pruned population on one split, models aligned by seed where
    both populations share seeds (loss ratios pair model i with model i), with each model's
    decision threshold (multi-label; NaN where none). Per-model decisions and losses may come
    derived already (pie.runs.derived caches them per run); the logits are then optional."""

    dense: np.ndarray | None  # [Md, N, C]
    pruned: np.ndarray | None  # [Mp, N, C]
    labels: np.ndarray  # int[N], or multi-hot int8[N, C]
    dense_thresholds: np.ndarray | None = None  # float[Md]
    pruned_thresholds: np.ndarray | None = None  # float[Mp]
    shared_seeds: int | None = None  # models 0..k-1 of both share seeds (None: all of the smaller one)
    classes: int | None = None  # the number of classes (taken from the logits when None)
    dense_decisions: np.ndarray | None = None
    pruned_decisions: np.ndarray | None = None
    dense_losses: np.ndarray | None = None
    pruned_losses: np.ndarray | None = None

    @property
    def num_classes(self) -> int:
        return self.classes or self.dense.shape[2]

    @property
    def paired(self) -> int:
        """How many (dense i, pruned i) pairs share a seed."""
        if self.shared_seeds is not None:
            return self.shared_seeds
        return min(len(self.dense if self.dense is not None else self.dense_decisions),
                   len(self.pruned if self.pruned is not None else self.pruned_decisions))

    def decisions(self, task: Task, side: str) -> np.ndarray:
        """Per-model decisions of one side ("dense" or "pruned"): as given, or decided here."""
        given = getattr(self, f"{side}_decisions")
        return given if given is not None else task.decide(getattr(self, side), getattr(self, f"{side}_thresholds"))

    def losses(self, task: Task, side: str) -> np.ndarray:
        """Per-model, per-example losses of one side whose pruned/dense ratio A5 averages
        (task.ratio_losses): as given, or computed here."""
        given = getattr(self, f"{side}_losses")
        return given if given is not None else task.ratio_losses(getattr(self, side), self.labels)

    def model_losses(self, task: Task, side: str) -> np.ndarray:
        """Per-model, per-example losses [M, N] of one side (task.loss): from its logits, or from
        the ratio losses given (task.loss_of_ratio_losses)."""
        logits = getattr(self, side)
        return task.loss(logits, self.labels) if logits is not None else task.loss_of_ratio_losses(self.losses(task, side))

    @classmethod
    def aligned(cls, dense, pruned, labels) -> tuple["SplitArrays", tuple[int, ...]]:
        """Two populations (each with `seeds`, `thresholds`, `classes` and the arrays it read of
        `logits` [M, N, C], `decisions` and `losses`, None where not read: pie.runs.discovery's
        PopulationLogits) with their shared seeds first, in the same order, so model i of one
        pairs with model i of the other; and the dense models' order."""
        shared = [s for s in dense.seeds if s in set(pruned.seeds)]
        dense_order, pruned_order = _order(dense.seeds, shared), _order(pruned.seeds, shared)

        def both(field):
            values = getattr(dense, field), getattr(pruned, field)
            return {f"dense_{field}": _ordered(values[0], dense_order), f"pruned_{field}": _ordered(values[1], pruned_order)}

        arrays = cls(*both("logits").values(), labels, *both("thresholds").values(), len(shared), dense.classes,
                     **both("decisions"), **both("losses"))
        return arrays, tuple(dense_order)


def _ordered(values: np.ndarray | None, order: list[int]) -> np.ndarray | None:
    """values[order], read-only: a view where the order is the models' own (the usual case, where
    both populations hold the same seeds), so a pair does not copy the dense population's arrays
    that all its pairs share (~30 MB a pair at the paper's shape), and an analysis that wrote into
    them would fail rather than change the next pair's inputs."""
    if values is None:
        return None
    ordered = values.view() if order == list(range(len(values))) else values[order]
    ordered.flags.writeable = False
    return ordered


def _order(seeds, shared) -> list[int]:
    """Model order with the shared seeds first (in the given order), then the others."""
    index = {s: i for i, s in enumerate(seeds)}
    first = [index[s] for s in shared]
    return first + [i for i in range(len(seeds)) if i not in set(first)]


@dataclass(frozen=True)
class DenseTrain:
    """What A5 needs of the dense population on the train split, computed once per population
    and model order: per-model losses [Md, T] (per class [Md, T, C] where the conventions average
    per-class loss ratios) and the population's votes [T, C]."""

    losses: np.ndarray
    votes: np.ndarray
    models: int

    @classmethod
    def of(cls, task: Task, train: SplitArrays) -> "DenseTrain":
        decisions = train.decisions(task, "dense")
        votes = task.votes(decisions, train.num_classes)
        return cls(losses=train.losses(task, "dense"), votes=votes, models=len(decisions))


@dataclass(frozen=True)
class DenseTest:
    """What the pair analyses need of the dense population on the test split, computed once per
    population and model order: per-model decisions, their 0/1 indicators, the dense-vs-dense
    agreement baselines and the per-model losses [Md, N] (the generalisation gap)."""

    decisions: np.ndarray
    indicators: np.ndarray
    baselines: DenseBaselines
    losses: np.ndarray

    @classmethod
    def of(cls, task: Task, test: SplitArrays) -> "DenseTest":
        decisions = test.decisions(task, "dense")
        return cls(decisions, task.indicators(decisions, test.num_classes), DenseBaselines.of(task, test.dense, decisions),
                   test.model_losses(task, "dense"))


@dataclass(frozen=True)
class PairInputs:
    task: Task
    test: SplitArrays
    example_ids: np.ndarray
    texts: list[str] | None = None
    label_names: tuple[str, ...] = ()
    text_measures: pd.DataFrame | None = None  # one row per test example
    train: SplitArrays | None = None  # final-epoch train logits, for PIEs on the train split (A5)
    train_bins: np.ndarray | None = None  # EL2N bin of each train example (A5)
    dense_train: DenseTrain | None = None  # precomputed from train.dense when given
    dense_test: DenseTest | None = None  # precomputed from test.dense when given
    n_bins: int = 20


@dataclass
class PairAnalyses:
    summary: dict
    accuracy: dict
    pies: pd.DataFrame
    classes: pd.DataFrame
    class_change: pd.DataFrame
    overlap: pd.DataFrame
    cie: pd.DataFrame
    influence: pd.DataFrame = field(default_factory=pd.DataFrame)
    generalisation_gap: pd.DataFrame = field(default_factory=pd.DataFrame)
    text: pd.DataFrame = field(default_factory=pd.DataFrame)
    examples: pd.DataFrame = field(default_factory=pd.DataFrame)


def dense_summary(task: Task, dense: np.ndarray, labels: np.ndarray, thresholds, tie: str, degenerate_share: float = SHARE) -> dict:
    """The summary row of a dense population on its own, from its logits [M, N, C]."""
    decisions = task.decide(dense, thresholds)
    return {**dense_row(task, decisions, labels, dense.shape[2], tie),
            **degenerate_columns(degeneracy(task, decisions, labels, degenerate_share))}


def el2n_bins(norms: np.ndarray, n_bins: int = 20) -> np.ndarray:
    """EL2N bin (1 = easiest .. n_bins) of each training example from the dense population's
    per-model EL2N norms [M, T] after its first epoch (task.el2n_norms; A5)."""
    return rank_bins(norms.mean(axis=0), n_bins)


def _influence(inputs: PairInputs, tie: str) -> pd.DataFrame:
    """A5: per EL2N bin, the share of train-split PIEs and the mean loss ratio pruned/dense."""
    task, train = inputs.task, inputs.train
    dense = inputs.dense_train or DenseTrain.of(task, train)
    pruned = train.decisions(task, "pruned")
    pruned_votes = task.votes(pruned, train.num_classes)
    train_pies = task.is_pie(dense.votes, pruned_votes, dense.models, len(pruned), tie)
    share = per_bin_share(inputs.train_bins, train_pies, inputs.n_bins)
    ratio = loss_ratio_from_losses(dense.losses, train.losses(task, "pruned"), inputs.train_bins, inputs.n_bins,
                                   task.conventions.error_bars)
    return pd.DataFrame({
        "bin": share["bin"], "examples": share["examples"], "pie_share": share["share"],
        "loss_ratio": ratio["mean"], "loss_ratio_sem": ratio["sem"],
    })


def _named(frame: pd.DataFrame, names) -> pd.DataFrame:
    """A per-class table with each class's name beside its index (when the names are known)."""
    if len(names):
        frame.insert(1, "class_name", np.asarray(names, dtype=object)[frame["class"].to_numpy()])
    return frame


def analyse_pair(inputs: PairInputs, rng: np.random.Generator, options: AnalysisOptions = AnalysisOptions(),
                 noise_rng: np.random.Generator | None = None) -> PairAnalyses:
    """A2-A8 and A10 (the generalisation gap) for one pair (A1, effectiveness, and A9, the
    post-prune stability, need only the runs' manifests and are done apart), the seed-noise null
    and confidence, agreement beyond PIEs and degeneracy (pie.analysis.trust).

    `options.pie_set`: the PIEs that A3, A4, A6 and A7 study: "modal" (the paper's: modal labels of
    the full populations differ) or "robust" (PIEs in at least `robust_level` of the seed draws); the
    % PIEs and the train-split PIEs of A5 are always the modal ones. Random draws from `rng`, in
    this order: the % PIE interval, the overlap draws, the text intervals; the seed draws and
    the excess interval come from `noise_rng` (by default a stream spawned from `rng`), so that
    adding them changed none of the other numbers."""
    task, test, tie, n_boot = inputs.task, inputs.test, options.tie, options.n_boot
    classes, dense_test = test.num_classes, inputs.dense_test or DenseTest.of(task, test)
    dense, dense_indicators = dense_test.decisions, dense_test.indicators
    pruned = test.decisions(task, "pruned")
    pruned_indicators = task.indicators(pruned, classes)
    result = task.verdicts(dense_indicators.sum(axis=0, dtype=np.int64), pruned_indicators.sum(axis=0, dtype=np.int64),
                           len(dense), len(pruned), tie)

    noise_rng = noise_rng or rng.spawn(1)[0]

    def draws():
        return seed_draws(task, dense_indicators, pruned_indicators, noise_rng, repeats=options.noise_repeats, tie=tie,
                          paired=test.paired)

    early = draws() if options.pie_set == "robust" else None
    if options.pie_set == "robust" and early is None:
        raise ValueError("robust PIEs need a dense population of at least 2 models (for the seed draws)")
    interval = bootstrap_percent(result.is_pie, result.considered, rng, n_boot=n_boot)
    overlap = pie_overlap(task, dense_indicators, pruned_indicators, tie, n_repeats=options.overlap_repeats, rng=rng)
    chosen = confidence(early) >= options.robust_level if early is not None else result.is_pie
    text = text_ratios(inputs.text_measures, chosen, rng, n_boot=n_boot) if inputs.text_measures is not None else pd.DataFrame()
    found = trust(task, dense_test.baselines, test.pruned, dense, pruned, test.labels, result, early or draws(), test.paired, noise_rng,
                  n_boot, options.robust_level, options.degenerate_share)
    accuracy = accuracy_row(task, test.labels, dense, pruned, result, chosen)
    gold, names = task.gold(test.labels, classes), inputs.label_names
    pies = task.pie_rows(inputs.example_ids, test.labels, result, verdict_columns(result)).assign(
        confidence=found.confidence, robust=found.robust, taxicab=found.taxicab)
    shown = {"gold": task.shown(test.labels, names), "dense_decision": task.shown(result.dense_decision, names),
             "pruned_decision": task.shown(result.pruned_decision, names)} if len(names) else {}
    analyses = PairAnalyses(
        summary={**pair_row(task, test.labels, pruned, result, accuracy, interval), "pie_set": options.pie_set, **found.summary},
        accuracy=accuracy,
        pies=pies,
        classes=_named(class_distribution(gold, chosen).assign(**task.class_extras(result)), names),
        class_change=_named(class_score_change(task.per_class_scores(dense, test.labels, classes),
                                               task.per_class_scores(pruned, test.labels, classes), gold.sum(axis=0)), names),
        overlap=overlap,
        cie=top_examples(found, pies, shown, inputs.texts),
        text=text,
    )
    if inputs.train is not None and inputs.train_bins is not None:
        analyses.influence = _influence(inputs, tie)
    if inputs.train is not None:
        train = inputs.train
        analyses.generalisation_gap = pd.DataFrame([{
            **gap_of_losses(train.model_losses(task, "dense"), dense_test.losses, "dense"),
            **gap_of_losses(train.model_losses(task, "pruned"), test.model_losses(task, "pruned"), "pruned")}])
    if inputs.texts is not None:
        analyses.examples = pie_examples(
            inputs.texts, shown["gold"], shown["dense_decision"], shown["pruned_decision"],
            task.correct(result.dense_decision, test.labels), task.correct(result.pruned_decision, test.labels),
            result.dense_votes, result.pruned_votes, chosen, per_group=options.examples_per_group, example_ids=inputs.example_ids,
        )
    return analyses
