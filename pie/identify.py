"""identify_pies: sweeps -> populations -> PIEs -> the paper's analyses -> tables (CSV and
Parquet), plots (PNG) and one self-contained report.html.

Wiring only: runs are found, checked and read by pie.runs, texts by pie.data.texts, the science
is in pie.pies and pie.analysis (written once against the task seam), the output in
pie.reporting. Every population and every prediction file the analyses will read are validated
before anything is computed.
"""

from __future__ import annotations

import logging
import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from pie.analysis.pair import DenseTrain, PairInputs, SplitArrays, analyse_pair, dense_summary, el2n_bins
from pie.analysis.tables import PAIR_FRAMES, assemble
from pie.data.texts import dataset_texts
from pie.pies.conventions import conventions_named
from pie.pies.modal import TIE_RULES
from pie.reporting.outputs import write_outputs
from pie.errors import ConfigError
from pie.runs.discovery import NoRuns, PopulationLogits, discover
from pie.runs.manifest import PopulationKey
from pie.runs.populations import PopulationError, PopulationReader, exclude_bad, files_to_read, group_populations, pair_with_dense
from pie.runs.predictions import BadPredictionFile
from pie.runs.validation import BadFile, BadPredictionFiles, check_files

log = logging.getLogger(__name__)
SPLITS = ("test", "validation", "train")


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


def _pair(dense: PopulationLogits, pruned: PopulationLogits, what: str) -> tuple[SplitArrays, tuple[int, ...]]:
    if not dense.same_examples(pruned):
        raise PopulationError(f"the dense and pruned populations predict different examples for {what}; they must share one dataset")
    return SplitArrays.aligned(dense, pruned, dense.labels)


def _train_inputs(read: PopulationReader, dense_key, pruned_key, task, cached: dict) -> tuple[SplitArrays | None, DenseTrain | None]:
    """Final-epoch train-split logits of both populations and the dense side of A5 (computed once
    per dense model order), or (None, None) when not logged."""
    try:
        arrays, order = _pair(read(dense_key, "train_final"), read(pruned_key, "train_final"), "the train split")
    except BadPredictionFile as error:
        log.warning("no train-split analysis (A5) for %s: %s", pruned_key.label(), error)
        return None, None
    if order not in cached:
        cached[order] = DenseTrain.of(task, arrays)
    return arrays, cached[order]


def _bins(read: PopulationReader, dense_key: PopulationKey, task) -> np.ndarray | None:
    """EL2N bins of the training examples from the dense population after its first epoch."""
    try:
        first = read(dense_key, "train_epoch1")
    except BadPredictionFile as error:
        log.warning("no EL2N analysis (A5): %s", error)
        return None
    read.drop(dense_key, "train_epoch1")
    return el2n_bins(task, first.logits, first.labels)


def identify(
    patterns: Sequence[str], out_dir: str | Path, min_seeds: int = 5, tie: str = "lowest", split: str = "test",
    seed: int = 0, n_boot: int = 200, with_texts: bool = True, wandb: bool = False, cache_dir: str | Path | None = None,
    skip_bad: bool = False, conventions: str = "pie",
) -> Identified:
    """Find every pruned population under `patterns`, its PIEs and analyses, and write them to
    `out_dir`. Raises before computing anything when the input is invalid, including any prediction
    file that fails its manifest checks; skip_bad=True excludes those runs instead (listed in
    excluded_runs.csv and report.html) and then requires min_seeds of the remaining runs.
    `conventions` names the analysis conventions (pie.pies.conventions): "pie" or "reference"."""
    if tie not in TIE_RULES:
        raise ConfigError(f"tie must be one of {', '.join(TIE_RULES)}, got {tie!r}")
    if split not in SPLITS:
        raise ConfigError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    if min_seeds < 1:
        raise ConfigError(f"min_seeds must be >= 1, got {min_seeds}")
    chosen = conventions_named(conventions)
    found = discover(patterns)
    if found.incomplete:
        log.warning("skipping %d incomplete run(s), e.g. %s", len(found.incomplete), found.incomplete[0])
    populations = group_populations(found.complete, 1 if skip_bad else min_seeds)
    pairs = pair_with_dense(populations)
    if not pairs:
        raise NoRuns(f"no pruned population under {', '.join(patterns)}: PIEs compare pruned with dense runs; pass the "
                     "pruned sweep too")
    used = sorted({key for pair in pairs for key in pair})
    checked = check_files(files_to_read(populations, used, split))
    if checked.bad and not skip_bad:
        raise BadPredictionFiles(checked)
    if skip_bad:
        populations = exclude_bad(populations, used, checked, min_seeds)
    cache_dir = Path(cache_dir or os.environ.get("PIE_CACHE_DIR", ".cache/pie"))
    rng = np.random.default_rng(seed)
    read = PopulationReader(populations, checked)
    rows: dict[str, list] = defaultdict(list)
    by_dense: dict[PopulationKey, list[PopulationKey]] = defaultdict(list)
    for dense_key, pruned_key in pairs:
        by_dense[dense_key].append(pruned_key)
    setups = {}
    for dense_key, pruned_keys in sorted(by_dense.items()):
        dense = read(dense_key, f"{split}_final")
        task = dense.task.using(chosen)
        rows["summary"].append({**_identity(dense_key), **dense_summary(task, dense.logits, dense.labels, dense.thresholds, tie)})
        texts, label_names, measures = (None, (), None)
        if with_texts:
            first = populations[dense_key][0].manifest
            texts, label_names, measures = dataset_texts(first.config["dataset"], first.dataset.fingerprint, split, cache_dir)
        setups[(dense_key.dataset, dense_key.model)] = label_names
        bins, cached, example_ids = _bins(read, dense_key, task), {}, dense.example_ids
        for pruned_key in pruned_keys:
            train, dense_train = _train_inputs(read, dense_key, pruned_key, task, cached) if bins is not None else (None, None)
            inputs = PairInputs(task, _pair(dense, read(pruned_key, f"{split}_final"), split)[0], example_ids,
                                texts, label_names, measures, train, bins, dense_train)
            result = analyse_pair(inputs, rng, tie=tie, n_boot=n_boot)
            identity = _identity(pruned_key)
            rows["summary"].append({**identity, **result.summary})
            rows["accuracy"].append({**identity, **result.accuracy})
            for name in PAIR_FRAMES:
                if len(getattr(result, name)):
                    rows[name].append(getattr(result, name).assign(**identity))
            log.info("%s: %d PIEs of %d examples (%.2f%%)", pruned_key.label(), result.summary["pies"], len(dense.labels),
                     result.summary["pie_percent"])
            read.drop(pruned_key, f"{split}_final", "train_final")
    members = {id(r) for group in populations.values() for r in group}
    runs = [{"dataset": m.dataset.name, "model": m.model.name, "method": m.pruning.method, "sparsity": m.sparsity, "seed": m.seed,
             **dict(zip(("measure", "metric"), m.headline)), "prunes": m.prune_measures}
            for m in (r.manifest for r in found.complete if id(r) in members)]
    tables = assemble(rows, runs)
    excluded = pd.DataFrame([(str(b.run), b.file, b.reason) for b in checked.bad], columns=["run_directory", "file", "reason"])
    options = {"sweeps": list(patterns), "min_seeds": min_seeds, "tie": tie, "split": split, "seed": seed, "bootstrap": n_boot,
               "texts": with_texts, "skip_bad": skip_bad, "conventions": conventions}
    paths = write_outputs(tables, setups, Path(out_dir), patterns, excluded, chosen, options if wandb else None)
    return Identified(tables["summary"], tables["pies"], tables, paths, found.incomplete, checked.bad)
