"""The run store: prediction files, atomic writes, manifests, discovery and loading logits."""

import dataclasses
import json
import os
from pathlib import Path

import numpy as np
import pytest

from manifests import make_manifest
from pie.atomic import atomic_path, sha256_file, write_json
from pie.runs.discovery import Discovery, discover, load_logits
from pie.runs.manifest import COMPLETE, MANIFEST, RUNNING, BadRun, Run, is_complete, read_manifest, write_manifest
from pie.runs.predictions import BadPredictionFile, Predictions, read_predictions, write_predictions
from pie.runs.paths import RunPaths

IDS = ["ex-0", "ex-1", "ex-2", "ex-3"]
LABELS = [0, 2, 1, 2]


def logits_for(seed, n=4, c=3):
    return np.random.default_rng(seed).normal(size=(n, c)).astype(np.float32)


def all_files(root):
    return sorted(str(p.relative_to(root)) for p in Path(root).rglob("*") if p.is_file())


# ---------------------------------------------------------------------------------------------
# predictions


def test_round_trip_exact(tmp_path):
    """Written logits, ids and labels come back exactly (float32 bit for bit)."""
    logits = np.array([[0.1, -2.5, 3.25], [1e-7, 7.0, -0.3], [2.0, 2.0, 2.0], [-1.0, 0.0, 1.5]], dtype=np.float32)
    path = tmp_path / "test_final.parquet"
    write_predictions(path, IDS, LABELS, logits)
    predictions = read_predictions(path)
    assert isinstance(predictions, Predictions)
    assert predictions.logits.dtype == np.float32
    np.testing.assert_array_equal(predictions.logits, logits)
    assert predictions.logits.shape == (4, 3)
    assert list(predictions.example_ids) == IDS
    np.testing.assert_array_equal(predictions.labels, LABELS)
    assert predictions.labels.dtype == np.int64


def test_round_trip_float64_input_is_stored_as_float32(tmp_path):
    """float64 logits are stored as float32."""
    logits = logits_for(0).astype(np.float64) / 3
    path = tmp_path / "p.parquet"
    write_predictions(path, IDS, LABELS, logits)
    np.testing.assert_array_equal(read_predictions(path).logits, logits.astype(np.float32))


def test_record_fields(tmp_path):
    """The record has file name, rows, classes and the file's sha256."""
    path = tmp_path / "sub" / "train_final.parquet"
    record = write_predictions(path, IDS, LABELS, logits_for(1))
    assert record.file == "train_final.parquet"
    assert record.rows == 4
    assert record.classes == 3
    assert record.sha256 == sha256_file(path)
    assert len(record.sha256) == 64
    # With the record the file reads back the same.
    np.testing.assert_array_equal(read_predictions(path, record).logits, logits_for(1))


def truncate_half(path):
    size = os.path.getsize(path)
    with open(path, "r+b") as handle:
        handle.truncate(size // 2)


def test_truncated_file_with_record(tmp_path):
    """A truncated file raises BadPredictionFile naming the path (checksum mismatch)."""
    path = tmp_path / "test_final.parquet"
    record = write_predictions(path, IDS, LABELS, logits_for(2))
    truncate_half(path)
    with pytest.raises(BadPredictionFile) as info:
        read_predictions(path, record)
    assert str(path) in str(info.value)


def test_truncated_file_without_record(tmp_path):
    """A truncated file read without its record raises BadPredictionFile naming the path."""
    path = tmp_path / "test_final.parquet"
    write_predictions(path, IDS, LABELS, logits_for(2))
    truncate_half(path)
    with pytest.raises(BadPredictionFile) as info:
        read_predictions(path)
    assert str(path) in str(info.value)


def test_wrong_checksum(tmp_path):
    """A record with a wrong sha256 raises BadPredictionFile mentioning "checksum"."""
    path = tmp_path / "p.parquet"
    record = write_predictions(path, IDS, LABELS, logits_for(3))
    record = dataclasses.replace(record, sha256="0" * 64)
    with pytest.raises(BadPredictionFile, match="checksum"):
        read_predictions(path, record)


def test_wrong_shape_in_record(tmp_path):
    """A record whose rows/classes disagree with the file raises BadPredictionFile."""
    path = tmp_path / "p.parquet"
    record = write_predictions(path, IDS, LABELS, logits_for(3))
    with pytest.raises(BadPredictionFile, match="shape"):
        read_predictions(path, dataclasses.replace(record, rows=5))


def test_missing_file(tmp_path):
    """A missing file raises BadPredictionFile, with or without a record."""
    path = tmp_path / "nope.parquet"
    with pytest.raises(BadPredictionFile, match="missing"):
        read_predictions(path)
    with pytest.raises(BadPredictionFile, match="missing"):
        read_predictions(path, {"file": "nope.parquet", "rows": 1, "classes": 1, "sha256": "0" * 64})


def test_bad_prediction_file_is_value_error():
    """BadPredictionFile and BadRun are ValueErrors."""
    assert issubclass(BadPredictionFile, ValueError)
    assert issubclass(BadRun, ValueError)


# ---------------------------------------------------------------------------------------------
# atomic writes


def test_atomic_writes_leave_no_temp_files(tmp_path):
    """After write_predictions and write_json only the final files exist."""
    write_predictions(tmp_path / "a" / "p.parquet", IDS, LABELS, logits_for(4))
    write_json(tmp_path / "a" / "m.json", {"x": 1})
    write_json(tmp_path / "a" / "m.json", {"x": 2})  # overwrite
    assert all_files(tmp_path) == ["a/m.json", "a/p.parquet"]
    assert json.loads((tmp_path / "a" / "m.json").read_text()) == {"x": 2}


def test_atomic_path_failure_leaves_nothing(tmp_path):
    """An exception inside atomic_path removes the temp file and never creates the target."""
    target = tmp_path / "out.txt"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            assert tmp != target and tmp.parent == target.parent
            tmp.write_text("half")
            raise RuntimeError("crash")
    assert all_files(tmp_path) == []


def test_atomic_path_failure_keeps_old_content(tmp_path):
    """A failed rewrite leaves the previous file untouched."""
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("new")
            raise RuntimeError("crash")
    assert target.read_text() == "old"
    assert all_files(tmp_path) == ["out.txt"]


def test_sha256_file(tmp_path):
    """sha256_file of b"abc" is the known digest."""
    path = tmp_path / "abc"
    path.write_bytes(b"abc")
    assert sha256_file(path) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


# ---------------------------------------------------------------------------------------------
# manifests


def test_manifest_round_trip(tmp_path):
    """write_manifest / read_manifest round-trip the typed manifest; is_complete follows status."""
    record = write_predictions(tmp_path / "p.parquet", IDS, LABELS, logits_for(0), "test", "final")
    running = make_manifest(3, status=RUNNING, predictions={"test_final": record})
    write_manifest(tmp_path, running)
    assert read_manifest(tmp_path) == running
    assert not is_complete(tmp_path)
    write_manifest(tmp_path, make_manifest(3))
    assert is_complete(tmp_path)
    assert sorted(all_files(tmp_path)) == sorted([MANIFEST, "p.parquet"])


def test_manifest_keeps_its_json_layout_and_reads_older_ones(tmp_path):
    """The JSON layout is pie's long-standing one (fields of old manifests read; unknown fields
    of other versions are ignored), and the derived facts come from the typed fields."""
    manifest = make_manifest(1, method="imp_ft", target=0.900000001, multi_label=True,
                             metrics={"test": {"accuracy": 0.5, "macro_f1": 0.25}})
    data = manifest.to_json()
    assert list(data)[:6] == ["status", "seed", "keys", "config", "versions", "attempts"]
    assert data["pruning"]["target"] == 0.900000001 and "threshold" not in data
    data["written_by_a_newer_pie"] = {"x": 1}
    (tmp_path / MANIFEST).write_text(json.dumps(data))
    read = read_manifest(tmp_path)
    assert read == manifest
    assert read.sparsity == 0.9 and read.headline == ("macro_f1", 0.25) and np.isnan(read.threshold_value)
    assert read.population_key.label() == "rt/bilstm/imp_ft@0.9" and not read.is_dense


def test_read_manifest_missing(tmp_path):
    """A directory without manifest.json raises BadRun."""
    with pytest.raises(BadRun, match=MANIFEST):
        read_manifest(tmp_path)
    assert not is_complete(tmp_path)


@pytest.mark.parametrize("text", ['{"status": "complete"', "not json", ""])
def test_read_manifest_invalid_json(tmp_path, text):
    """Invalid JSON raises BadRun."""
    (tmp_path / MANIFEST).write_text(text)
    with pytest.raises(BadRun, match="not valid JSON"):
        read_manifest(tmp_path)
    assert not is_complete(tmp_path)


@pytest.mark.parametrize("obj, message", [([1, 2], "status"), ({"seed": 1}, "status"), ({"status": "complete", "seed": 1}, "keys")])
def test_read_manifest_without_required_fields(tmp_path, obj, message):
    """Valid JSON without a status field, or without another field pie needs, raises BadRun."""
    (tmp_path / MANIFEST).write_text(json.dumps(obj))
    with pytest.raises(BadRun, match=message):
        read_manifest(tmp_path)


# ---------------------------------------------------------------------------------------------
# discovery and loading


def make_run(root, name, seed, status=COMPLETE, ids=IDS, labels=LABELS, logits=None):
    """A run directory with a test_final prediction file and a manifest."""
    directory = Path(root) / name
    logits = logits_for(seed) if logits is None else logits
    record = write_predictions(RunPaths.of(directory).prediction("test_final"), ids, labels, logits, "test", "final")
    write_manifest(directory, make_manifest(seed, status=status, predictions={"test_final": record}))
    return directory


def test_discover_separates_complete_and_running(tmp_path):
    """One complete and one running run are told apart."""
    sweep = tmp_path / "sweep"
    done = make_run(sweep, "0", seed=0)
    running = make_run(sweep, "1", seed=1, status=RUNNING)
    found = discover([str(sweep)])
    assert isinstance(found, Discovery)
    assert [r.directory for r in found.complete] == [done.resolve()]
    assert found.complete[0].manifest.status == "complete"
    assert found.complete[0].seed == 0
    assert found.incomplete == [running.resolve()]


def test_discover_counts_broken_manifest_as_incomplete(tmp_path):
    """A run whose manifest is invalid JSON is listed as incomplete, not raised."""
    sweep = tmp_path / "sweep"
    make_run(sweep, "a", seed=0)
    broken = sweep / "b"
    broken.mkdir()
    (broken / MANIFEST).write_text("{")
    found = discover([str(sweep)])
    assert len(found.complete) == 1
    assert found.incomplete == [broken.resolve()]


def test_discover_nested_and_glob(tmp_path):
    """Runs are found recursively, and glob patterns are expanded."""
    make_run(tmp_path / "sweepA" / "multirun" / "x", "0", seed=0)
    make_run(tmp_path / "sweepB", "0", seed=1)
    found = discover([str(tmp_path / "sweep*")])
    assert sorted(r.seed for r in found.complete) == [0, 1]
    assert found.incomplete == []


def _runs(found):
    return [(r.directory, r.manifest) for r in found.complete], found.incomplete, found.duplicates


def test_discover_through_the_manifest_index_parses_only_new_or_rewritten_manifests(tmp_path, monkeypatch):
    """With a cache folder, a rerun parses no manifest it has seen complete with the same stat:
    a new run's and a rewritten one's are parsed (the rewritten one read back as it is now), a
    running run's every time; what discover returns is what it returns without the index."""
    import pie.runs.discovery as discovery

    sweep, cache = tmp_path / "sweep", tmp_path / "cache"
    make_run(sweep, "0", seed=0)
    make_run(sweep, "1", seed=1)
    make_run(sweep, "2", seed=2, status=RUNNING)
    parsed = []

    def counted(directory):
        parsed.append(Path(directory).name)
        return read_manifest(directory)

    monkeypatch.setattr(discovery, "read_manifest", counted)
    assert _runs(discover([str(sweep)], cache)) == _runs(discover([str(sweep)]))
    assert sorted(parsed) == ["0", "0", "1", "1", "2", "2"]
    parsed.clear()
    again = discover([str(sweep)], cache)
    assert parsed == ["2"]  # only the running run
    assert _runs(again) == _runs(discover([str(sweep)]))
    make_run(sweep, "3", seed=3)
    rewritten = dataclasses.replace(read_manifest(sweep / "1"), metrics={"accuracy": 0.5})
    write_manifest(sweep / "1", rewritten)
    parsed.clear()
    found = discover([str(sweep)], cache)
    assert sorted(parsed) == ["1", "2", "3"]
    assert [r.seed for r in found.complete] == [0, 1, 3]
    assert found.complete[1].manifest == rewritten
    parsed.clear()
    assert _runs(discover([str(sweep)], cache)) == _runs(found) and parsed == ["2"]


def test_manifest_index_ignores_damaged_files_and_those_of_other_code(tmp_path):
    """An index file that cannot be read, or that other code wrote, is a miss: the manifests are
    parsed and the file written again."""
    import pickle

    from pie.runs.discovery import ManifestIndex

    sweep, cache = tmp_path / "sweep", tmp_path / "cache"
    make_run(sweep, "0", seed=0)
    expected = _runs(discover([str(sweep)]))
    index = ManifestIndex(cache)
    assert _runs(discover([str(sweep)], cache)) == expected
    stored = Path(index._file(str(sweep.resolve())))
    (stamp, manifest, key), = pickle.loads(stored.read_bytes())[1].values()
    forged = {"0": (stamp, dataclasses.replace(manifest, seed=7), key)}
    for content in (b"not a pickle", pickle.dumps(("other code", forged)), pickle.dumps((index.code, "not entries"))):
        stored.write_bytes(content)
        assert _runs(discover([str(sweep)], cache)) == expected
        assert pickle.loads(stored.read_bytes())[0] == index.code
    stored.write_bytes(pickle.dumps((index.code, forged)))  # the proof that a valid entry is what discover returns
    assert discover([str(sweep)], cache).complete[0].seed == 7
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("")  # an index that cannot be written: the runs are found all the same
    assert _runs(discover([str(sweep)], blocked)) == expected


def test_discover_does_not_enter_a_runs_own_folders(tmp_path):
    """A manifest under a run's predictions, checkpoints or logs folder is not a run (such folders
    can be deep, e.g. W&B's under logs/), while runs nested in other folders of a run are found."""
    run = make_run(tmp_path / "sweep", "0", seed=0)
    for folder in ("predictions", "checkpoints", "logs"):
        make_run(run / folder, "x", seed=1)
    nested = make_run(run / "branches", "1", seed=2)
    assert [r.directory for r in discover([str(tmp_path / "sweep")]).complete] == [run.resolve(), nested.resolve()]


def test_discover_missing_path(tmp_path):
    """A directory that does not exist raises FileNotFoundError; so does a glob with no match."""
    with pytest.raises(FileNotFoundError):
        discover([str(tmp_path / "does-not-exist")])
    with pytest.raises(FileNotFoundError):
        discover([str(tmp_path / "nothing*")])


def test_discover_no_manifests(tmp_path):
    """A directory without any manifest raises FileNotFoundError."""
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=MANIFEST):
        discover([str(tmp_path / "empty")])


def test_load_logits_stacks_sorted_by_seed(tmp_path):
    """Runs given as seeds 2, 0, 1 stack into [3, 4, 3] ordered by seed 0, 1, 2."""
    runs = [Run(d, read_manifest(d)) for d in (make_run(tmp_path, f"r{s}", seed=s) for s in (2, 0, 1))]
    population = load_logits(runs, "test_final")
    np.testing.assert_array_equal(population.seeds, [0, 1, 2])
    assert population.logits.shape == (3, 4, 3)
    assert population.logits.dtype == np.float32
    for i, seed in enumerate((0, 1, 2)):
        np.testing.assert_array_equal(population.logits[i], logits_for(seed))
    assert list(population.example_ids) == IDS
    np.testing.assert_array_equal(population.labels, LABELS)


def test_load_logits_from_discovery(tmp_path):
    """discover + load_logits on a sweep of complete runs."""
    for seed in (1, 0):
        make_run(tmp_path / "sweep", str(seed), seed=seed)
    population = load_logits(discover([str(tmp_path / "sweep")]).complete, "test_final")
    np.testing.assert_array_equal(population.seeds, [0, 1])
    np.testing.assert_array_equal(population.logits[1], logits_for(1))


def test_load_logits_different_ids(tmp_path):
    """Two runs with different example ids raise BadRun."""
    a = make_run(tmp_path, "a", seed=0)
    b = make_run(tmp_path, "b", seed=1, ids=["ex-0", "ex-1", "ex-2", "ex-9"])
    with pytest.raises(BadRun, match="different example ids"):
        load_logits([Run(a, read_manifest(a)), Run(b, read_manifest(b))], "test_final")


def test_load_logits_different_labels(tmp_path):
    """Two runs with different gold labels raise BadRun."""
    a = make_run(tmp_path, "a", seed=0)
    b = make_run(tmp_path, "b", seed=1, labels=[0, 2, 1, 1])
    with pytest.raises(BadRun, match="gold labels"):
        load_logits([Run(a, read_manifest(a)), Run(b, read_manifest(b))], "test_final")


def test_load_logits_checks_the_record(tmp_path):
    """A prediction file truncated after the run raises BadPredictionFile when loaded."""
    a = make_run(tmp_path, "a", seed=0)
    truncate_half(RunPaths.of(a).prediction("test_final"))
    with pytest.raises(BadPredictionFile, match="checksum"):
        load_logits([Run(a, read_manifest(a))], "test_final")


def test_load_logits_missing_name_and_empty(tmp_path):
    """An unknown prediction name raises BadPredictionFile; no runs raise ValueError."""
    a = make_run(tmp_path, "a", seed=0)
    with pytest.raises(BadPredictionFile, match="validation_final"):
        load_logits([Run(a, read_manifest(a))], "validation_final")
    with pytest.raises(ValueError, match="empty"):
        load_logits([], "test_final")


def test_discover_reads_the_same_run_once(tmp_path):
    """Two directories holding one run (same config; the dense run of a sweep over methods, stored
    under each method by an older pie whose run keys named the method) are read once: the first
    directory is kept and the other listed as its duplicate. Different seeds stay apart."""
    import dataclasses

    from pie.runs.identity import run_keys

    def config(seed, method):
        return {"seed": seed, "sparsity": 0.0, "model": {"name": "bilstm"}, "pruning": {"name": method}, "selection": {"x": 1}}

    for name, seed, method in (("a-imp_ft", 0, "imp_ft"), ("b-mp_ai", 0, "mp_ai"), ("c-mp_ai", 1, "mp_ai")):
        directory = make_run(tmp_path, name, seed=seed)
        old_keys = dataclasses.replace(read_manifest(directory).keys, run=f"old-{name}", pruning="dense")  # an older formula
        write_manifest(directory, dataclasses.replace(read_manifest(directory), config=config(seed, method), keys=old_keys))
    found = discover([str(tmp_path)])
    assert [r.directory.name for r in found.complete] == ["a-imp_ft", "c-mp_ai"]
    assert found.duplicates == {(tmp_path / "b-mp_ai").resolve(): (tmp_path / "a-imp_ft").resolve()}
    assert run_keys(config(0, "imp_ft"), dense=True) == run_keys(config(0, "mp_ai"), dense=True)
    assert run_keys(config(0, "imp_ft"), dense=False).run != run_keys(config(0, "mp_ai"), dense=False).run
