"""Bad prediction files: every one is found before compute, named with its run, and either refused
(the default) or excluded visibly with --skip-bad. Run stores are written by hand (no training)."""

import dataclasses
import hashlib
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import run_cli
from pie.analysis.options import AnalysisOptions
from pie.identify import identify
from manifests import make_manifest
from pie.runs.discovery import discover, load_logits
from pie.runs.manifest import BadRun, Run, read_manifest, write_manifest
from pie.runs.paths import RunPaths
from pie.runs.populations import PopulationError
from pie.runs.predictions import BadPredictionFile, read_predictions, write_predictions
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


@pytest.mark.parametrize("damage, reason", DAMAGES, ids=[d.__name__ for d, _ in DAMAGES])
def test_each_damage_is_found_and_named(sweep, damage, reason):
    """check_files names the run, file and problem; loading the file says the same and the fix."""
    victim = run_dir(sweep, "imp", 0.5, 1)
    damage(victim)
    runs = discover([str(sweep)]).complete
    checked = check_files([(run, "test_final") for run in runs])
    assert len(checked.bad) == 1
    bad = checked.bad[0]
    assert (bad.run, bad.file) == (victim, "predictions/test_final.parquet") and reason in bad.reason
    assert len(checked.passed) == len(runs) - 1
    with pytest.raises(BadPredictionFile) as error:
        load_logits([r for r in runs if r.directory == victim], "test_final")
    assert str(prediction(victim, "test_final")) in str(error.value)
    assert reason in str(error.value) and "rerun that run" in str(error.value)


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


def test_a_file_changed_after_its_check_is_checked_again(sweep):
    """Loading skips the hashes only for files unchanged since they passed."""
    runs = [Run(d, read_manifest(d)) for d in (run_dir(sweep, "dense", 0.0, s) for s in range(3))]
    checked = check_files([(run, "test_final") for run in runs])
    paths = [prediction(run.directory, "test_final") for run in runs]
    assert checked.bad == [] and all(checked.unchanged(p) for p in paths)
    assert load_logits(runs, "test_final", checked).logits.shape == (3, 30, 3)
    modify_bytes(runs[2].directory)
    assert not checked.unchanged(paths[2])
    with pytest.raises(BadPredictionFile, match="checksum"):
        load_logits(runs, "test_final", checked)



def test_loading_checked_files_gives_the_same_population(sweep):
    """With the check's results (ids decoded once, no second hashing) the logits are the same."""
    runs = [Run(d, read_manifest(d)) for d in (run_dir(sweep, "imp", 0.9, s) for s in range(3))]
    checked = check_files([(run, name) for run in runs for name in ("test_final", "train_final")])
    for name in ("test_final", "train_final"):
        plain, fast = load_logits(runs, name), load_logits(runs, name, checked)
        assert fast.ids.equals(plain.ids) and np.array_equal(fast.labels, plain.labels)
        assert np.array_equal(fast.logits, plain.logits) and np.array_equal(fast.seeds, plain.seeds)


def test_runs_with_other_ids_are_still_refused_after_the_check(sweep):
    """A run that consistently wrote other example ids passes its own check but cannot join the population."""
    other = run_dir(sweep, "dense", 0.0, 2)
    path = prediction(other, "test_final")
    old = read_predictions(path)
    record = write_predictions(path, [f"other-{i}" for i in range(30)], old.labels, old.logits)
    edit_record(other, "test_final", record)
    runs = [Run(d, read_manifest(d)) for d in (run_dir(sweep, "dense", 0.0, s) for s in range(3))]
    checked = check_files([(run, "test_final") for run in runs])
    assert checked.bad == []
    with pytest.raises(BadRun, match="different example ids"):
        load_logits(runs, "test_final", checked)

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
        pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "skipped" / f"{name}.parquet"), expected.tables[name], obj=name)


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

