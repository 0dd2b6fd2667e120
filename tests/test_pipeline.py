"""The command-line pipeline: a tiny sweep through train.py and identify_pies.py, reruns, bad input."""

import json

import numpy as np
import pandas as pd
import pytest

from conftest import TINY, run_cli
from pie.pies import single_label_pies
from pie.runs.discovery import discover, load_logits

pytestmark = pytest.mark.slow
SWEEP = ["train.py", "-m", "name=tiny", "seed=0,1", "pruning=imp_ft", "sparsity=0,0.5", *TINY]


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """2 seeds x (dense, 0.5) of the BiLSTM on 64 Rotten Tomatoes examples, then identify_pies."""
    root = tmp_path_factory.mktemp("pipeline")
    trained = run_cli(*SWEEP, cwd=root)
    assert trained.returncode == 0, trained.stderr[-3000:]
    identified = run_cli("identify_pies.py", "multirun/tiny", "--min-seeds", "2", "--out", "out", cwd=root)
    assert identified.returncode == 0, identified.stderr[-3000:]
    return root, trained, identified


def test_sweep_writes_one_complete_run_per_override(sweep):
    """Deterministic run directories named by their overrides, each complete."""
    root, _, _ = sweep
    runs = sorted(p.name for p in (root / "multirun" / "tiny").iterdir() if p.is_dir())
    assert runs == [
        f"dataset.max_eval_examples=40,dataset.max_train_examples=64,model.epochs=1,pruning=imp_ft,seed={s},sparsity={p},threads=1"
        for s in (0, 1) for p in ("0", "0.5")
    ]
    for name in runs:
        manifest = json.loads((root / "multirun" / "tiny" / name / "manifest.json").read_text())
        assert manifest["status"] == "complete"


def test_pie_table_matches_the_logits(sweep):
    """pies.parquet holds one row per test example, and its verdicts equal single_label_pies."""
    root, _, identified = sweep
    pies = pd.read_parquet(root / "out" / "pies.parquet")
    assert len(pies) == 40 and set(pies["method"]) == {"imp_ft"} and set(pies["sparsity"]) == {0.5}
    found = discover([str(root / "multirun" / "tiny")]).complete
    dense = load_logits([r for r in found if r.manifest.is_dense], "test_final")
    pruned = load_logits([r for r in found if r.manifest.sparsity == 0.5], "test_final")
    assert np.array_equal(pies["is_pie"].to_numpy(), single_label_pies(dense.logits, pruned.logits))
    assert list(pies["example_id"]) == list(dense.example_ids)
    assert all(sum(v) == 2 for v in pies["dense_votes"]) and all(sum(v) == 2 for v in pies["pruned_votes"])

    summary = pd.read_csv(root / "out" / "summary.csv")
    assert list(summary["method"]) == ["dense", "imp_ft"] and list(summary["seeds"]) == [2, 2]
    assert summary["pies"].iloc[1] == pies["is_pie"].sum()
    assert summary["pie_percent"].iloc[1] == pytest.approx(100 * pies["is_pie"].mean())
    assert "% PIEs" in (root / "out" / "summary.md").read_text()
    row = next(line for line in identified.stdout.splitlines() if line.startswith("| rotten_tomatoes / bilstm | imp_ft | 0.5 |"))
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert cells[3].startswith(f"{summary['pie_percent'].iloc[1]:.2f} [") and cells[8] == "2"  # % PIEs [CI], seeds


def test_rerunning_the_sweep_skips_complete_runs(sweep):
    """The same command again trains nothing and leaves every manifest untouched."""
    root, _, _ = sweep
    manifests = sorted((root / "multirun" / "tiny").glob("*/manifest.json"))
    before = [p.stat().st_mtime_ns for p in manifests]
    again = run_cli(*SWEEP, cwd=root)
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stdout.count("skip ") + again.stderr.count("skip ") == 4
    assert [p.stat().st_mtime_ns for p in manifests] == before


def test_too_few_seeds_is_refused(sweep):
    root, _, _ = sweep
    result = run_cli("identify_pies.py", "multirun/tiny", "--min-seeds", "3", "--out", "o2", cwd=root)
    assert result.returncode == 2 and "min_seeds=3" in result.stderr
    assert not (root / "o2").exists()


def test_truncated_prediction_file_is_named(sweep, tmp_path):
    """A complete run whose test predictions were cut short: identify_pies names the file and stops."""
    import shutil

    root, _, _ = sweep
    copy = tmp_path / "multirun" / "tiny"
    shutil.copytree(root / "multirun" / "tiny", copy)
    victim = next(copy.glob("*seed=1,sparsity=0.5*")) / "predictions" / "test_final.parquet"
    victim.write_bytes(victim.read_bytes()[: victim.stat().st_size // 2])
    result = run_cli("identify_pies.py", str(copy), "--min-seeds", "2", "--out", "o3", cwd=tmp_path)
    assert result.returncode == 2
    assert str(victim) in result.stderr and "checksum" in result.stderr
    assert not (tmp_path / "o3").exists()


def test_missing_sweep_directory_is_named(tmp_path):
    result = run_cli("identify_pies.py", "multirun/nothing-here", cwd=tmp_path)
    assert result.returncode == 2 and "multirun/nothing-here" in result.stderr


@pytest.mark.parametrize(
    "override, message",
    [("dataset=nope", "Could not find 'dataset/nope'"), ("model=gpt9", "Could not find 'model/gpt9'"),
     ("sparsity=1.5", "sparsity must be in [0, 1)"), ("sparsity=-0.1", "sparsity must be in [0, 1)")],
)
def test_train_refuses_bad_input(override, message, tmp_path):
    result = run_cli("train.py", "pruning=imp_ft", override, *TINY, cwd=tmp_path)
    assert result.returncode != 0
    assert message in result.stderr
    assert not list(tmp_path.glob("runs/*/*/predictions"))
