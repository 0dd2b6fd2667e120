"""What the analyses derive from each prediction file (the logits, each model's decisions, losses
and EL2N norms), computed once per file and cached by the checksum its manifest records, so that
rerunning identify_pies (another option, one more population) reads small arrays instead of
hashing, decoding and deriving every file again.

Cache layout under <cache dir>/runs-v<VERSION>/ (PIE_CACHE_DIR, default .cache/pie):

    <sha[:2]>/<sha256>-<fields>[-<conventions>][-tau<τ>].npy
                                                one record per example: its label and the fields
    ids/<ids_sha256>.parquet                    a split's example ids, stored once
    verified/<digest>                           empty: the file at this path, with this size, mtime
                                                and inode, passed its checks against this manifest record

A marker under verified/ vouches for an entry: it is created only once the entry's bytes are on
disk (an fsync each, or, with deferred=True, one sync of the cache's filesystem per batch of
checks), so a crash or power loss never leaves a marker beside an entry that was not written.

An entry is a pure function of its key, written atomically (write-then-rename), so concurrent
identify_pies processes never see half an entry and the last writer changes nothing. A file
whose stat changed is hashed and checked again (like git's index, a rewrite that keeps size and
mtime to the nanosecond goes unnoticed). Bump VERSION when a derivation (pie.pies.task's decide,
loss, el2n_norms) changes its numbers.
"""

from __future__ import annotations

import hashlib
import io
import math
import os
import threading
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from pie.atomic import atomic_path, sync_filesystem
from pie.pies.conventions import PIE, Conventions
from pie.pies.task import Task, task_of
from pie.runs.discovery import PopulationLogits, same_data
from pie.runs.manifest import PredictionRecord, Run, field_names
from pie.runs.predictions import KnownIds, ids_sha256, locate, read_predictions

VERSION = 1
FIELDS = ("logits", "decisions", "losses", "el2n")


def derive(task: Task, logits: np.ndarray, labels: np.ndarray, threshold: float, fields: Sequence[str]) -> dict[str, np.ndarray]:
    """One model's fields from its logits [N, C] (each computed as for a population of one)."""
    batch = logits[None]
    decisions = task.decide(batch, [threshold]) if "decisions" in fields else None  # the losses reuse them
    compute = {"logits": lambda: logits, "decisions": lambda: decisions[0],
               "losses": lambda: task.ratio_losses(batch, labels, decisions)[0], "el2n": lambda: task.el2n_norms(batch, labels)[0]}
    return {field: compute[field]() for field in fields}


_HEADERS: dict[bytes, tuple[np.dtype, tuple[int, ...]]] = {}  # an entry's .npy header -> its dtype and shape
READERS = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}  # .npy versions read here


def load_entry(path: str) -> np.ndarray:
    """np.load of a cache entry (read-only), each distinct .npy header parsed once per process: a
    population's entries share one, and np.load parses every header with ast.literal_eval, about
    half of loading an entry (0.116 -> 0.061 ms an entry, ~3 ms of a pair's 60). Raises ValueError
    for a file that is not a whole entry."""
    with open(path, "rb") as handle:
        data = handle.read()
    stream = io.BytesIO(data)
    version = np.lib.format.read_magic(stream)  # ValueError unless a .npy file
    if version not in READERS:  # version 3 (UTF-8 field names): np.save never writes it for our fields
        array = np.load(io.BytesIO(data))
        array.flags.writeable = False
        return array
    start = stream.tell() + (2 if version == (1, 0) else 4)  # the header follows its length
    end = start + int.from_bytes(data[stream.tell():start], "little")
    header = data[:end]
    known = _HEADERS.get(header)
    if known is None:
        shape, fortran, dtype = READERS[version](stream)
        if fortran or dtype.hasobject or stream.tell() != end:
            raise ValueError(f"{path}: not an entry (Fortran order, objects or an odd header)")
        known = _HEADERS.setdefault(header, (dtype, shape))
    dtype, shape = known
    return np.frombuffer(data, dtype=dtype, count=math.prod(shape), offset=end).reshape(shape)


def _stamp(path: Path) -> str:
    """The file's absolute path (run directories come resolved from discovery), size, mtime and inode."""
    stat = os.stat(path)
    return f"{os.path.abspath(path)}\0{stat.st_size}\0{stat.st_mtime_ns}\0{stat.st_ino}"


def _mark(marker: str) -> None:
    os.makedirs(os.path.dirname(marker), exist_ok=True)
    Path(marker).touch()


class RunArrays:
    """The cache of derived arrays, for the prediction files `fields` names: prediction name (e.g.
    "train_final") -> the fields the analyses need of it. `check` is pie.runs.validation's
    per-file check that also derives and caches; `population` stacks a population's entries.
    deferred=True: `check` writes entries without an fsync each and marks them only at `settle`,
    which syncs the cache's filesystem once (pie.runs.validation.check_files calls it after each
    batch): one dataset of the paper's grid, 5,040 files, derived in 0.93x the time."""

    def __init__(self, cache_dir: str | os.PathLike, fields: Mapping[str, Sequence[str]], conventions: Conventions = PIE,
                 deferred: bool = False):
        unknown = {f for wanted in fields.values() for f in wanted} - set(FIELDS)
        if unknown:
            raise ValueError(f"unknown derived fields {sorted(unknown)}; choose from {', '.join(FIELDS)}")
        self.root = os.path.join(os.fspath(cache_dir), f"runs-v{VERSION}")
        self.conventions = conventions
        self.fields = {name: tuple(sorted(set(wanted), key=FIELDS.index)) for name, wanted in fields.items()}
        self._ids: dict[str, pa.Array] = {}  # ids file key -> the example ids read from it
        self._known: dict[str, KnownIds] = {}  # ids_sha256 -> ids decoded and checked in this process
        self.deferred, self._unmarked = deferred, []  # markers of entries written since the last settle
        self._lock = threading.Lock()

    def __getstate__(self) -> dict:
        """A copy for another process (a worker started by spawn, not fork) starts with empty
        per-process caches and a lock of its own."""
        return {**self.__dict__, "_ids": {}, "_known": {}, "_unmarked": [], "_lock": None}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state, _lock=threading.Lock())

    # The cache's paths are strings, not pathlib.Path: a rerun builds three for each of ~20k files
    # (the paper's grid), and joining strings costs a third as much as Path's parsing.
    def _entry(self, run: Run, name: str, record: PredictionRecord) -> str:
        tau = run.manifest.threshold_value
        decided = {"decisions", "losses"} & set(self.fields[name])  # they follow the conventions (multi-label)
        suffix = f"-{self.conventions.name}" if decided else ""
        suffix += "" if math.isnan(tau) or "decisions" not in self.fields[name] else f"-tau{tau!r}"
        return os.path.join(self.root, record.sha256[:2], f"{record.sha256}-{'+'.join(self.fields[name])}{suffix}.npy")

    def _ids_file(self, record: PredictionRecord) -> str:
        return os.path.join(self.root, "ids", f"{record.ids_sha256 or record.sha256}.parquet")

    def _marker(self, path: Path, record: PredictionRecord) -> str:
        fields = tuple(getattr(record, field) for field in field_names(type(record)))  # its fields are scalars
        digest = hashlib.sha256(f"{fields}\0{_stamp(path)}".encode()).hexdigest()
        return os.path.join(self.root, "verified", digest)

    def known(self, run: Run, name: str, path: Path, record: PredictionRecord) -> bool:
        """Whether the file passed its checks before with the same stat and its entry and ids file
        exist: then it is not read at all (a few stat calls, cheap enough for one thread)."""
        try:
            marker = self._marker(path, record)
        except FileNotFoundError:
            return False
        return os.path.exists(marker) and os.path.exists(self._entry(run, name, record)) and os.path.exists(self._ids_file(record))

    def check(self, run: Run, name: str, path: Path, record: PredictionRecord) -> None:
        """Raise BadPredictionFile as pie.runs.predictions.check_predictions; a `known` file is
        not read. Otherwise the file is read once: checked (its ids decoded only where their
        bytes differ from those of a file of the same ids hash checked before: KnownIds), its
        fields derived and cached, its stat marked (deferred: by `settle`)."""
        if self.known(run, name, path, record):
            return
        self._derive(run, name, path, record, durable=not self.deferred)
        marker = self._marker(path, record)
        if not self.deferred:
            _mark(marker)
            return
        with self._lock:
            self._unmarked.append(marker)

    def settle(self) -> None:
        """Mark what `check` derived since the last call, after one sync has put it on disk
        (deferred=True; otherwise each check marked its file already). A crash before the marks
        costs those files a second derivation, nothing else."""
        with self._lock:
            markers, self._unmarked = self._unmarked, []
        if markers:
            sync_filesystem(self.root)
            for marker in markers:
                _mark(marker)

    def _derive(self, run: Run, name: str, path: Path, record: PredictionRecord, durable: bool = True) -> None:
        """Read and check the file, derive its fields and write its entry and ids file (each
        fsynced unless not `durable`: then `settle` syncs them before anything vouches for them)."""
        with self._lock:
            known = self._known.get(record.ids_sha256)
        predictions = read_predictions(path, record, known)
        if record.ids_sha256 and known is None:
            with self._lock:
                self._known.setdefault(record.ids_sha256, KnownIds(predictions.ids, predictions.encoded_ids_sha256))
        task, labels = task_of(predictions.labels).using(self.conventions), predictions.labels
        arrays = derive(task, predictions.logits, labels, run.manifest.threshold_value, self.fields[name])
        if not task.multi_label:  # class indices, stored small and read back as int64
            small = np.int8 if record.classes < 128 else np.int64
            labels = labels.astype(small)
            if "decisions" in arrays:
                arrays["decisions"] = arrays["decisions"].astype(small)
        table = np.empty(len(labels), dtype=[("label", labels.dtype, labels.shape[1:]),
                                             *((field, a.dtype, a.shape[1:]) for field, a in arrays.items())])
        table["label"] = labels
        for field, values in arrays.items():
            table[field] = values
        with atomic_path(self._entry(run, name, record), durable) as tmp, open(tmp, "wb") as handle:
            np.save(handle, table)
        ids_file = self._ids_file(record)
        if not os.path.exists(ids_file):  # written once per ids hash (every run of a split shares it), not once per file
            with atomic_path(ids_file, durable) as tmp:
                pq.write_table(pa.table({"example_id": predictions.ids}), tmp)
            with self._lock:
                self._ids.pop(record.ids_sha256 or record.sha256, None)

    def _table(self, run: Run, name: str, record: PredictionRecord) -> np.ndarray:
        """A run's cached entry; one that is missing, unreadable or of another shape (a damaged
        cache) is derived again from its file, which is checked again."""
        try:
            table = load_entry(self._entry(run, name, record))
            if table.shape == (record.rows,) and table.dtype.names == ("label", *self.fields[name]):
                return table
        except (OSError, ValueError, EOFError):
            pass
        self._derive(run, name, *locate(run, name))
        return load_entry(self._entry(run, name, record))

    def _example_ids(self, run: Run, name: str, record: PredictionRecord) -> pa.Array:
        """The example ids of a run's file, read once per ids hash; a damaged ids file is written
        again from the prediction file (checked again)."""
        key = record.ids_sha256 or record.sha256
        with self._lock:
            if key in self._ids:
                return self._ids[key]
        try:
            ids = pq.read_table(self._ids_file(record)).column("example_id").combine_chunks()
            if len(ids) != record.rows or (record.ids_sha256 and ids_sha256(ids) != record.ids_sha256):
                raise ValueError("damaged")
        except (OSError, ValueError, pa.ArrowException):
            Path(self._ids_file(record)).unlink(missing_ok=True)  # damaged: written again from the prediction file
            self._derive(run, name, *locate(run, name))
            ids = pq.read_table(self._ids_file(record)).column("example_id").combine_chunks()
        with self._lock:
            return self._ids.setdefault(key, ids)

    def identity(self, runs: Sequence[Run], name: str) -> tuple:
        """What `population(runs, name)` is a function of, without reading a file: the fields and
        conventions, and per run in seed order its seed, its file's checksum (None where the
        manifest has no record of it) and its decision threshold."""
        records = [(run.seed, run.manifest.predictions.get(name), run.manifest.threshold_value)
                   for run in sorted(runs, key=lambda r: r.seed)]
        return (name, self.fields.get(name, ()), self.conventions.name,
                tuple((seed, record and record.sha256, repr(tau)) for seed, record, tau in records))

    def population(self, runs: Sequence[Run], name: str) -> PopulationLogits:
        """The `name` arrays of runs whose files passed `check`, stacked in seed order; every run
        must list the same example ids in the same order, with the same gold labels."""
        runs = sorted(runs, key=lambda r: r.seed)
        if not runs:
            raise ValueError("cannot load an empty population")
        records = [locate(run, name)[1] for run in runs]
        # One after another, not in threads: load_entry parses each new header with ast.literal_eval, which
        # Python 3.11 cannot run in two threads at once (CPython gh-106905, "AST constructor
        # recursion depth mismatch", seen once in CI); an entry is ~1 MB from the page cache.
        tables = [self._table(run, name, record) for run, record in zip(runs, records)]
        ids = [self._example_ids(run, name, record) for run, record in zip(runs, records)]
        same_data(runs, name, ids, [table["label"] for table in tables])
        labels = tables[0]["label"]
        stacked = {field: np.stack([table[field] for table in tables]) for field in self.fields[name]}
        if not task_of(labels).multi_label:
            labels = labels.astype(np.int64)
            if "decisions" in stacked:
                stacked["decisions"] = stacked["decisions"].astype(np.int64)
        return PopulationLogits(seeds=np.array([r.seed for r in runs]), ids=ids[0],
                                labels=np.ascontiguousarray(labels),
                                thresholds=np.array([r.manifest.threshold_value for r in runs], dtype=np.float64),
                                classes=records[0].classes, **stacked)
