"""identify_pies: sweeps -> populations -> PIEs -> the paper's analyses as tables (CSV and
Parquet), plots (PNG) and one self-contained report.html.

Wiring only: runs are read by pie.runs, the science is in pie.pies and pie.analysis, the output
in pie.reporting. Population groups, and every prediction file the analyses will read, are
validated before anything is computed.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
from hydra.utils import instantiate
from omegaconf import OmegaConf

from pie.analysis.effectiveness import effectiveness_table
from pie.analysis.influence import el2n, el2n_multi_label, rank_bins
from pie.analysis.pair import DenseTrainSplit, PairInputs, SplitArrays, analyse_pair
from pie.analysis.pair_multi_label import DenseTrainDecisions, analyse_multi_label_pair, dense_row_multi_label
from pie.analysis.summary import dense_row
from pie.analysis.text import text_measures
from pie.data.pronunciations import install_cmudict_for_nltk
from pie.pies.modal import TIE_RULES, modal_from_votes, vote_counts
from pie.pies.populations import PopulationError, PopulationKey, group_populations, pair_with_dense
from pie.reporting import plots
from pie.reporting.report import write_report
from pie.reporting.tables import summary_markdown, write_table, write_text
from pie.runs.discovery import PopulationLogits, Run, discover, load_logits
from pie.runs.predictions import BadPredictionFile
from pie.runs.validation import RERUN, BadFile, BadPredictionFiles, Checked, check_files

log = logging.getLogger(__name__)
SPLITS = ("test", "validation", "train")
# Per-example / per-class / per-bin tables of each pair, stacked over pairs with its identity.
PAIR_FRAMES = ("pies", "classes", "class_change", "influence", "text", "stability", "examples")


@dataclass(frozen=True)
class Identified:
    summary: pd.DataFrame
    pies: pd.DataFrame
    tables: dict[str, pd.DataFrame]
    paths: dict[str, Path]
    incomplete_runs: list[Path]
    excluded_runs: list[BadFile]  # bad prediction files whose runs --skip-bad left out


def _identity(key: PopulationKey) -> dict:
    return {"dataset": key.dataset, "model": key.model, "method": key.method, "sparsity": key.sparsity, "model_key": key.model_key}


def _order(seeds, shared) -> list[int]:
    """Model order with the shared seeds first (in the given order), then the others."""
    index = {s: i for i, s in enumerate(seeds)}
    first = [index[s] for s in shared]
    return first + [i for i in range(len(seeds)) if i not in set(first)]


def _split_arrays(dense: PopulationLogits, pruned: PopulationLogits, what: str) -> tuple[SplitArrays, list[int]]:
    """Both populations' logits with shared seeds first in the same order (model i ~ model i),
    and the dense order used."""
    if not dense.same_examples(pruned):
        raise ValueError(f"the dense and pruned populations predict different examples for {what}")
    shared = [s for s in dense.seeds if s in set(pruned.seeds)]
    dense_order, pruned_order = _order(dense.seeds, shared), _order(pruned.seeds, shared)
    arrays = SplitArrays(
        dense.logits[dense_order], pruned.logits[pruned_order], dense.labels,
        dense.thresholds[dense_order], pruned.thresholds[pruned_order],
    )
    if arrays.multi_label and (np.isnan(arrays.dense_thresholds).any() or np.isnan(arrays.pruned_thresholds).any()):
        raise ValueError(f"multi-label runs without a decision threshold in their manifest ({what}); rerun them")
    return arrays, dense_order


def _dataset_texts(run, split: str, cache_dir: Path) -> tuple[list[str], tuple[str, ...], pd.DataFrame]:
    """Texts, label names and text measures of a split, from the run's dataset config (checked
    against its fingerprint); measures are cached by fingerprint (textstat is slow)."""
    data = instantiate(OmegaConf.create(run.manifest["config"]["dataset"]))
    if data.fingerprint != run.manifest["dataset"]["fingerprint"]:
        raise ValueError(
            f"the dataset of {run.directory} no longer matches its fingerprint (the installed data "
            "changed); the texts cannot be joined to the predictions"
        )
    texts = data.display_texts(split)
    path = cache_dir / "text_measures" / f"{data.name}-{data.fingerprint}-{split}.parquet"
    if path.exists():
        measures = pd.read_parquet(path)
    else:
        measures = _parallel_text_measures(texts, cache_dir)
        write_table(measures, path)
    return texts, data.label_names, measures


def _parallel_text_measures(texts: list[str], cache_dir: Path) -> pd.DataFrame:
    """text_measures on all cores (textstat is pure Python, text by text)."""
    workers = min(os.cpu_count() or 1, max(1, len(texts) // 500))
    install_cmudict_for_nltk(cache_dir)
    if workers == 1:
        return text_measures(texts)
    chunks = [texts[i::workers] for i in range(workers)]
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(workers, mp_context=context, initializer=install_cmudict_for_nltk, initargs=(cache_dir,)) as pool:
        parts = list(pool.map(text_measures, chunks))
    order = np.argsort(np.concatenate([np.arange(i, len(texts), workers) for i in range(workers)]), kind="stable")
    return pd.concat(parts, ignore_index=True).iloc[order].reset_index(drop=True)


def _train_split(dense_key, pruned_key, cache, dense_train) -> tuple[SplitArrays | None, DenseTrainSplit | None]:
    """Final-epoch train-split logits of both populations and the dense side's losses and votes
    (computed once per dense population and order), or (None, None) when not logged."""
    try:
        arrays, order = _split_arrays(cache(dense_key, "train_final"), cache(pruned_key, "train_final"), "the train split")
    except BadPredictionFile as error:
        log.warning("no train-split analysis (A5) for %s: %s", pruned_key.label(), error)
        return None, None
    if tuple(order) not in dense_train:
        dense_train[tuple(order)] = (
            DenseTrainDecisions.of(arrays) if arrays.multi_label else DenseTrainSplit.of(arrays.dense, arrays.labels)
        )
    return arrays, dense_train[tuple(order)]


def _el2n_bins(dense_key, cache, n_bins: int = 20) -> np.ndarray | None:
    """EL2N bins of the training examples from the dense population after its first epoch."""
    try:
        first = cache(dense_key, "train_epoch1")
    except BadPredictionFile as error:
        log.warning("no EL2N analysis (A5): %s", error)
        return None
    scores = el2n_multi_label(first.logits, first.labels) if first.multi_label else el2n(first.logits, first.labels)
    return rank_bins(scores, n_bins)


def _dense_summary(dense: PopulationLogits, tie: str) -> dict:
    if dense.multi_label:
        return dense_row_multi_label(dense.logits, dense.labels, dense.thresholds)
    modal, tied = modal_from_votes(vote_counts(dense.logits), tie)
    return dense_row(dense.logits, dense.labels, modal, tied)


def _headline(manifest: dict) -> tuple[str, float]:
    """The run's headline test metric: macro-F1 for multi-label data (as the paper), else accuracy."""
    name = "macro_f1" if manifest["dataset"].get("multi_label") else "accuracy"
    return name, manifest["metrics"]["test"][name]


def _reads(populations: dict[PopulationKey, list[Run]], used: list[PopulationKey], split: str) -> list[tuple[Run, str]]:
    """(run, prediction name) for each file the analyses read: `<split>_final` of every run of the
    used populations and, where the manifest lists them, train_final (A5) and the dense runs'
    train_epoch1 (EL2N)."""
    reads = []
    for key in used:
        optional = ("train_final", "train_epoch1") if key.is_dense else ("train_final",)
        for run in populations[key]:
            listed = run.manifest.get("predictions", {})
            reads += [(run, name) for name in dict.fromkeys([f"{split}_final", *(n for n in optional if n in listed)])]
    return reads


def _exclude(populations, used: list[PopulationKey], checked: Checked, min_seeds: int) -> dict[PopulationKey, list[Run]]:
    """The populations without the runs that have bad files, grouped again with min_seeds;
    refuses a used population that the exclusion leaves with fewer seeds."""
    bad = set(checked.bad_runs)
    for file in checked.bad:
        log.warning("excluding run %s (--skip-bad): %s: %s", file.run, file.file, file.reason)
    kept = {key: [r for r in runs if r.directory not in bad] for key, runs in populations.items()}
    short = [f"{key.label()} ({len(kept[key])} of {len(populations[key])})" for key in used if len(kept[key]) < min_seeds]
    if short:
        raise PopulationError(
            f"after --skip-bad excluded {len(bad)} run(s), population(s) {', '.join(short)} have fewer than "
            f"min_seeds={min_seeds} seeds left; {RERUN} or lower --min-seeds. Excluded:\n{checked.listing()}"
        )
    return group_populations([r for runs in kept.values() for r in runs], min_seeds)


def identify(
    patterns: Sequence[str], out_dir: str | Path, min_seeds: int = 5, tie: str = "lowest", split: str = "test",
    seed: int = 0, n_boot: int = 200, with_texts: bool = True, wandb: bool = False, cache_dir: str | Path | None = None,
    skip_bad: bool = False,
) -> Identified:
    """Find every pruned population under `patterns`, its PIEs and analyses, and write them to
    `out_dir`. Raises before computing anything when the input is invalid, including any prediction
    file that fails its manifest checks; skip_bad=True excludes those runs instead (listed in
    excluded_runs.csv and report.html) and then requires min_seeds of the remaining runs."""
    if tie not in TIE_RULES:
        raise ValueError(f"tie must be one of {', '.join(TIE_RULES)}, got {tie!r}")
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    if min_seeds < 1:
        raise ValueError(f"min_seeds must be >= 1, got {min_seeds}")
    found = discover(patterns)
    if found.incomplete:
        log.warning("skipping %d incomplete run(s), e.g. %s", len(found.incomplete), found.incomplete[0])
    populations = group_populations(found.complete, 1 if skip_bad else min_seeds)
    pairs = pair_with_dense(populations)
    if not pairs:
        raise ValueError(f"no pruned population under {', '.join(patterns)}: PIEs compare pruned with dense runs")
    used = sorted({key for pair in pairs for key in pair})
    checked = check_files(_reads(populations, used, split))
    if checked.bad and not skip_bad:
        raise BadPredictionFiles(checked)
    if skip_bad:
        populations = _exclude(populations, used, checked, min_seeds)
    cache_dir = Path(cache_dir or os.environ.get("PIE_CACHE_DIR", ".cache/pie"))
    rng = np.random.default_rng(seed)

    loaded: dict[tuple[PopulationKey, str], PopulationLogits] = {}

    def cache(key: PopulationKey, name: str) -> PopulationLogits:
        if (key, name) not in loaded:
            loaded[(key, name)] = load_logits(populations[key], name, checked)
        return loaded[(key, name)]

    rows: dict[str, list] = defaultdict(list)
    by_dense: dict[PopulationKey, list[PopulationKey]] = defaultdict(list)
    for dense_key, pruned_key in pairs:
        by_dense[dense_key].append(pruned_key)
    setups = {}
    for dense_key, pruned_keys in sorted(by_dense.items()):
        dense = cache(dense_key, f"{split}_final")
        rows["summary"].append({**_identity(dense_key), **_dense_summary(dense, tie)})
        texts, label_names, measures = (None, (), None)
        if with_texts:
            texts, label_names, measures = _dataset_texts(populations[dense_key][0], split, cache_dir)
        setups[dense_key] = label_names
        bins = _el2n_bins(dense_key, cache)
        loaded.pop((dense_key, "train_epoch1"), None)
        dense_train: dict = {}
        example_ids = dense.example_ids
        for pruned_key in pruned_keys:
            train, dense_side = _train_split(dense_key, pruned_key, cache, dense_train) if bins is not None else (None, None)
            inputs = PairInputs(
                test=_split_arrays(dense, cache(pruned_key, f"{split}_final"), split)[0], example_ids=example_ids,
                texts=texts, label_names=label_names, text_measures=measures, train=train, train_bins=bins,
                dense_train=dense_side,
            )
            if inputs.test.multi_label:
                result = analyse_multi_label_pair(inputs, rng, n_boot=n_boot)
            else:
                result = analyse_pair(inputs, rng, tie=tie, n_boot=n_boot)
            identity = _identity(pruned_key)
            rows["summary"].append({**identity, **result.summary})
            rows["accuracy"].append({**identity, **result.accuracy})
            for name in PAIR_FRAMES:
                frame = getattr(result, name)
                if len(frame):
                    rows[name].append(frame.assign(**identity))
            log.info("%s: %d PIEs of %d examples (%.2f%%)", pruned_key.label(), result.summary["pies"],
                     len(dense.labels), result.summary["pie_percent"])
            loaded.pop((pruned_key, f"{split}_final"), None)
            loaded.pop((pruned_key, "train_final"), None)

    tables = _assemble(rows, found.complete, populations)
    return _write_outputs(tables, setups, Path(out_dir), wandb, found.incomplete, patterns, checked.bad)


def _assemble(rows, runs, populations) -> dict[str, pd.DataFrame]:
    identity = ["dataset", "model", "method", "sparsity", "model_key"]
    tables = {"summary": pd.DataFrame(rows["summary"]).sort_values(["dataset", "model", "model_key", "sparsity", "method"], kind="stable"),
              "accuracy": pd.DataFrame(rows["accuracy"])}
    for name in PAIR_FRAMES:
        if rows[name]:
            frame = pd.concat(rows[name], ignore_index=True)
            tables[name] = frame[identity + [c for c in frame.columns if c not in identity]]
    members = {id(r) for group in populations.values() for r in group}
    tables["effectiveness"] = effectiveness_table(pd.DataFrame([
        {"dataset": r.manifest["dataset"]["name"], "model": r.manifest["model"]["name"], "method": r.manifest["pruning"]["method"],
         "sparsity": round(float(r.manifest["pruning"]["target"]), 6), "seed": r.seed,
         **dict(zip(("measure", "metric"), _headline(r.manifest)))}
        for r in runs if id(r) in members
    ]))
    return tables


def _setup_frames(tables, dataset, model):
    return {name: frame[(frame["dataset"] == dataset) & (frame["model"] == model)] for name, frame in tables.items()}


def _write_outputs(tables, setups, out: Path, wandb: bool, incomplete, patterns, excluded: list[BadFile]) -> Identified:
    paths: dict[str, Path] = {}
    excluded_frame = pd.DataFrame([(str(b.run), b.file, b.reason) for b in excluded], columns=["run_directory", "file", "reason"])
    paths["excluded_runs_csv"] = write_table(excluded_frame, out / "excluded_runs.csv")
    for name, frame in tables.items():
        if name != "pies":
            paths[f"{name}_csv"] = write_table(frame, out / f"{name}.csv")
        paths[name] = write_table(frame, out / f"{name}.parquet")
    paths["summary_md"] = write_text(summary_markdown(tables["summary"]), out / "summary.md")
    figures: dict[str, Path] = {}
    for dense_key, label_names in setups.items():
        frames = _setup_frames(tables, dense_key.dataset, dense_key.model)
        title, stem = f"{dense_key.dataset} / {dense_key.model}", f"{dense_key.dataset}_{dense_key.model}"
        pruned = frames["summary"][frames["summary"]["method"] != "dense"]
        figures[f"effectiveness_{stem}"] = plots.effectiveness(frames["effectiveness"], title, out / "plots" / f"effectiveness_{stem}.png")
        figures[f"pie_percent_{stem}"] = plots.pie_percent(pruned, title, out / "plots" / f"pie_percent_{stem}.png")
        figures[f"pie_accuracy_{stem}"] = plots.pie_accuracy(frames["accuracy"], title, out / "plots" / f"pie_accuracy_{stem}.png")
        if "classes" in frames and label_names:
            figures[f"classes_{stem}"] = plots.class_shares(frames["classes"], list(label_names), title, out / "plots" / f"classes_{stem}.png")
        if "influence" in frames and len(frames["influence"]):
            figures[f"influence_{stem}"] = plots.influence(frames["influence"], title, out / "plots" / f"influence_{stem}.png")
        if "text" in frames and len(frames["text"]):
            figures[f"text_{stem}"] = plots.text_ratios(frames["text"], title, out / "plots" / f"text_{stem}.png")
        figures[f"stability_{stem}"] = plots.stability(frames["stability"], title, out / "plots" / f"stability_{stem}.png")
    paths.update(figures)
    paths["report"] = write_report(out / "report.html", tables, figures, list(patterns), excluded_frame)
    if wandb:
        from pie.reporting.wandb import log_identify_run

        paths["wandb"] = Path(log_identify_run(out, {k: v for k, v in tables.items() if k != "pies"}, figures))
    return Identified(tables["summary"], tables["pies"], tables, paths, incomplete, excluded)
