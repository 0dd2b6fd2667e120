"""identify_pies' results cached by what they are a function of: a pair's analyses by every
input array, the options, the random streams' states and the analysis code; a plot by its table
rows and the plotting code. Rerunning identify_pies after more runs finish then computes only the
pairs whose inputs changed (one added population: its pair) and draws only the plots whose rows
changed; the same command again computes none. The outputs stay byte-identical, since a cached
result is the stored result of the same computation.

Layout under <cache dir>/<name>-v<VERSION>/ (PIE_CACHE_DIR, default .cache/pie):

    pairs-v1/<key[:2]>/<key>.pickle     the PairAnalyses of one pair (pickle, protocol 5, its arrays
                                        out of band: see _write)
    plots-v1/<key[:2]>/<key>.png        one plot's file

The key is a SHA-256 over the inputs' bytes (arrays by dtype, shape and contents; frames by
columns, dtypes and pandas' row hashes; texts one by one), the options, the generators' states,
and the code: the sources of the folders the memo names (pie/analysis, pie/pies and pie/data for
the analyses; pie/reporting for the plots) with the NumPy, pandas and Matplotlib versions, so that
editing that code invalidates every entry. An entry is written atomically; concurrent
identify_pies processes at most compute the same entry twice.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import hashlib
import importlib
import json
import mmap
import os
import pickle
import weakref
from pathlib import Path

import numpy as np
import pandas as pd

from pie.atomic import atomic_path
from pie.hashing import code_version

VERSION = 1
ANALYSES = ("analysis", "pies", "data")  # what a pair's analyses (and the texts they read) are computed by
PLOTS = ("reporting",)


def cache_folder() -> Path:
    """Where pie keeps what it derives and caches (derived arrays, manifests, results, plots,
    downloaded data): $PIE_CACHE_DIR, by default .cache/pie."""
    return Path(os.environ.get("PIE_CACHE_DIR", ".cache/pie"))


_SCALARS = frozenset({type(None), bool, int, float, str})


def _plain(value) -> str | None:
    """What _feed's general branches below feed for a scalar, or a tuple or list (nested or not)
    of scalars, as one text; None for anything else (and for a sequence of strings only, which
    they feed as texts)."""
    kind = type(value)
    if kind in _SCALARS:
        return f"{kind.__name__}:{value!r}\0"
    if kind is not tuple and kind is not list or value and all(type(item) is str for item in value):
        return None
    parts = [f"sequence:{len(value)}\0"]
    for item in value:
        part = _plain(item)
        if part is None:  # at the first item that is not plain: the caller feeds the items one by one
            return None
        parts.append(part)
    return "".join(parts)


def _feed(digest, value) -> None:
    """Add `value` to the digest, tagged by its kind so that different inputs cannot collide.
    Scalars and sequences of them come first, in one update: the same bytes as the general
    branches, at a fraction of their cost (a pair's key holds six populations' identities, each
    its runs' seeds, checksums and thresholds)."""
    plain = _plain(value)
    if plain is not None:
        digest.update(plain.encode())
        return
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        digest.update(f"{type(value).__name__}:{value!r}\0".encode())
    elif isinstance(value, np.ndarray):
        digest.update(f"array:{value.dtype.str}:{value.shape}\0".encode())
        digest.update(pd.util.hash_array(value.ravel()).tobytes() if value.dtype == object else np.ascontiguousarray(value).data)
    elif isinstance(value, pd.DataFrame):
        digest.update(f"frame:{list(value.columns)!r}:{[str(d) for d in value.dtypes]!r}\0".encode())
        digest.update(pd.util.hash_pandas_object(value.index).to_numpy().tobytes())
        for name in value.columns:
            column = value[name]
            _feed(digest, np.stack(column.to_numpy()) if _rows_of_arrays(column)
                  else pd.util.hash_pandas_object(column, index=False).to_numpy())
    elif isinstance(value, dict):
        digest.update(f"mapping:{len(value)}\0".encode())
        for name in sorted(value, key=str):
            _feed(digest, str(name)), _feed(digest, value[name])
    elif isinstance(value, (list, tuple)) and value and all(isinstance(item, str) for item in value):  # texts
        encoded = [item.encode() for item in value]
        digest.update(f"strings:{len(value)}\0".encode() + np.array([len(e) for e in encoded], dtype=np.int64).tobytes())
        digest.update(b"".join(encoded))
    elif isinstance(value, (list, tuple)):
        digest.update(f"sequence:{len(value)}\0".encode())
        for item in value:
            _feed(digest, item)
    elif isinstance(value, np.random.Generator):
        digest.update(("generator:" + json.dumps(value.bit_generator.state, sort_keys=True, default=str) + "\0").encode())
    elif dataclasses.is_dataclass(value):
        digest.update(f"{type(value).__qualname__}\0".encode())
        for field in dataclasses.fields(value):
            _feed(digest, getattr(value, field.name))
    elif hasattr(value, "conventions") and hasattr(value, "multi_label"):  # a task (pie.pies.task)
        digest.update(f"task:{value.name}:{value.conventions!r}\0".encode())
    else:
        raise TypeError(f"cannot key a cached analysis on a {type(value).__name__}")


def key_of(folders: tuple[str, ...], *inputs) -> str:
    """The cache key of a computation of `inputs` by the current code of `folders`."""
    digest = hashlib.sha256(f"v{VERSION}:{code_version(folders)}\0".encode())
    for value in inputs:
        _feed(digest, value)
    return digest.hexdigest()


@dataclasses.dataclass(frozen=True)
class Kept:
    """A result that a worker process stored in the cache under `key` instead of returning it (Memo.kept)."""

    key: str


class Memo:
    """Results by key under <cache dir>/<name>-v<VERSION>, computed by the code of `folders` (of
    pie/); `enabled=False` computes every time."""

    def __init__(self, cache_dir: str | os.PathLike, name: str = "pairs", folders: tuple[str, ...] = ANALYSES,
                 enabled: bool = True, suffix: str = ".pickle"):
        self.root = Path(cache_dir) / f"{name}-v{VERSION}"
        self.folders, self.enabled, self.suffix = folders, enabled, suffix

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}{self.suffix}"

    def get(self, key: str):
        """The result stored under `key`, or None (also for an entry that cannot be read)."""
        if not self.enabled:
            return None
        try:
            with collector_paused():
                return _read(self._path(key))
        except (OSError, EOFError, ValueError, pickle.UnpicklingError, AttributeError, ImportError):
            return None

    def put(self, key: str, result) -> None:
        if self.enabled:
            _write(self._path(key), result)

    def key(self, compute, *identity) -> str:
        """The key of compute's result on inputs that `identity` determines (e.g. the checksums
        of the files the inputs are read from, rather than the arrays themselves)."""
        return key_of(self.folders, _named(compute), *identity) if self.enabled else ""

    def stored(self, key: str, compute, *inputs):
        """compute(*inputs), stored under `key` (from `key`)."""
        result = compute(*inputs)
        self.put(key, result)
        return result

    def kept(self, key: str, compute, *inputs):
        """stored(), for a worker process (pie.parallel): with the cache on, only Kept(key)
        returns, and the caller maps the result from its entry (`get`) as a warm rerun does,
        rather than receiving it pickled through a pipe and holding an unpickled copy (~2 MB a
        pair): after the paper's grid's 320 pairs identify_pies' process held 1.10 GiB with the
        copies, 0.48 GiB with the entries mapped."""
        result = self.stored(key, compute, *inputs)
        return Kept(key) if self.enabled else result

    def computed(self, compute, *inputs):
        """compute(*inputs), from the cache when an identical computation was stored."""
        key = self.key(compute, *inputs)
        found = self.get(key)
        return self.stored(key, compute, *inputs) if found is None else found

    def produced(self, path: Path, produce, *inputs) -> Path:
        """The file `path` as produce(*inputs, path) writes it, copied from the cache when
        identical inputs were produced before. `produce` may be named ("module.function"), so
        that its module is imported only when a file is produced."""
        key = key_of(self.folders, _named(produce), path.name, *inputs) if self.enabled else ""
        stored = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        if self.enabled and stored.is_file():
            with atomic_path(path) as tmp:
                tmp.write_bytes(stored.read_bytes())
            return path
        if isinstance(produce, str):
            module, _, name = produce.rpartition(".")
            produce = getattr(importlib.import_module(module), name)
        produce(*inputs, path)
        if self.enabled:
            with atomic_path(stored) as tmp:
                tmp.write_bytes(path.read_bytes())
        return path


@contextlib.contextmanager
def collector_paused():
    """Python's cyclic garbage collector off for the block: unpickling a result allocates
    thousands of objects, and each collection it triggers walks every object identify_pies holds
    (at the paper's scale the 320 loads took 1.6 s with it, 0.9 s without)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@contextlib.contextmanager
def long_lived():
    """A block that keeps what it makes until it ends: each call of the `freeze` it yields takes
    every object made so far out of the collector's full passes (gc.freeze), and the block's end
    puts them back, so that what the caller drops afterwards is collected as usual. identify_pies
    keeps its runs' manifests and the pairs' results to the end: a warm rerun of the paper's grid
    spent 1.0-1.1 s in 7 full passes over them, 0.15 s in 3 with them frozen."""
    try:
        yield gc.freeze
    finally:
        gc.unfreeze()


MAPPED = b"pie-memo\x01"  # the start of an entry written by _write
ALIGN = 64  # each part of an entry starts at a multiple of this (arrays stay aligned)


def _write(path: Path, obj) -> None:
    """obj pickled with its arrays' buffers out of band (protocol 5), so that _read maps them
    rather than copies them: MAPPED, the header's length (8 bytes, little-endian), the header (a
    pickled list of the parts' sizes), then the pickle and each buffer, each at an ALIGN offset.
    A pair's result is ~2 MB, mostly its PIE table's columns; the 320 of the paper's grid loaded
    in 0.56-0.81 s pickled in band, 0.35-0.37 s mapped."""
    buffers = []
    data = pickle.dumps(obj, protocol=5, buffer_callback=buffers.append)
    parts = [memoryview(data), *(buffer.raw() for buffer in buffers)]
    header = pickle.dumps([part.nbytes for part in parts], protocol=5)
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        handle.write(MAPPED + len(header).to_bytes(8, "little") + header)
        for part in parts:
            handle.write(bytes(-handle.tell() % ALIGN))
            handle.write(part)


_LIVE_MAPS: weakref.WeakSet = weakref.WeakSet()  # the entries mapped in this process that are still in use


def _map_budget() -> int:
    """How many entries may be mapped at once: a map holds a file descriptor until the last array
    on it is freed, so at most a quarter of the process's open-file limit (256 of Linux's usual
    1,024); entries beyond it are read into memory."""
    try:
        import resource
    except ImportError:  # not a Unix
        return 256
    limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return 1 << 20 if limit == resource.RLIM_INFINITY else limit // 4


def _read(path: Path):
    """What _write stored at `path`, its arrays read-only views of the mapped file, or of the
    file's bytes beyond _map_budget (an entry of an earlier pie, one pickle, is read as it was
    written); raises ValueError for a damaged one."""
    with open(path, "rb") as handle:
        if handle.read(len(MAPPED)) != MAPPED:
            handle.seek(0)
            return pickle.load(handle)
        if len(_LIVE_MAPS) < _map_budget():
            mapped = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
            _LIVE_MAPS.add(mapped)
            view = memoryview(mapped)
        else:
            handle.seek(0)
            view = memoryview(handle.read())
    start = len(MAPPED) + 8
    end = start + int.from_bytes(view[len(MAPPED):start], "little")
    parts = []
    for size in pickle.loads(view[start:end]):
        end += -end % ALIGN
        parts.append(view[end:end + size])
        end += size
    if end != len(view):  # cut short (or longer than written): every part's bounds are those it was written with otherwise
        raise ValueError(f"{path} is damaged")
    return pickle.loads(parts[0], buffers=parts[1:])


def dumps(obj) -> bytes:
    """obj pickled as the memo stores it (protocol 5: NumPy and Arrow buffers in one copy)."""
    return pickle.dumps(obj, protocol=5)


def _rows_of_arrays(column: pd.Series) -> bool:
    values = column.to_numpy()
    if column.dtype != object or not len(values) or not all(isinstance(v, np.ndarray) for v in values):
        return False
    first = values[0]
    return all(v.shape == first.shape and v.dtype == first.dtype for v in values)


def _named(function) -> str:
    return function if isinstance(function, str) else f"{function.__module__}.{function.__qualname__}"
