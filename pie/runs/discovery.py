"""Find runs under sweep directories (or globs) and load a population's logits from them."""

from __future__ import annotations

import glob
import hashlib
import logging
import os
import pickle
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np
import pyarrow as pa

from pie.atomic import atomic_path
from pie.errors import UserError
from pie.hashing import code_version
from pie.runs.identity import stored_run_key
from pie.pies.task import Task, task_of
from pie.runs.manifest import BadRun, Run, read_manifest
from pie.runs.paths import MANIFEST, RUN_FOLDERS
from pie.runs.predictions import locate, read_predictions

log = logging.getLogger(__name__)


class NoRuns(UserError, FileNotFoundError):
    """A sweep directory or glob that matches nothing, or holds no runs of the kind asked for."""


@dataclass(frozen=True)
class Discovery:
    complete: list[Run]  # one per run key
    incomplete: list[Path]
    duplicates: dict[Path, Path] = field(default_factory=dict)  # a complete run's directory -> the same run's kept directory


def discover(patterns: Sequence[str], cache_dir: str | os.PathLike | None = None) -> Discovery:
    """Every run directory (one holding a manifest) under the given directories or globs. Complete
    runs with the same run key (e.g. the dense run of a sweep over methods, stored once under each
    method by an older pie) are one run: the first directory is kept, the others listed. With a
    `cache_dir`, complete runs' manifests are read through its ManifestIndex."""
    directories: list[Path] = []
    for pattern in patterns:
        matches = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]
        matches = [Path(m) for m in matches if Path(m).is_dir()]
        if not matches:
            raise NoRuns(f"no sweep directory matches {pattern!r}; check the path (a sweep is multirun/<name>)")
        directories += matches
    found = {run for d in directories for run in _run_directories(d)}
    manifests = [Path(run) for run in sorted(found, key=lambda run: run.split(os.sep))]  # in Path order
    if not manifests:
        raise NoRuns(f"no run manifests ({MANIFEST}) under {', '.join(patterns)}; is that a sweep directory of train.py or prune.py?")
    complete, incomplete = (ManifestIndex(cache_dir) if cache_dir is not None else _Unindexed()).read(manifests)
    kept: dict[str, Run] = {}
    duplicates: dict[Path, Path] = {}
    for run, run_key in complete:
        first = kept.setdefault(run_key, run)
        if first is not run:
            duplicates[run.directory] = first.directory
    if duplicates:
        log.info("%d run(s) are the same run as another directory and are read once, e.g. %s = %s",
                 len(duplicates), *next(iter(duplicates.items())))
    return Discovery(complete=list(kept.values()), incomplete=incomplete, duplicates=duplicates)


class _Unindexed:
    """Every manifest parsed and keyed."""

    def read(self, directories: Sequence[Path]) -> tuple[list[tuple[Run, str]], list[Path]]:
        """(the complete runs with their run keys, the other run directories), in the given order."""
        complete, incomplete = [], []
        for directory in directories:
            run = self._run(directory)
            if run is None:
                incomplete.append(directory)
            else:
                complete.append(run)
        return complete, incomplete

    def _run(self, directory: Path) -> tuple[Run, str] | None:
        try:
            manifest = read_manifest(directory)
        except BadRun as error:
            log.warning("ignoring %s: %s", directory, error)
            return None
        return (Run(directory, manifest), stored_run_key(manifest)) if manifest.complete else None


class ManifestIndex(_Unindexed):
    """Complete runs' manifests, parsed and with their run keys, kept under <cache dir>/manifests-v1/
    in one file per folder of run directories (a sweep, or a population's folder), each entry valid
    while its manifest.json keeps its size, mtime, ctime and inode (a manifest is rewritten by
    rename, so a rewrite always changes them); so that identify_pies parses only the manifests
    written since it last ran. The paper's grid: 9,840 manifests, 1.1-1.2 s parsed and keyed,
    0.6 s through the index. A file written by other code (pie/runs, pie/hashing.py) or unreadable is
    ignored and written again; writes are atomic, and deleting the folder is always safe."""

    VERSION = 1

    def __init__(self, cache_dir: str | os.PathLike):
        self.root = os.path.join(os.fspath(cache_dir), f"manifests-v{self.VERSION}")
        self.code = code_version(("runs", "hashing.py"))

    def _file(self, folder: str) -> str:
        digest = hashlib.sha256(folder.encode()).hexdigest()
        return os.path.join(self.root, digest[:2], f"{digest}.pickle")

    def _entries(self, folder: str) -> dict:
        """Run directory name -> (manifest stat, Manifest, run key), as stored for `folder`."""
        try:
            with open(self._file(folder), "rb") as handle:
                code, entries = pickle.load(handle)
        except Exception:  # a damaged or foreign file is a miss, like an absent one
            return {}
        return entries if code == self.code and isinstance(entries, dict) else {}

    def read(self, directories: Sequence[Path]) -> tuple[list[tuple[Run, str]], list[Path]]:
        stored: dict[str, dict] = {}
        current: dict[str, dict] = defaultdict(dict)  # folder -> this call's entries of its complete runs
        complete, incomplete, changed = [], [], set()
        for directory in directories:
            folder, name = os.path.split(os.fspath(directory))
            if folder not in stored:
                stored[folder] = self._entries(folder)
            try:
                found = os.stat(os.path.join(folder, name, MANIFEST))
                stamp = (found.st_size, found.st_mtime_ns, found.st_ctime_ns, found.st_ino)
            except OSError:
                stamp = None
            entry = stored[folder].get(name)
            if entry is not None and stamp is not None and entry[0] == stamp:
                run = Run(directory, entry[1]), entry[2]
            else:
                run = self._run(directory)
                if run is None:
                    incomplete.append(directory)
                    continue
                changed.add(folder)
            complete.append(run)
            current[folder][name] = (stamp, run[0].manifest, run[1])
        for folder, entries in current.items():
            if folder in changed or entries.keys() != stored[folder].keys():
                try:
                    with atomic_path(self._file(folder)) as tmp:
                        tmp.write_bytes(pickle.dumps((self.code, entries), protocol=5))
                except OSError as error:  # a cache that cannot be written costs time, not results
                    log.warning("cannot keep the manifests of %s in %s (%s); they are parsed again next time", folder,
                                self.root, error)
        return complete, incomplete


def _run_directories(top: Path) -> Iterator[str]:
    """The directories under `top` (itself included) that hold a manifest, resolved, as
    `{p.parent.resolve() for p in top.rglob(MANIFEST)}` finds them but as strings and without
    entering a run's own folders (predictions, checkpoints, logs: no run is written there).
    Symlinked directories below `top` are not entered, so only `top` needs resolving."""
    for root, directories, files in os.walk(top.resolve()):
        if MANIFEST in files or MANIFEST in directories:
            yield root
            directories[:] = [d for d in directories if d not in RUN_FOLDERS]


def find_dense_run(source: str, seed: int) -> Run:
    """The complete dense run with this seed under `source` (a directory or glob); a clear error otherwise."""
    found = discover([source])
    dense = [r for r in found.complete if r.manifest.is_dense and r.seed == seed]
    if len(dense) == 1:
        return dense[0]
    if not dense:
        waiting = [str(d) for d in found.incomplete]
        hint = f"; incomplete runs there: {', '.join(waiting[:3])}" if waiting else ""
        raise NoRuns(f"no complete dense run with seed={seed} under {source}{hint}; train it first (python train.py -m seed=...) "
                     "or choose seeds that exist there")
    raise NoRuns(f"{len(dense)} complete dense runs with seed={seed} under {source}: {[str(r.directory) for r in dense]}; "
                 "point source= at one dense sweep")


def find_pruned_run(source: str, method: str, sparsity: float, seed: int) -> Run:
    """The complete run of population (method, sparsity) with this seed under `source`, for
    recover.py; a clear error naming the populations there otherwise."""
    found = discover([source])
    pruned = [r for r in found.complete if not r.manifest.is_dense]
    matches = [r for r in pruned if r.manifest.pruning.method == method and r.manifest.sparsity == round(float(sparsity), 6)
               and r.seed == seed]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        there = sorted({f"method={r.manifest.pruning.method} sparsity={r.manifest.sparsity:g}" for r in pruned})
        raise NoRuns(f"no complete run of method={method} sparsity={sparsity:g} seed={seed} under {source} "
                     f"(pruned populations there: {'; '.join(there) or 'none'}); train it first or choose one of those")
    raise NoRuns(f"{len(matches)} complete runs of method={method} sparsity={sparsity:g} seed={seed} under {source}: "
                 f"{[str(r.directory) for r in matches]}; point source= at one sweep")


def dense_runs_like(source: str, run: Run) -> list[Run]:
    """The complete dense runs under `source` of `run`'s data and model setup (its dense
    population), by seed."""
    found = discover([source])
    key = run.manifest.population_key.dense_key
    return sorted((r for r in found.complete if r.manifest.population_key == key
                   and r.manifest.dataset.fingerprint == run.manifest.dataset.fingerprint), key=lambda r: r.seed)


@dataclass(frozen=True)
class PopulationLogits:
    """A population's logits of one prediction file, or what the analyses derive from them
    (pie.runs.derived), models in seed order; the arrays not read are None."""

    seeds: np.ndarray  # int[M]
    ids: pa.Array  # string[N]
    labels: np.ndarray  # int64[N], or multi-hot int8[N, C]
    thresholds: np.ndarray  # float64[M]: each model's multi-label decision threshold (NaN if none)
    classes: int
    logits: np.ndarray | None = None  # float32[M, N, C]
    decisions: np.ndarray | None = None  # int64[M, N] classes, or bool[M, N, C] multi-label decisions
    losses: np.ndarray | None = None  # float64[M, N]
    el2n: np.ndarray | None = None  # float32[M, N]: EL2N norms

    @property
    def example_ids(self) -> np.ndarray:
        """str[N] as a numpy object array."""
        return np.asarray(self.ids.to_pylist(), dtype=object)

    @property
    def task(self) -> Task:
        return task_of(self.labels)

    def same_examples(self, other: "PopulationLogits") -> bool:
        return self.ids.equals(other.ids)


def same_data(runs: Sequence[Run], name: str, ids: Sequence[pa.Array], labels: Sequence[np.ndarray]) -> None:
    """Raise BadRun unless every run lists the first run's example ids and gold labels."""
    for run, run_ids, run_labels in zip(runs[1:], ids[1:], labels[1:]):
        if not run_ids.equals(ids[0]):
            raise BadRun(
                f"runs {runs[0].directory} and {run.directory} predict different example ids "
                f"for {name}; a population must share one dataset (check dataset.* settings)"
            )
        if not np.array_equal(run_labels, labels[0]):
            raise BadRun(f"runs {runs[0].directory} and {run.directory} disagree on gold labels for {name}")


def load_logits(runs: Iterable[Run], name: str) -> PopulationLogits:
    """Stack the `name` prediction files (e.g. "test_final") of runs into [M, N, C].

    Every file is checked against its manifest (checksum, shape, example ids); every run must list
    the same example ids in the same order, with the same gold labels. Files are read on a few
    threads (Arrow and hashing release the GIL).
    """
    runs = sorted(runs, key=lambda r: r.seed)
    if not runs:
        raise ValueError("cannot load an empty population")
    with ThreadPoolExecutor(max_workers=4) as pool:
        loaded = list(pool.map(lambda run: read_predictions(*locate(run, name)), runs))
    same_data(runs, name, [p.ids for p in loaded], [p.labels for p in loaded])
    reference = loaded[0]
    return PopulationLogits(
        seeds=np.array([r.seed for r in runs]),
        ids=reference.ids,
        labels=reference.labels,
        logits=np.stack([p.logits for p in loaded]),
        thresholds=np.array([r.manifest.threshold_value for r in runs], dtype=np.float64),
        classes=reference.logits.shape[1],
    )
