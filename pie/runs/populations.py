"""Group runs into populations, pair each pruned population with its dense population, and read
a population's logits once for all the analyses that need them.

A population = all seeds of one (dataset, model setup, pruning method, sparsity), its
PopulationKey as the manifest derives it. Grouping works on manifests only (no file access).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from pathlib import Path
from typing import Sequence

from pie.errors import UserError
from pie.runs.derived import RunArrays
from pie.runs.discovery import PopulationLogits
from pie.runs.manifest import PopulationKey, Run
from pie.runs.predictions import BadPredictionFile
from pie.runs.validation import BadFile

log = logging.getLogger(__name__)


class PopulationError(UserError, ValueError):
    """Runs that cannot form a valid population, with the reason and the runs involved."""


def group_populations(runs: Sequence[Run], min_seeds: int) -> dict[PopulationKey, list[Run]]:
    """Populations keyed by PopulationKey; refuses mixed datasets, duplicate seeds, small ones."""
    groups: dict[PopulationKey, list[Run]] = defaultdict(list)
    for run in runs:
        groups[run.manifest.population_key].append(run)
    for key, members in groups.items():
        fingerprints = {m.manifest.dataset.fingerprint for m in members}
        if len(fingerprints) > 1:
            listing = "; ".join(f"{m.directory} -> {m.manifest.dataset.fingerprint}" for m in members)
            raise PopulationError(
                f"population {key.label()} mixes dataset fingerprints {sorted(fingerprints)} "
                f"(different splits, subsamples or data): {listing}"
            )
        seeds = [m.seed for m in members]
        duplicates = sorted({s for s in seeds if seeds.count(s) > 1})
        if duplicates:
            listing = "; ".join(str(m.directory) for m in members if m.seed in duplicates)
            raise PopulationError(
                f"population {key.label()} has seed(s) {duplicates} more than once: {listing}. "
                "Pass only one sweep per population."
            )
        if len(members) < min_seeds:
            raise PopulationError(
                f"population {key.label()} has {len(members)} seed(s), fewer than min_seeds="
                f"{min_seeds}; run more seeds or lower --min-seeds"
            )
    return dict(sorted(groups.items()))


def pair_with_dense(populations: dict[PopulationKey, list]) -> list[tuple[PopulationKey, PopulationKey]]:
    """(dense key, pruned key) for every pruned population; refuses a pruned one without dense."""
    pairs = []
    for key, members in populations.items():
        if key.is_dense:
            continue
        dense = key.dense_key
        if dense not in populations:
            raise PopulationError(
                f"pruned population {key.label()} has no dense population with the same dataset "
                f"and model setup (model key {key.model_key}); pass the dense sweep too"
            )
        dense_fp = populations[dense][0].manifest.dataset.fingerprint
        pruned_fp = members[0].manifest.dataset.fingerprint
        if dense_fp != pruned_fp:
            raise PopulationError(
                f"pruned population {key.label()} (dataset fingerprint {pruned_fp}) and its dense "
                f"population (fingerprint {dense_fp}) saw different data"
            )
        pairs.append((dense, key))
    return pairs


def files_to_read(populations: dict[PopulationKey, list[Run]], used: list[PopulationKey], split: str) -> list[tuple[Run, str]]:
    """(run, prediction name) for each file the analyses read: `<split>_final` of every run of the
    used populations and, where the manifest lists them, train_final (A5) and the dense runs'
    train_epoch1 (EL2N)."""
    reads = []
    for key in used:
        optional = ("train_final", "train_epoch1") if key.is_dense else ("train_final",)
        for run in populations[key]:
            names = [f"{split}_final", *(n for n in optional if n in run.manifest.predictions)]
            reads += [(run, name) for name in dict.fromkeys(names)]
    return reads


def exclude_runs(populations, used: list[PopulationKey], excluded: list[BadFile], min_seeds: int, option: str,
                 fix: str) -> dict[PopulationKey, list[Run]]:
    """The populations without the excluded runs (identify_pies --skip-bad: files that failed
    their checks; --exclude-degenerate: degenerate models), grouped again with min_seeds; refuses
    a used population that the exclusion leaves with fewer seeds, saying how to `fix` it."""
    bad = {Path(b.run) for b in excluded}
    for file in excluded:
        log.warning("excluding run %s (%s): %s: %s", file.run, option, file.file, file.reason)
    kept = {key: [r for r in runs if r.directory not in bad] for key, runs in populations.items()}
    short = [f"{key.label()} ({len(kept[key])} of {len(populations[key])})" for key in used if len(kept[key]) < min_seeds]
    if short:
        listing = "\n".join(f"  {b.run / b.file}: {b.reason}" for b in excluded)
        raise PopulationError(
            f"after {option} excluded {len(bad)} run(s), population(s) {', '.join(short)} have fewer than "
            f"min_seeds={min_seeds} seeds left; {fix} or lower --min-seeds. Excluded:\n{listing}"
        )
    return group_populations([r for runs in kept.values() for r in runs], min_seeds)


class PopulationReader:
    """Each population's arrays of one prediction file (pie.runs.derived, its files checked and
    derived already), read once and kept until dropped, so that a pair's analyses and its dense
    population's other pairs share one read."""

    def __init__(self, populations: dict[PopulationKey, list[Run]], arrays: RunArrays):
        self.populations, self.arrays = populations, arrays
        self.loaded: dict[tuple[PopulationKey, str], PopulationLogits] = {}

    def __getstate__(self) -> dict:
        """A copy for another process (a worker started by spawn, not fork) reads for itself."""
        return {**self.__dict__, "loaded": {}}

    def __call__(self, key: PopulationKey, name: str) -> PopulationLogits:
        if (key, name) not in self.loaded:
            self.loaded[(key, name)] = self.arrays.population(self.populations[key], name)
        return self.loaded[(key, name)]

    def identity(self, key: PopulationKey, name: str) -> tuple:
        """What reading this population's `name` arrays gives, by file checksums (RunArrays.identity)."""
        return self.arrays.identity(self.populations[key], name)

    def pair(self, dense: PopulationKey, pruned: PopulationKey, name: str) -> tuple[PopulationLogits, PopulationLogits]:
        """Both populations' logits of one file, which must cover the same examples."""
        pair = self(dense, name), self(pruned, name)
        if not pair[0].same_examples(pair[1]):
            raise PopulationError(f"{dense.label()} and {pruned.label()} predict different examples in {name}; a pair must share one dataset")
        return pair

    def optional(self, read, *args):
        """`read(*args)` (self or self.pair) for a file the analyses can do without: None, with a
        warning, when a run did not log it."""
        try:
            return read(*args)
        except BadPredictionFile as error:
            log.warning("an analysis that needs %s is skipped: %s", args[-1], error)
            return None

    def drop(self, key: PopulationKey, *names: str) -> None:
        """Forget these files of a population (its last analysis has read them)."""
        for name in names:
            self.loaded.pop((key, name), None)
