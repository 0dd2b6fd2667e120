"""Bad prediction files: every one is found before compute, named with its run, and either refused
(the default) or excluded visibly with --skip-bad. Run stores are written by hand (no training)."""

import dataclasses
import hashlib
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import run_cli
from pie.analysis.options import AnalysisOptions
from pie.identify import identify
from manifests import make_manifest
from pie.runs.discovery import discover, load_logits
from pie.runs.manifest import BadRun, Run, Threshold, read_manifest, write_manifest
from pie.runs.paths import RunPaths
from pie.runs.populations import PopulationError
from pie.runs.predictions import BadPredictionFile, locate, read_predictions, write_predictions
from pie.runs.derived import RunArrays, load_entry
from pie.runs.validation import BadPredictionFiles, check_files

rng = np.random.default_rng(0)
TEST_IDS, TRAIN_IDS = [f"test-{i:03d}" for i in range(30)], [f"train-{i:03d}" for i in range(60)]
TEST_LABELS, TRAIN_LABELS = rng.integers(0, 3, size=30), rng.integers(0, 3, size=60)
POPULATIONS = [("dense", 0.0), ("imp", 0.5), ("imp", 0.9)]


def noisy_logits(labels, noise, seed):
    logits = np.random.default_rng(seed).normal(0.0, noise, size=(len(labels), 3)).astype(np.float32)
    logits[np.arange(len(labels)), labels] += 1.0
    return logits


def write_run(sweep: Path, method: str, sparsity: float, seed: int) -> Path:
    """A complete run as train.py leaves it: test/train final predictions (dense: train_epoch1 too)."""
    directory = sweep / f"{method}-{sparsity}" / f"seed={seed}"
    key, noise, dense = 100 * int(10 * sparsity) + seed, 1.0 + 2.0 * sparsity, method == "dense"
    files = {"test_final": (TEST_IDS, TEST_LABELS), "train_final": (TRAIN_IDS, TRAIN_LABELS)}
    if dense:
        files["train_epoch1"] = (TRAIN_IDS, TRAIN_LABELS)
    records = {
        name: write_predictions(prediction(directory, name), ids, labels, noisy_logits(labels, noise, key + i))
        for i, (name, (ids, labels)) in enumerate(files.items())
    }
    write_manifest(directory, make_manifest(seed, method=method, target=sparsity, dataset="synthetic", fingerprint="fp", model_key="mk",
                                            metrics={"test": {"accuracy": 0.9 - 0.3 * sparsity}}, predictions=records))
    return directory


def prediction(run: Path, name: str) -> Path:
    return RunPaths.of(run).prediction(name)


@pytest.fixture
def sweep(tmp_path) -> Path:
    """3 seeds each of dense, imp@0.5 and imp@0.9."""
    root = tmp_path / "sweep"
    for method, sparsity in POPULATIONS:
        for seed in range(3):
            write_run(root, method, sparsity, seed)
    return root


def run_dir(sweep: Path, method: str, sparsity: float, seed: int) -> Path:
    return (sweep / f"{method}-{sparsity}" / f"seed={seed}").resolve()


def edit_record(run: Path, name: str, record=None, **changes) -> None:
    """Replace a prediction file's manifest record (drop it with record=False), or change fields of it."""
    manifest = read_manifest(run)
    if record is False:
        del manifest.predictions[name]
    else:
        manifest.predictions[name] = record or dataclasses.replace(manifest.predictions[name], **changes)
    write_manifest(run, manifest)


def truncate(run, name="test_final"):
    path = prediction(run, name)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def modify_bytes(run, name="test_final"):
    path = prediction(run, name)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def wrong_shape(run, name="test_final"):
    edit_record(run, name, rows=read_manifest(run).predictions[name].rows + 1)


def wrong_ids(run, name="test_final"):
    """Rewritten with two ids swapped; the record matches the new file except its ids_sha256."""
    path = prediction(run, name)
    old = read_predictions(path)
    ids = list(old.example_ids)
    ids[0], ids[1] = ids[1], ids[0]
    new = write_predictions(path, ids, old.labels, old.logits)
    edit_record(run, name, sha256=new.sha256)


def missing_file(run, name="test_final"):
    (prediction(run, name)).unlink()


def missing_record(run, name="test_final"):
    edit_record(run, name, False)


DAMAGES = [
    (truncate, "checksum differs"), (modify_bytes, "checksum differs"), (wrong_shape, "shape (30, 3)"),
    (wrong_ids, "example ids differ"), (missing_file, "missing"), (missing_record, "no 'test_final' record"),
]


FIELDS = {"test_final": ("logits", "decisions"), "train_final": ("decisions", "losses"), "train_epoch1": ("el2n",)}


@pytest.mark.parametrize("cache", [None, "cold", "warm"])
@pytest.mark.parametrize("damage, reason", DAMAGES, ids=[d.__name__ for d, _ in DAMAGES])
def test_each_damage_is_found_and_named(sweep, damage, reason, cache, tmp_path):
    """check_files names the run, file and problem, also with identify_pies' check that derives and
    caches (pie.runs.derived), and after the files passed it once (warm): a file whose stat or record
    changed is checked again. Loading the file says the same and the fix."""
    def check(runs):
        derived = {"check": RunArrays(tmp_path / "cache", FIELDS).check} if cache else {}
        return check_files([(run, "test_final") for run in runs], **derived)

    victim = run_dir(sweep, "imp", 0.5, 1)
    if cache == "warm":
        assert check(discover([str(sweep)]).complete).bad == []
    damage(victim)
    runs = discover([str(sweep)]).complete
    checked = check(runs)
    assert len(checked.bad) == 1
    bad = checked.bad[0]
    assert (bad.run, bad.file) == (victim, "predictions/test_final.parquet") and reason in bad.reason
    with pytest.raises(BadPredictionFile) as error:
        load_logits([r for r in runs if r.directory == victim], "test_final")
    assert str(prediction(victim, "test_final")) in str(error.value)
    assert reason in str(error.value) and "rerun that run" in str(error.value)


def test_checks_in_processes_find_and_derive_what_threads_do(sweep, tmp_path):
    """check_files in forked processes (identify_pies' cold derivation, batches of 2 files here)
    names the same bad files as its threads in one process, and derives byte-identical cache
    entries; the parent's per-process caches stay usable afterwards."""
    truncate(run_dir(sweep, "imp", 0.5, 1))
    wrong_ids(run_dir(sweep, "imp", 0.9, 2), "train_final")
    runs = discover([str(sweep)]).complete
    reads = [(run, name) for run in runs for name in FIELDS if name in run.manifest.predictions]
    assert len(reads) > 2 * 2 * 2  # several batches for each of the 2 processes
    outcomes = {}
    for processes in (1, 2):
        arrays = RunArrays(tmp_path / f"cache{processes}", FIELDS)
        outcomes[processes] = check_files(reads, check=arrays.check, known=arrays.known, processes=processes, batch=2)
        good = [run for run in runs if "imp-0.5" in str(run.directory) and not run.directory.name.endswith("=1")]
        assert np.array_equal(arrays.population(good, "test_final").logits, load_logits(good, "test_final").logits)
    assert [(b.run, b.file, b.reason) for b in outcomes[2].bad] == [(b.run, b.file, b.reason) for b in outcomes[1].bad]
    assert {(b.run.name, b.file) for b in outcomes[2].bad} == {("seed=1", "predictions/test_final.parquet"),
                                                                ("seed=2", "predictions/train_final.parquet")}
    entries = [sorted(p.relative_to(tmp_path / f"cache{n}") for p in (tmp_path / f"cache{n}").rglob("*.npy")) for n in (1, 2)]
    assert entries[0] == entries[1] and len(entries[0]) == len(reads) - 2
    for entry in entries[0]:
        assert (tmp_path / "cache1" / entry).read_bytes() == (tmp_path / "cache2" / entry).read_bytes()


def _markers(cache: Path) -> set[str]:
    return {p.name for p in cache.rglob("verified/*")}


def test_deferred_entries_are_marked_only_after_one_sync(sweep, tmp_path, monkeypatch):
    """identify_pies' derivation (deferred=True) writes each entry without an fsync and marks it only
    after one sync of the cache's filesystem, so no marker can vouch for an entry whose bytes are not
    on disk: when the sync runs no marker exists and every entry does; afterwards every file is
    marked and a second check reads none; the entries are those the per-file fsync writes."""
    runs = discover([str(sweep)]).complete
    reads = [(run, name) for run in runs for name in FIELDS if name in run.manifest.predictions]
    seen = []

    def sync(path):
        seen.append((path, _markers(tmp_path / "deferred"), len(list((tmp_path / "deferred").rglob("*.npy")))))

    monkeypatch.setattr("pie.runs.derived.sync_filesystem", sync)
    fsynced = []
    monkeypatch.setattr("pie.atomic.os.fsync", lambda descriptor: fsynced.append(descriptor))
    arrays = RunArrays(tmp_path / "deferred", FIELDS, deferred=True)
    assert check_files(reads, check=arrays.check, known=arrays.known, settle=arrays.settle).bad == []
    assert seen == [(arrays.root, set(), len(reads))] and fsynced == []
    assert len(_markers(tmp_path / "deferred")) == len(reads)
    assert all(arrays.known(run, name, *locate(run, name)) for run, name in reads)
    check_files(reads, check=arrays.check, known=arrays.known, settle=arrays.settle)
    assert len(seen) == 1  # nothing derived, nothing to sync
    plain = RunArrays(tmp_path / "plain", FIELDS)
    # one thread: threads may race to write a split's ids file (each write whole), which would add fsyncs
    assert check_files(reads, workers=1, check=plain.check).bad == [] and len(fsynced) == len(reads) + 2  # and the 2 ids files
    for entry in (tmp_path / "plain").rglob("*.npy"):
        assert (tmp_path / "deferred" / entry.relative_to(tmp_path / "plain")).read_bytes() == entry.read_bytes()


def test_deferred_checks_in_processes_sync_each_batch(sweep, tmp_path):
    """In forked processes each batch of files is synced (really: syncfs) and marked by the process
    that derived it; then every file is known and the population loads as read from the files."""
    runs = discover([str(sweep)]).complete
    reads = [(run, name) for run in runs for name in FIELDS if name in run.manifest.predictions]
    arrays = RunArrays(tmp_path / "cache", FIELDS, deferred=True)
    assert check_files(reads, check=arrays.check, known=arrays.known, settle=arrays.settle, processes=2, batch=2).bad == []
    assert len(_markers(tmp_path / "cache")) == len(reads) and arrays._unmarked == []
    assert all(arrays.known(run, name, *locate(run, name)) for run, name in reads)
    dense = [run for run in runs if "dense" in str(run.directory)]
    assert np.array_equal(arrays.population(dense, "train_final").losses, RunArrays(tmp_path / "cache", FIELDS).population(
        dense, "train_final").losses)


def test_a_failed_sync_leaves_no_marker_and_the_files_are_derived_again(sweep, tmp_path, monkeypatch):
    """A crash or I/O error before the sync leaves entries that nothing vouches for: the next check
    reads and derives those files again, and marks them once its own sync succeeds."""
    runs = discover([str(sweep)]).complete
    reads = [(run, "test_final") for run in runs]

    def failing(path):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr("pie.runs.derived.sync_filesystem", failing)
    arrays = RunArrays(tmp_path / "cache", FIELDS, deferred=True)
    with pytest.raises(OSError, match="Input/output"):
        check_files(reads, check=arrays.check, known=arrays.known, settle=arrays.settle)
    assert _markers(tmp_path / "cache") == set() and len(list((tmp_path / "cache").rglob("*.npy"))) == len(reads)
    monkeypatch.undo()
    derived = []
    real = RunArrays._derive
    monkeypatch.setattr(RunArrays, "_derive", lambda self, *a, **k: (derived.append(a[:2]), real(self, *a, **k)))
    arrays = RunArrays(tmp_path / "cache", FIELDS, deferred=True)
    assert check_files(reads, check=arrays.check, known=arrays.known, settle=arrays.settle).bad == []
    assert len(derived) == len(reads) and len(_markers(tmp_path / "cache")) == len(reads)


def test_ids_hash_is_of_the_newline_joined_ids(tmp_path):
    """ids_sha256 = sha256 of the example ids joined by "\\n", UTF-8 (as documented)."""
    ids = ["a", "é", "c-3"]
    record = write_predictions(tmp_path / "p.parquet", ids, [0, 1, 2], np.zeros((3, 3)))
    assert record.ids_sha256 == hashlib.sha256("\n".join(ids).encode("utf-8")).hexdigest()


def test_records_without_ids_hash_stay_readable(sweep):
    """Manifests written before ids_sha256 existed pass and load."""
    run = run_dir(sweep, "dense", 0.0, 0)
    edit_record(run, "test_final", ids_sha256=None)
    loaded = Run(run, read_manifest(run))
    assert check_files([(loaded, "test_final")]).bad == []
    assert list(load_logits([loaded], "test_final").example_ids) == TEST_IDS


def test_cached_arrays_are_the_population_read_from_the_files(sweep, tmp_path):
    """RunArrays, cold (files read, derived, cached) or warm (cache only), gives the population's
    ids, labels, seeds and logits as load_logits reads them, and the task's decisions and losses
    of those logits."""
    runs = [Run(d, read_manifest(d)) for d in (run_dir(sweep, "dense", 0.0, s) for s in range(3))]
    for _ in ("cold", "warm"):
        arrays = RunArrays(tmp_path / "cache", FIELDS)
        assert check_files([(run, name) for run in runs for name in FIELDS], check=arrays.check).bad == []
        for name, fields in FIELDS.items():
            plain, cached = load_logits(runs, name), arrays.population(runs, name)
            assert cached.ids.equals(plain.ids) and np.array_equal(cached.seeds, plain.seeds)
            assert cached.labels.dtype == plain.labels.dtype and np.array_equal(cached.labels, plain.labels)
            expected = {"logits": plain.logits, "decisions": plain.task.decide(plain.logits, plain.thresholds),
                        "losses": plain.task.ratio_losses(plain.logits, plain.labels),
                                          "el2n": plain.task.el2n_norms(plain.logits, plain.labels)}
            for field in fields:
                assert getattr(cached, field).dtype == expected[field].dtype
                assert np.array_equal(getattr(cached, field), expected[field]), (name, field)


def test_the_cache_is_safe_for_concurrent_checks(sweep, tmp_path):
    """Eight threads checking the same files into one cache at once: all pass, every entry is whole,
    no temporary file is left."""
    runs = [Run(d, read_manifest(d)) for d in (run_dir(sweep, "imp", 0.9, s) for s in range(3))]
    reads = [(run, name) for run in runs for name in ("test_final", "train_final")]
    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(lambda _: check_files(reads, check=RunArrays(tmp_path / "cache", FIELDS).check), range(8)))
    assert all(outcome.bad == [] for outcome in outcomes)
    assert not list((tmp_path / "cache").rglob(".*.tmp"))
    plain = load_logits(runs, "train_final")
    cached = RunArrays(tmp_path / "cache", FIELDS).population(runs, "train_final")
    assert np.array_equal(cached.losses, plain.task.ratio_losses(plain.logits, plain.labels))


def test_a_rewritten_file_gets_its_own_entry(sweep, tmp_path):
    """A file rewritten with other logits and a new record (a rerun) is read again: the population
    holds its new arrays, not the entry cached for the old file."""
    runs = [Run(d, read_manifest(d)) for d in (run_dir(sweep, "imp", 0.5, s) for s in range(3))]
    arrays = RunArrays(tmp_path / "cache", FIELDS)
    assert check_files([(run, "test_final") for run in runs], check=arrays.check).bad == []
    old = arrays.population(runs, "test_final")
    victim = runs[1].directory
    edit_record(victim, "test_final", write_predictions(prediction(victim, "test_final"), TEST_IDS, TEST_LABELS,
                                                        noisy_logits(TEST_LABELS, 5.0, 99)))
    runs = [Run(d, read_manifest(d)) for d in (run_dir(sweep, "imp", 0.5, s) for s in range(3))]
    arrays = RunArrays(tmp_path / "cache", FIELDS)
    assert check_files([(run, "test_final") for run in runs], check=arrays.check).bad == []
    new, plain = arrays.population(runs, "test_final"), load_logits(runs, "test_final")
    assert not np.array_equal(new.logits, old.logits)
    assert np.array_equal(new.logits, plain.logits) and np.array_equal(new.decisions, plain.task.decide(plain.logits, plain.thresholds))


@pytest.mark.parametrize("damage", ["truncated", "garbage", "other fields", "ids"])
def test_a_damaged_cache_entry_is_derived_again(sweep, tmp_path, damage):
    """An entry or ids file damaged after it was written (truncated, overwritten, written for other
    fields under its name) is not trusted: the population is derived again from the files."""
    runs = [Run(d, read_manifest(d)) for d in (run_dir(sweep, "dense", 0.0, s) for s in range(3))]
    reads = [(run, name) for run in runs for name in ("test_final", "train_final")]
    assert check_files(reads, check=RunArrays(tmp_path / "cache", FIELDS).check).bad == []
    entries = sorted((tmp_path / "cache").rglob("*-logits+decisions-pie.npy"))
    ids_files = sorted((tmp_path / "cache").rglob("ids/*.parquet"))
    assert len(entries) == 3 and len(ids_files) == 2  # test and train ids, one file each
    if damage == "truncated":
        entries[0].write_bytes(entries[0].read_bytes()[:100])
    elif damage == "garbage":
        entries[0].write_bytes(b"not an array")
    elif damage == "other fields":
        np.save(entries[0], np.zeros(30, dtype=[("label", np.int8), ("el2n", np.float32)]))
    else:
        for ids_file in ids_files:
            pq.write_table(pa.table({"example_id": [f"x{i}" for i in range(30)]}), ids_file)
    arrays = RunArrays(tmp_path / "cache", FIELDS)
    assert check_files(reads, check=arrays.check).bad == []  # stat markers: the files are not read again
    cached, plain = arrays.population(runs, "test_final"), load_logits(runs, "test_final")
    assert cached.ids.equals(plain.ids) and np.array_equal(cached.logits, plain.logits)
    assert np.array_equal(cached.decisions, plain.task.decide(plain.logits, plain.thresholds))


def test_entries_load_as_numpy_loads_them(tmp_path):
    """load_entry gives np.load's array, dtype and bytes, read-only, for entries that share a
    header (parsed once), for another header and for .npy versions 1, 2 and 3 (3 through np.load);
    a file that is not a whole entry raises ValueError, so the cache derives it again."""
    rows = np.zeros(7, dtype=[("label", np.int8), ("logits", np.float32, (3,)), ("decisions", np.int8)])
    rows["logits"] = np.arange(21, dtype=np.float32).reshape(7, 3) / 3
    tables = {"a": rows, "b": rows[::-1].copy(), "c": np.arange(12.0).reshape(3, 4), "d": rows[:2].copy()}
    for name, table in tables.items():
        np.save(tmp_path / f"{name}.npy", table)
    for version in (2, 3):
        with open(tmp_path / f"v{version}.npy", "wb") as handle:
            np.lib.format.write_array(handle, rows, version=(version, 0))
    for name in [*tables, "v2", "v3"]:
        expected, loaded = np.load(tmp_path / f"{name}.npy"), load_entry(str(tmp_path / f"{name}.npy"))
        assert loaded.dtype == expected.dtype and loaded.shape == expected.shape and loaded.tobytes() == expected.tobytes()
        assert not loaded.flags.writeable
    whole = (tmp_path / "a.npy").read_bytes()
    for damaged in (whole[:-5], whole[:9], b"garbage" * 20, b""):
        (tmp_path / "bad.npy").write_bytes(damaged)
        with pytest.raises(ValueError):
            load_entry(str(tmp_path / "bad.npy"))


def test_the_cache_is_keyed_by_the_conventions(tmp_path):
    """Multi-label decisions and A5 losses follow the analysis conventions: each has its own entry."""
    from pie.pies.conventions import PIE, REFERENCE
    from pie.pies.task import MULTI_LABEL

    directory = tmp_path / "run"
    targets = (np.random.default_rng(1).random((20, 4)) < 0.3).astype(np.int8)
    logits = np.random.default_rng(2).normal(0.0, 2.0, size=(20, 4)).astype(np.float32)
    logits[:5, 0] = 0.0  # sigmoid exactly 0.5 = τ: decided positive by >=, negative by >
    record = write_predictions(prediction(directory, "train_final"), [f"e{i}" for i in range(20)], targets, logits)
    write_manifest(directory, make_manifest(0, method="dense", dataset="synthetic", fingerprint="fp", model_key="mk", multi_label=True,
                                            predictions={"train_final": record}, threshold=Threshold(0.5, "validation", 0.0)))
    run = Run(directory, read_manifest(directory))
    for conventions in (PIE, REFERENCE, PIE):
        arrays = RunArrays(tmp_path / "cache", {"train_final": ("decisions", "losses")}, conventions)
        assert check_files([(run, "train_final")], check=arrays.check).bad == []
        population = arrays.population([run], "train_final")
        task = MULTI_LABEL.using(conventions)
        assert np.array_equal(population.decisions, task.decide(logits[None], [0.5]))
        assert np.array_equal(population.losses, task.ratio_losses(logits[None], targets))


def test_runs_with_other_ids_are_still_refused_after_the_check(sweep, tmp_path):
    """A run that consistently wrote other example ids passes its own check but cannot join the population."""
    other = run_dir(sweep, "dense", 0.0, 2)
    path = prediction(other, "test_final")
    old = read_predictions(path)
    record = write_predictions(path, [f"other-{i}" for i in range(30)], old.labels, old.logits)
    edit_record(other, "test_final", record)
    runs = [Run(d, read_manifest(d)) for d in (run_dir(sweep, "dense", 0.0, s) for s in range(3))]
    arrays = RunArrays(tmp_path / "cache", FIELDS)
    assert check_files([(run, "test_final") for run in runs], check=arrays.check).bad == []
    with pytest.raises(BadRun, match="different example ids"):
        arrays.population(runs, "test_final")
    with pytest.raises(BadRun, match="different example ids"):
        load_logits(runs, "test_final")


def damage_two_runs(sweep: Path) -> list[Path]:
    """A dense run's test predictions cut short and a pruned run's train predictions modified."""
    dense, pruned = run_dir(sweep, "dense", 0.0, 1), run_dir(sweep, "imp", 0.9, 2)
    truncate(dense)
    modify_bytes(pruned, "train_final")
    return [prediction(dense, "test_final"), prediction(pruned, "train_final")]


@pytest.mark.slow
def test_default_refuses_naming_every_bad_run(sweep, tmp_path):
    """Two bad runs: one error names both files and the fixes, nothing is written; the CLI exits 2."""
    bad = damage_two_runs(sweep)
    with pytest.raises(BadPredictionFiles) as error:
        identify([str(sweep)], tmp_path / "out", min_seeds=2, with_texts=False, options=AnalysisOptions(n_boot=20))
    message = str(error.value)
    assert all(str(path) in message for path in bad) and "2 run(s)" in message
    assert "rerun those runs" in message and "--skip-bad" in message
    assert not (tmp_path / "out").exists()
    result = run_cli("identify_pies.py", str(sweep), "--min-seeds", "2", "--no-texts", "--out", "cli", cwd=tmp_path)
    assert result.returncode == 2 and all(str(path) in result.stderr for path in bad)
    assert not (tmp_path / "cli").exists()


@pytest.mark.slow
def test_skip_bad_excludes_them_visibly_with_the_results_of_the_good_runs(sweep, tmp_path):
    """--skip-bad: excluded_runs.csv, report.html and the printed summary name the two runs, and
    every table equals identify on a store without them."""
    bad = damage_two_runs(sweep)
    result = run_cli("identify_pies.py", str(sweep), "--min-seeds", "2", "--no-texts", "--bootstrap", "20",
                     "--skip-bad", "--out", "skipped", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "excluded runs (--skip-bad): 2" in result.stdout
    assert all(f"excluding run {path.parent.parent}" in result.stderr for path in bad)
    excluded = pd.read_csv(tmp_path / "skipped" / "excluded_runs.csv")
    assert list(excluded["run_directory"]) == [str(path.parent.parent) for path in bad]
    assert list(excluded["file"]) == ["predictions/test_final.parquet", "predictions/train_final.parquet"]
    assert list(excluded["reason"].str.startswith("checksum differs")) == [True, True]
    report = (tmp_path / "skipped" / "report.html").read_text()
    assert "Excluded runs" in report and all(str(path.parent.parent) in report for path in bad)

    clean = tmp_path / "clean"
    shutil.copytree(sweep, clean)
    for path in bad:
        shutil.rmtree(clean / path.parent.parent.relative_to(sweep.resolve()))
    expected = identify([str(clean)], tmp_path / "expected", min_seeds=2, with_texts=False, options=AnalysisOptions(n_boot=20))
    assert expected.excluded_runs == [] and len(pd.read_csv(tmp_path / "expected" / "excluded_runs.csv")) == 0
    assert "None: every prediction file" in (tmp_path / "expected" / "report.html").read_text()
    assert list(expected.summary["seeds"]) == [2, 3, 2]
    for name in expected.tables:
        pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "skipped" / f"{name}.parquet"),
                                      pd.read_parquet(tmp_path / "expected" / f"{name}.parquet"), obj=name)


@pytest.mark.slow
def test_skip_bad_below_min_seeds_is_refused(sweep, tmp_path):
    """Excluding two of imp@0.5's three runs leaves it below --min-seeds 2: refused, naming it."""
    truncate(run_dir(sweep, "imp", 0.5, 0))
    missing_record(run_dir(sweep, "imp", 0.5, 2))
    with pytest.raises(PopulationError) as error:
        identify([str(sweep)], tmp_path / "out", min_seeds=2, with_texts=False, skip_bad=True)
    message = str(error.value)
    assert "synthetic/bilstm/imp@0.5 (1 of 3)" in message and "min_seeds=2" in message and "--min-seeds" in message
    assert str(run_dir(sweep, "imp", 0.5, 0)) in message and str(run_dir(sweep, "imp", 0.5, 2)) in message
    assert not (tmp_path / "out").exists()

