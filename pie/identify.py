"""identify_pies: sweeps -> populations -> PIEs -> the paper's analyses -> tables (CSV and
Parquet), plots (PNG) and one self-contained report.html.

Wiring only: runs are found, checked and read by pie.runs, texts by pie.data.texts, the science
is in pie.pies and pie.analysis (written once against the task seam), the output in
pie.reporting. Every population and every prediction file the analyses will read are validated
before anything is computed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import logging
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from pie.analysis.degenerate import degeneracy
from pie.analysis.options import AnalysisOptions
from pie.analysis.pair import (DenseTest, DenseTrain, PairAnalyses, PairInputs, SplitArrays, analyse_pair, dense_summary,
                               el2n_bins)
from pie.analysis.recovery import CONTROL, Populations, compare, recovery_parts, recovery_row
from pie.analysis.tables import PAIR_FRAMES, assemble
from pie.data.texts import dataset_texts
from pie.pies.conventions import Conventions, conventions_named
from pie.reporting.outputs import write_outputs
from pie.errors import ConfigError
from pie.memo import Kept, Memo, cache_folder, collector_paused, long_lived
from pie.parallel import Ready, in_order, shared
from pie.runs.derived import RunArrays
from pie.runs.discovery import NoRuns, discover
from pie.runs.manifest import PopulationKey
from pie.runs.populations import PopulationReader, exclude_runs, files_to_read, group_populations, pair_with_dense
from pie.runs.validation import RERUN, BadFile, BadPredictionFiles, check_files

log = logging.getLogger(__name__)
SPLITS = ("test", "validation", "train")


@dataclass(frozen=True)
class Identified:
    summary: pd.DataFrame
    pies: pd.DataFrame  # its votes are Arrow lists (vote_lists); pies.parquet holds the same lists, read by pandas as NumPy rows
    tables: dict[str, pd.DataFrame]
    paths: dict[str, Path]
    incomplete_runs: list[Path]
    excluded_runs: list[BadFile]  # bad prediction files whose runs --skip-bad left out


def _identity(key: PopulationKey) -> dict:
    return {"dataset": key.dataset, "model": key.model, "method": key.method, "sparsity": key.sparsity, "model_key": key.model_key}


def pair_rng(seed: int, stream: int, *keys: PopulationKey) -> np.random.Generator:
    """A random stream of its own for each pair (or comparison) of populations, from the analysis
    seed and the populations' identities: a population's intervals and draws do not depend on
    which other sweeps the same identify_pies call analyses, nor on their order."""
    identity = "|".join(f"{k.model_key}/{k.label()}" for k in keys)
    return np.random.default_rng([seed, stream, int(hashlib.sha256(identity.encode()).hexdigest()[:16], 16)])


def _analysed(identity: dict, *arguments) -> PairAnalyses:
    """analyse_pair(*arguments), its per-example, per-class and per-bin frames carrying the
    pair's identity columns (as the tables stack them), so that a cached result is ready to stack."""
    result = analyse_pair(*arguments)
    for name in PAIR_FRAMES:
        if len(getattr(result, name)):
            setattr(result, name, getattr(result, name).assign(**identity))
    return result


class _PairSource:
    """Reads and assembles a pair's inputs where the pair is analysed: in a worker process, which
    inherits this object through fork (pie.parallel), so that a job carries population keys
    rather than arrays (60-90 MB a pair at the paper's shape, pickled through a pipe). A
    process makes the dense population's side its pairs share once, and keeps it until a pair
    of another dense population comes."""

    def __init__(self, read: PopulationReader, chosen: Conventions, test: str):
        self.read, self.chosen, self.test = read, chosen, test
        self.dense_key, self.dense_side = None, None

    def _dense(self, dense_key: PopulationKey) -> tuple:
        """(dense population, task, EL2N bins of the training examples (A5), DenseTrain and
        DenseTest by model order)."""
        if dense_key != self.dense_key:
            read = self.read
            if self.dense_key is not None:
                read.drop(self.dense_key, self.test, "train_final")
            dense = read(dense_key, self.test)
            first = read.optional(read, dense_key, "train_epoch1")
            read.drop(dense_key, "train_epoch1")
            self.dense_key = dense_key
            self.dense_side = dense, dense.task.using(self.chosen), first and el2n_bins(first.el2n), {}, {}
        return self.dense_side

    def inputs(self, dense_key: PopulationKey, pruned_key: PopulationKey, texts: tuple) -> PairInputs:
        read, test = self.read, self.test
        dense, task, bins, dense_trains, dense_tests = self._dense(dense_key)
        logged = bins is not None and read.optional(read.pair, dense_key, pruned_key, "train_final")
        train, order = SplitArrays.aligned(*logged, logged[0].labels) if logged else (None, None)
        if train is not None and order not in dense_trains:  # the dense side of A5, once per model order
            dense_trains[order] = DenseTrain.of(task, train)
        pair, test_order = SplitArrays.aligned(*read.pair(dense_key, pruned_key, test), dense.labels)
        if test_order not in dense_tests:  # the dense side of the pair analyses, once per model order
            dense_tests[test_order] = DenseTest.of(task, pair)
        read.drop(pruned_key, test, "train_final")
        return PairInputs(task, pair, dense.example_ids, *texts, train, bins, dense_trains.get(order), dense_tests[test_order])


def _pair_analysed(identity: dict, dense_key: PopulationKey, pruned_key: PopulationKey, texts: tuple, *arguments) -> PairAnalyses:
    """_analysed on the pair's inputs as the running in_order call's _PairSource reads them."""
    return _analysed(identity, shared().inputs(dense_key, pruned_key, texts), *arguments)


def _received(memo: Memo, result, job: tuple, source: _PairSource):
    """A pair's result as in_order returns it from Memo.kept: a Kept result mapped from its cache
    entry; one whose entry cannot be read (removed meanwhile) computed again in this process."""
    if not isinstance(result, Kept):
        return result
    found = memo.get(result.key)
    return found if found is not None else next(in_order([(None, job)], memo.stored, 1, shared=source))[1]


def _plotting_loaded() -> None:
    """Matplotlib and pie's plots imported in this process while it waits for the pairs' workers
    (pie.parallel.in_order's `idle`), so that the plot workers forked afterwards inherit them
    rather than import them, 0.4-0.6 s each; where no pair is computed, nothing is imported."""
    importlib.import_module("pie.reporting.plots")


def _fields(split: str) -> dict[str, tuple[str, ...]]:
    """What the analyses read of each prediction file (pie.runs.derived): the compared split's
    logits and decisions, A5's final train decisions and losses, the EL2N norms after epoch 1."""
    fields = {"train_final": ("decisions", "losses"), "train_epoch1": ("el2n",)}
    fields[f"{split}_final"] = (*fields.get(f"{split}_final", ()), "logits", "decisions")
    return fields


def _degenerate(read: PopulationReader, used: list[PopulationKey], name: str, share: float) -> list[BadFile]:
    """The degenerate runs of the used populations (pie.analysis.degenerate), as exclusions; from
    the decisions the analyses use (pie.runs.derived, under the chosen conventions)."""
    found = []
    for key in used:
        population, runs = read(key, name), sorted(read.populations[key], key=lambda r: r.seed)
        flags = degeneracy(population.task, population.decisions, population.labels, share)
        found += [BadFile(run.directory, str(run.paths.prediction(name).relative_to(run.directory)), flags.reason(i))
                  for i, run in enumerate(runs) if flags.degenerate[i]]
    return found


def _recoveries(read: PopulationReader, pairs: list[tuple[PopulationKey, PopulationKey]], name: str, summary: list[dict],
                options: AnalysisOptions, seed: int) -> list[dict]:
    """Rows of the recovery table (pie.analysis.recovery): every recovery population against its
    control (<source>+none of the same setup and sparsity), on their common seeds."""
    def setup(key: PopulationKey, method: str) -> tuple:
        return key.dataset, key.model, key.model_key, method, key.sparsity

    keys = {setup(pruned, pruned.method): (dense, pruned) for dense, pruned in pairs}
    rows_of = {(r["dataset"], r["model"], r["model_key"], r["method"], r["sparsity"]): r for r in summary}
    found = []
    for (dense_key, key) in pairs:
        parts = recovery_parts(key.method)
        if parts is None or parts[1] == CONTROL:
            continue
        control = keys.get(setup(key, f"{parts[0]}+{CONTROL}"))
        if control is None:
            log.warning("%s has no control population (%s+%s) to compare with; run recover.py with recovery=none too",
                        key.label(), parts[0], CONTROL)
            continue
        dense, control_logits, recovered = read(dense_key, name), read(control[1], name), read(key, name)
        common = np.intersect1d(control_logits.seeds, recovered.seeds)
        if len(common) < 2:
            log.warning("%s and its control share %d seed(s); the recovery comparison needs 2", key.label(), len(common))
            continue
        task = dense.task.using(conventions_named(options.conventions))

        def decisions(population, seeds=common):
            return population.decisions[np.searchsorted(population.seeds, seeds)]

        populations = Populations(task, dense.classes, dense.labels, dense.decisions, decisions(control_logits), decisions(recovered),
                                  options.tie)
        compared = compare(populations, pair_rng(seed, 2, dense_key, control[1], key), options.n_boot)
        found.append(recovery_row(_identity(key), compared, rows_of[setup(key, key.method)], rows_of[setup(key, control[1].method)],
                                  rows_of.get(setup(key, parts[0]))))
        log.info("%s", found[-1]["verdict"])
    return found


def identify(
    patterns: Sequence[str], out_dir: str | Path, min_seeds: int = 5, split: str = "test", seed: int = 0,
    with_texts: bool = True, wandb: bool = False, cache_dir: str | Path | None = None, skip_bad: bool = False,
    exclude_degenerate: bool = False, options: AnalysisOptions = AnalysisOptions(), workers: int = 1, cache: bool = False,
) -> Identified:
    """Find every pruned population under `patterns`, its PIEs and analyses, and write them to
    `out_dir`. Raises before computing anything when the input is invalid, including any prediction
    file that fails its manifest checks; skip_bad=True excludes those runs instead, and
    exclude_degenerate=True the degenerate models (both listed in excluded_runs.csv and
    report.html); then min_seeds of the remaining runs are required. The pairs are analysed in
    `workers` processes (pie.parallel; the same numbers for any count) and, with `cache`, each
    pair's analyses are kept under cache_dir and reused while their inputs stay the same
    (pie.memo)."""
    with long_lived() as freeze:
        options.check()
        if split not in SPLITS:
            raise ConfigError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
        if min_seeds < 1:
            raise ConfigError(f"min_seeds must be >= 1, got {min_seeds}")
        cache_dir = Path(cache_dir or cache_folder())
        with collector_paused():  # the manifests: many objects, no garbage
            found = discover(patterns, cache_dir)
        freeze()  # the runs stay to the end: the collector need not walk them again and again
        if found.incomplete:
            log.warning("skipping %d incomplete run(s), e.g. %s", len(found.incomplete), found.incomplete[0])
        populations = group_populations(found.complete, 1 if skip_bad else min_seeds)
        pairs = pair_with_dense(populations)
        if not pairs:
            raise NoRuns(f"no pruned population under {', '.join(patterns)}: PIEs compare pruned with dense runs; pass the "
                         "pruned sweep too")
        used = sorted({key for pair in pairs for key in pair})
        chosen = conventions_named(options.conventions)
        arrays = RunArrays(cache_dir, _fields(split), chosen, deferred=True)
        checked = check_files(files_to_read(populations, used, split), check=arrays.check, known=arrays.known,
                              settle=arrays.settle, processes=workers)
        if checked.bad and not skip_bad:
            raise BadPredictionFiles(checked)
        excluded = list(checked.bad)
        if skip_bad:
            populations = exclude_runs(populations, used, checked.bad, min_seeds, "--skip-bad", RERUN)
        read = PopulationReader(populations, arrays)
        if exclude_degenerate:
            degenerate = _degenerate(read, used, f"{split}_final", options.degenerate_share)
            populations = exclude_runs(populations, used, degenerate, min_seeds, "--exclude-degenerate", "train more seeds")
            read, excluded = PopulationReader(populations, arrays), excluded + degenerate
        rows: dict[str, list] = defaultdict(list)
        by_dense: dict[PopulationKey, list[PopulationKey]] = defaultdict(list)
        for dense_key, pruned_key in pairs:
            by_dense[dense_key].append(pruned_key)
        setups, memo = {}, Memo(cache_dir, enabled=cache)

        def jobs():
            """In order: each dense population's summary row, then its pairs' analyses; from the memo
            where the same inputs (the same prediction files, by checksum) were analysed before with
            the same options and code, without reading any array; else a job for a worker, which
            reads the pair's arrays itself (_PairSource)."""
            test = f"{split}_final"
            for dense_key, pruned_keys in sorted(by_dense.items()):
                manifest = populations[dense_key][0].manifest
                text_source = manifest.config["dataset"], manifest.dataset.fingerprint, split
                texts = memo.computed(dataset_texts, *text_source, cache_dir) if with_texts else (None, (), None)
                setups[(dense_key.dataset, dense_key.model)] = texts[1]
                key = memo.key(dense_summary, read.identity(dense_key, test), chosen, options.tie, options.degenerate_share)
                row = memo.get(key)
                if row is None:
                    dense = read(dense_key, test)
                    row = memo.stored(key, dense_summary, dense.task.using(chosen), dense.logits, dense.labels, dense.thresholds,
                                      options.tie, options.degenerate_share)
                yield ("dense", dense_key), Ready(row)
                for pruned_key in pruned_keys:
                    rngs = pair_rng(seed, 0, dense_key, pruned_key), pair_rng(seed, 1, dense_key, pruned_key)
                    key = memo.key(_analysed, _identity(pruned_key), *(read.identity(k, name) for k in (dense_key, pruned_key)
                                                   for name in (test, "train_final", "train_epoch1")),
                                   chosen, *text_source, with_texts, options, *rngs)
                    result = memo.get(key)
                    if result is not None:
                        yield ("pair", pruned_key), Ready(result)
                        continue
                    computing[("pair", pruned_key)] = (key, _pair_analysed, _identity(pruned_key), dense_key, pruned_key, texts,
                                                       rngs[0], options, rngs[1])
                    yield ("pair", pruned_key), computing[("pair", pruned_key)]

        computing: dict[tuple, tuple] = {}  # the jobs handed to workers, until their results are in
        source = _PairSource(read, chosen, f"{split}_final")
        for (kind, key), result in in_order(jobs(), memo.kept, workers, shared=source, idle=_plotting_loaded):
            if kind == "dense":  # a dense population's own row
                rows["summary"].append({**_identity(key), **result})
                continue
            result = _received(memo, result, computing.pop((kind, key), None), source)
            identity = _identity(key)
            rows["summary"].append({**identity, **result.summary})
            rows["accuracy"].append({**identity, **result.accuracy})
            for name in PAIR_FRAMES:
                if len(getattr(result, name)):
                    rows[name].append(getattr(result, name))
            log.info("%s: %d PIEs of %d examples (%.2f%%)", key.label(), result.summary["pies"], len(result.pies),
                     result.summary["pie_percent"])
        freeze()  # as the pairs' results
        rows["recovery"] = _recoveries(read, pairs, f"{split}_final", rows["summary"], options, seed)
        members = {id(r) for group in populations.values() for r in group}
        runs = [{"dataset": m.dataset.name, "model": m.model.name, "method": m.pruning.method, "sparsity": m.sparsity, "seed": m.seed,
                 **dict(zip(("measure", "metric"), m.headline)), "prunes": m.prune_measures}
                for m in (r.manifest for r in found.complete if id(r) in members)]
        tables = assemble(rows, runs)
        listed = pd.DataFrame([(str(b.run), b.file, b.reason) for b in excluded], columns=["run_directory", "file", "reason"])
        config = {"sweeps": list(patterns), "min_seeds": min_seeds, "split": split, "seed": seed, "texts": with_texts,
                  "skip_bad": skip_bad, "exclude_degenerate": exclude_degenerate, **dataclasses.asdict(options)}
        paths = write_outputs(tables, setups, Path(out_dir), patterns, listed, chosen, config if wandb else None, split, workers,
                              cache_dir, cache)
        return Identified(tables["summary"], tables["pies"], tables, paths, found.incomplete, excluded)
