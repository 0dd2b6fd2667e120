"""identify_pies' incremental reruns and worker processes change no number: a pair's analyses
and a plot are cached by what they are a function of (pie.memo), and pairs run in any number of
processes (pie.parallel) give the same tables in the same order."""

import io
import time

import numpy as np
import pandas as pd
import pytest

from pie.analysis.options import AnalysisOptions
from pie.identify import identify
from pie.analysis.summary import vote_lists
from pie.memo import PLOTS, Memo, dumps, key_of
from pie.parallel import Ready, in_order
from pie.reporting.outputs import _setup_frames
from pie.reporting.tables import write_table
from test_bad_runs import write_run

FOLDERS = ("analysis",)


def _frame():
    votes = np.array([[3, 0, 1], [0, 4, 0]], dtype=np.int64)
    return pd.DataFrame({"example_id": np.array(["a", "b"], dtype=object), "dense_votes": list(votes),
                         "is_pie": [True, False]})


def test_keys_follow_every_input():
    array, rng = np.arange(6, dtype=np.int64).reshape(2, 3), np.random.default_rng([0, 1])
    base = key_of(FOLDERS, array, _frame(), ["one text", "two"], AnalysisOptions(), rng, {"b": 1, "a": [1, 2]})
    assert base == key_of(FOLDERS, array.copy(), _frame(), ["one text", "two"], AnalysisOptions(), np.random.default_rng([0, 1]),
                          {"a": [1, 2], "b": 1})
    changed = array.copy()
    changed[1, 2] = 7
    frame = _frame()
    frame.loc[1, "is_pie"] = True
    others = [
        (changed, _frame(), ["one text", "two"], AnalysisOptions(), rng, {"b": 1, "a": [1, 2]}),
        (array.astype(np.int32), _frame(), ["one text", "two"], AnalysisOptions(), rng, {"b": 1, "a": [1, 2]}),
        (array.reshape(3, 2), _frame(), ["one text", "two"], AnalysisOptions(), rng, {"b": 1, "a": [1, 2]}),
        (array, frame, ["one text", "two"], AnalysisOptions(), rng, {"b": 1, "a": [1, 2]}),
        (array, _frame(), ["one tex", "ttwo"], AnalysisOptions(), rng, {"b": 1, "a": [1, 2]}),  # same characters, split elsewhere
        (array, _frame(), ["one text", "two"], AnalysisOptions(tie="highest"), rng, {"b": 1, "a": [1, 2]}),
        (array, _frame(), ["one text", "two"], AnalysisOptions(), np.random.default_rng([0, 2]), {"b": 1, "a": [1, 2]}),
        (array, _frame(), ["one text", "two"], AnalysisOptions(), rng, {"b": 2, "a": [1, 2]}),
    ]
    keys = {key_of(FOLDERS, *inputs) for inputs in others}
    assert base not in keys and len(keys) == len(others)
    assert key_of(("analysis", "pies"), array) != key_of(FOLDERS, array)  # the code is part of the key
    with pytest.raises(TypeError, match="cannot key"):
        key_of(FOLDERS, object())


def test_a_keys_bytes_stay_those_of_earlier_caches():
    """Scalars and sequences are fed as they always were (a shortcut for sequences of scalars
    feeds the same bytes), so that entries cached before stay found."""
    import hashlib

    from pie.hashing import code_version
    from pie.memo import VERSION

    fed = ("sequence:2\0sequence:4\0int:1\0str:'ab'\0NoneType:None\0float:2.5\0"
           "sequence:2\0strings:2\0".encode() + np.array([1, 2], dtype=np.int64).tobytes() + b"xyz" + "bool:True\0".encode())
    assert key_of(FOLDERS, ((1, "ab", None, 2.5), (["x", "yz"], True))) == \
        hashlib.sha256(f"v{VERSION}:{code_version(FOLDERS)}\0".encode() + fed).hexdigest()
    nested = "sequence:3\0sequence:2\0str:'a'\0int:1\0sequence:1\0sequence:2\0int:2\0NoneType:None\0sequence:0\0"
    assert key_of(FOLDERS, (("a", 1), ((2, None),), ())) == \
        hashlib.sha256(f"v{VERSION}:{code_version(FOLDERS)}\0{nested}".encode()).hexdigest()


def test_vote_lists_write_the_parquet_bytes_of_numpy_rows_and_survive_the_memo(tmp_path):
    """The PIE table's votes, held as one Arrow list array (vote_lists), write the same Parquet
    file as the NumPy rows they were before, also after a pickle round trip (the memo, a worker),
    and read back as those NumPy rows."""
    rows, lists = _frame(), _frame().assign(dense_votes=vote_lists(np.array([[3, 0, 1], [0, 4, 0]], dtype=np.int64)))
    back = pd.read_pickle(io.BytesIO(dumps(lists)))
    assert back["dense_votes"].tolist() == [[3, 0, 1], [0, 4, 0]]
    written = [write_table(frame, tmp_path / f"{i}.parquet") for i, frame in enumerate((rows, lists, back))]
    assert written[0].read_bytes() == written[1].read_bytes() == written[2].read_bytes()
    read = pd.read_parquet(written[1])
    assert all(isinstance(v, np.ndarray) and v.dtype == np.int64 for v in read["dense_votes"])
    assert [v.tolist() for v in read["dense_votes"]] == [[3, 0, 1], [0, 4, 0]]
    assert read.drop(columns="dense_votes").equals(pd.read_parquet(written[0]).drop(columns="dense_votes"))


def test_a_memo_computes_once_and_recomputes_a_damaged_entry(tmp_path):
    calls = []

    def compute(x):
        calls.append(x)
        return {"double": 2 * x}

    memo = Memo(tmp_path, "test", FOLDERS)
    assert memo.computed(compute, 3) == memo.computed(compute, 3) == {"double": 6}
    assert calls == [3]
    assert memo.computed(compute, 4) == {"double": 8} and calls == [3, 4]
    (entry,) = [p for p in (tmp_path / "test-v1").rglob("*.pickle") if memo.key(compute, 3) in p.name]
    entry.write_bytes(entry.read_bytes()[:10])  # truncated by a crash of another writer
    assert memo.computed(compute, 3) == {"double": 6} and calls == [3, 4, 3]
    off = Memo(tmp_path, "test", FOLDERS, enabled=False)
    assert off.computed(compute, 3) == {"double": 6} and calls == [3, 4, 3, 3]


def test_an_entry_maps_its_arrays_and_earlier_entries_still_read(tmp_path, monkeypatch):
    """A stored result comes back equal, its arrays aligned read-only views of the entry's file
    (or of its bytes, where no more file descriptors may be held); an entry as earlier pie
    versions wrote it (one pickle) is read too; one cut short is a miss."""
    import gc
    import pickle

    import pie.memo as memo_module

    memo = Memo(tmp_path, "test", FOLDERS)
    frame = _frame().assign(score=[0.5, 0.25], name=pd.array(["x", "y"], dtype="string[pyarrow]"))
    result = {"frame": frame, "array": np.arange(7, dtype=np.float64), "empty": np.zeros(0, dtype=np.int8), "n": 3}
    memo.put("k1", result)
    before = len(memo_module._LIVE_MAPS)
    back = memo.get("k1")
    assert len(memo_module._LIVE_MAPS) == before + 1  # one descriptor held while the result is in use
    assert back.keys() == result.keys() and back["n"] == 3 and back["empty"].shape == (0,)
    assert np.array_equal(back["array"], result["array"]) and not back["array"].flags.writeable and back["array"].flags.aligned
    assert back["array"].ctypes.data % 64 == 0
    pd.testing.assert_frame_equal(back["frame"], frame)
    assert back["frame"]["score"].sum() == 0.75  # a read-only column computes as any other
    del back
    gc.collect()
    assert len(memo_module._LIVE_MAPS) == before  # and released with it
    path = memo._path("k2")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(result, protocol=5))
    assert np.array_equal(memo.get("k2")["array"], result["array"])
    monkeypatch.setattr(memo_module, "_map_budget", lambda: 0)  # no descriptors to spare: read, not mapped
    read = memo.get("k1")
    assert not read["array"].flags.writeable and np.array_equal(read["array"], result["array"])
    pd.testing.assert_frame_equal(read["frame"], frame)
    stored = memo._path("k1").read_bytes()
    for cut in (stored[:-1], stored[:len(stored) // 2], stored + b"\0"):
        memo._path("k1").write_bytes(cut)
        assert memo.get("k1") is None


def test_a_produced_file_is_copied_from_the_memo(tmp_path):
    drawn = []

    def draw(rows, path):
        drawn.append(len(rows))
        path.write_bytes(b"png:" + str(len(rows)).encode())
        return path

    memo = Memo(tmp_path / "cache", "plots", FOLDERS, suffix=".png")
    first = memo.produced(tmp_path / "a" / "x.png", draw, _frame())
    again = memo.produced(tmp_path / "b" / "x.png", draw, _frame())
    assert drawn == [2] and first.read_bytes() == again.read_bytes() == b"png:2"
    memo.produced(tmp_path / "c" / "x.png", draw, _frame().head(1))
    assert drawn == [2, 1]


def _square(x):
    if x < 0:
        raise ValueError("negative")
    return x * x


@pytest.mark.parametrize("workers", [1, 2])
def test_results_come_in_submission_order(workers):
    items = [("a", (3,)), ("b", Ready("known")), ("c", (4,)), ("d", (5,)), ("e", Ready(None)), ("f", (6,))]
    assert list(in_order(iter(items), _square, workers)) == [("a", 9), ("b", "known"), ("c", 16), ("d", 25), ("e", None), ("f", 36)]
    with pytest.raises(ValueError, match="negative"):
        list(in_order(iter([("a", (2,)), ("b", (-1,))]), _square, workers))


def _slow_square(x):
    time.sleep(0.3)
    return x * x


def test_the_caller_uses_its_wait_for_a_worker_once_and_only_when_it_waits():
    calls = []
    items = [("a", Ready(1)), ("b", (3,)), ("c", (4,))]
    assert list(in_order(iter(items), _slow_square, 2, idle=lambda: calls.append("idle"))) == [("a", 1), ("b", 9), ("c", 16)]
    assert calls == ["idle"]
    assert list(in_order(iter([("a", Ready(1)), ("b", Ready(2))]), _slow_square, 2, idle=lambda: calls.append("idle"))) == [
        ("a", 1), ("b", 2)]
    assert calls == ["idle"]  # nothing computed, nothing waited for


def _blas_threads() -> int:
    from threadpoolctl import threadpool_info

    return max((pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"), default=1)


def test_worker_processes_run_blas_on_one_thread():
    """The workers are the parallelism: BLAS threads on top of them would oversubscribe the CPUs."""
    assert [threads for _, threads in in_order(iter([("a", ()), ("b", ()), ("c", ())]), _blas_threads, 2)] == [1, 1, 1]


def _after(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def _counted(items, taken: list):
    for item in items:
        taken.append(item[0])
        yield item


def test_known_results_are_taken_while_a_worker_computes():
    """Ready values (e.g. cached analyses) do not count toward the jobs in flight: while the first
    job runs, the caller takes every later item up to the next bound, not 2 x workers of them."""
    taken: list = []
    items = [("slow", (1.0,)), *((f"known{i}", Ready(i)) for i in range(10)), ("last", (0.0,))]
    results = in_order(_counted(items, taken), _after, 2)
    assert next(results) == ("slow", 1.0) and len(taken) == 12
    assert [tag for tag, _ in results] == [f"known{i}" for i in range(10)] + ["last"]


def test_jobs_in_flight_stay_within_the_bound():
    taken: list = []
    results = in_order(_counted([(f"job{i}", (0.2,)) for i in range(6)], taken), _after, 2, ahead=2)
    assert next(results) == ("job0", 0.2) and len(taken) == 3  # the third job exceeded the bound: the first was awaited
    assert len(list(results)) == 5


@pytest.fixture
def sweep(tmp_path):
    for method, sparsity in [("dense", 0.0), ("imp", 0.5), ("imp", 0.9)]:
        for seed in range(3):
            write_run(tmp_path / "sweep", method, sparsity, seed)
    return tmp_path / "sweep"


def _tables(out):
    return {p.relative_to(out): p.read_bytes() for p in sorted(out.rglob("*")) if p.suffix in (".csv", ".parquet")}


def test_workers_and_the_memo_change_no_table(sweep, tmp_path, monkeypatch):
    kwargs = dict(min_seeds=3, with_texts=False, cache_dir=tmp_path / "cache")
    identify([str(sweep)], tmp_path / "plain", **kwargs)
    identify([str(sweep)], tmp_path / "parallel", workers=2, cache=True, **kwargs)
    expected = _tables(tmp_path / "plain")
    assert len(expected) > 20 and _tables(tmp_path / "parallel") == expected
    assert len(list((tmp_path / "cache" / "pairs-v1").rglob("*.pickle"))) == 3  # two pairs and the dense row

    def fails(*args, **kwargs):
        raise AssertionError("a pair was analysed again")

    monkeypatch.setattr(Memo, "stored", fails)  # where a pair (or a dense row) would be computed
    monkeypatch.setattr("pie.reporting.plots.pie_percent", fails)
    identify([str(sweep)], tmp_path / "warm", cache=True, **kwargs)
    assert _tables(tmp_path / "warm") == expected
    assert {p.name for p in (tmp_path / "warm" / "plots").iterdir()} == {p.name for p in (tmp_path / "plain" / "plots").iterdir()}
    with pytest.raises(AssertionError, match="analysed again"):  # another tie rule is another computation
        identify([str(sweep)], tmp_path / "tie", cache=True, options=AnalysisOptions(tie="highest"), **kwargs)


@pytest.mark.parametrize("entry", ["readable", "gone"])
def test_a_workers_result_comes_back_through_the_cache(sweep, tmp_path, monkeypatch, entry):
    """With the cache on, a worker stores a pair's result and returns only its key (Memo.kept);
    identify_pies maps the entry, as a warm rerun does. An entry that cannot be read back (removed
    meanwhile) is computed again in identify_pies' own process. The tables are those of one
    process without a cache; with the cache off the results come through the pipe."""
    import pie.identify

    kwargs = dict(min_seeds=3, with_texts=False)
    identify([str(sweep)], tmp_path / "plain", cache_dir=tmp_path / "plain-cache", **kwargs)
    received, real = [], pie.identify._received

    def recorded(memo, result, *rest):
        received.append(type(result).__name__)
        return real(memo, result, *rest)

    monkeypatch.setattr(pie.identify, "_received", recorded)
    if entry == "gone":
        monkeypatch.setattr(Memo, "get", lambda memo, key: None)
    identify([str(sweep)], tmp_path / "kept", workers=2, cache=True, cache_dir=tmp_path / "cache", **kwargs)
    assert received == ["Kept", "Kept"] and _tables(tmp_path / "kept") == _tables(tmp_path / "plain")
    received.clear()
    identify([str(sweep)], tmp_path / "piped", workers=2, cache=False, cache_dir=tmp_path / "cache", **kwargs)
    assert received == ["PairAnalyses", "PairAnalyses"] and _tables(tmp_path / "piped") == _tables(tmp_path / "plain")


def test_one_more_population_analyses_only_its_pair(sweep, tmp_path, monkeypatch):
    kwargs = dict(min_seeds=3, with_texts=False, cache_dir=tmp_path / "cache", cache=True)
    identify([str(sweep)], tmp_path / "before", **kwargs)
    for seed in range(3):
        write_run(sweep, "imp", 0.7, seed)
    analysed = []
    original = Memo.stored

    def counted(memo, key, compute, *inputs):
        analysed.append(compute.__name__)
        return original(memo, key, compute, *inputs)

    monkeypatch.setattr(Memo, "stored", counted)
    after = identify([str(sweep)], tmp_path / "after", **kwargs)
    assert analysed == ["_pair_analysed"] and sorted(after.summary["sparsity"]) == [0.0, 0.5, 0.7, 0.9]
    identify([str(sweep)], tmp_path / "fresh", min_seeds=3, with_texts=False, cache_dir=tmp_path / "other")
    assert _tables(tmp_path / "after") == _tables(tmp_path / "fresh")


def test_a_setups_plot_rows_and_keys_do_not_depend_on_other_setups():
    """A row added to one setup leaves another setup's plot frames, and so the memo keys of its
    plots, as they were (its rows are indexed from 0); the PIE table is not among them."""
    table = pd.DataFrame({"dataset": ["a", "b"], "model": ["m", "m"], "value": [1.0, 2.0]})
    grown = pd.concat([table.iloc[:1], pd.DataFrame({"dataset": ["a"], "model": ["m"], "value": [3.0]}), table.iloc[1:]],
                      ignore_index=True)
    before, after = (_setup_frames({"summary": frame, "pies": frame}, "b", "m") for frame in (table, grown))
    assert list(before) == ["summary"] and list(before["summary"].index) == [0]
    pd.testing.assert_frame_equal(before["summary"], after["summary"])
    assert key_of(PLOTS, before["summary"]) == key_of(PLOTS, after["summary"])
    first = [_setup_frames({"summary": frame}, "a", "m")["summary"] for frame in (table, grown)]
    assert key_of(PLOTS, first[0]) != key_of(PLOTS, first[1])  # the setup that grew is drawn again


def test_the_pair_source_a_worker_reads_from_survives_a_pickle_round_trip(sweep, tmp_path):
    """Where worker processes are started by spawn, not fork, in_order pickles its shared object
    once per worker: the pair source (reader, cache, conventions) then starts with empty caches."""
    import pickle

    from pie.identify import _PairSource, _fields
    from pie.pies.conventions import conventions_named
    from pie.runs.derived import RunArrays
    from pie.runs.discovery import discover
    from pie.runs.populations import PopulationReader, group_populations

    populations = group_populations(discover([str(sweep)]).complete, 3)
    arrays = RunArrays(tmp_path / "cache", _fields("test"))
    read = PopulationReader(populations, arrays)
    dense = next(key for key in populations if key.method == "dense")
    read(dense, "test_final")
    copy = pickle.loads(pickle.dumps(_PairSource(read, conventions_named("pie"), "test_final")))
    assert copy.read.loaded == {} and copy.read.arrays._known == {} and copy.read.arrays.root == arrays.root
    assert np.array_equal(copy.read(dense, "test_final").logits, read(dense, "test_final").logits)
