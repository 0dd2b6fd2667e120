"""A multi-label sweep end to end: 2 seeds x (dense, MP-AI 0.9) of the BiLSTM on a small AAPD-layout
corpus the test writes, through train.py and identify_pies.py; the real weka corn/grain data when
it is present."""

import json

import numpy as np
import pandas as pd
import pytest

from conftest import run_cli
from pie.pies.decisions import GRID
from pie.pies import multi_label_pies
from pie.runs.discovery import discover, load_logits

pytestmark = pytest.mark.slow
TOPICS = {"wheat": "agri", "oil": "energy", "bank": "finance"}
SWEEP = ["train.py", "-m", "name=ml", "dataset=aapd", "seed=0,1", "pruning=mp_ai", "sparsity=0,0.9",
         "model.epochs=6", "model.batch_size=16", "threads=1"]


def write_corpus(root, sizes={"train": 120, "val": 40, "test": 40}):
    """Documents mention 0-3 topic words among filler words; a topic word means its label."""
    rng = np.random.default_rng(0)
    filler = "the market report said that prices moved during the week".split()
    root.mkdir()
    for split, n in sizes.items():
        texts, labels = [], []
        for _ in range(n):
            words = [w for w in TOPICS if rng.random() < 0.4]
            body = list(rng.choice(filler, 8)) + words
            rng.shuffle(body)
            texts.append(" ".join(body))
            labels.append(" ".join(TOPICS[w] for w in words))
        (root / f"text_{split}").write_text("\n".join(texts) + "\n")
        (root / f"label_{split}").write_text("\n".join(labels) + "\n")
    return root


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    root = tmp_path_factory.mktemp("multi_label")
    corpus = write_corpus(root / "aapd")
    trained = run_cli(*SWEEP, f"dataset.source.path={corpus}", cwd=root)
    assert trained.returncode == 0, trained.stderr[-3000:]
    identified = run_cli("identify_pies.py", "multirun/ml", "--min-seeds", "2", "--out", "out", cwd=root)
    assert identified.returncode == 0, identified.stderr[-3000:]
    return root, identified


def test_runs_record_thresholds_and_multi_label_metrics(sweep):
    root, _ = sweep
    manifests = [json.loads(p.read_text()) for p in sorted((root / "multirun" / "ml").glob("*/manifest.json"))]
    assert len(manifests) == 4
    for manifest in manifests:
        assert manifest["status"] == "complete" and manifest["dataset"]["multi_label"] is True
        assert manifest["threshold"]["tuned_on"] == "validation" and manifest["threshold"]["value"] in GRID
        test = manifest["metrics"]["test"]
        assert {"accuracy", "macro_f1", "micro_f1", "macro_precision", "micro_recall"} <= set(test)
        assert manifest["predictions"]["test_final"]["classes"] == 3
    dense = [m for m in manifests if m["pruning"]["target"] == 0]
    assert min(m["metrics"]["test"]["macro_f1"] for m in dense) > 0.65  # topic words are learnable


def test_pies_are_multi_label_pies_of_the_logits(sweep):
    root, _ = sweep
    found = discover([str(root / "multirun" / "ml")]).complete
    dense = load_logits([r for r in found if r.manifest.is_dense], "test_final")
    pruned = load_logits([r for r in found if r.manifest.sparsity == 0.9], "test_final")
    assert dense.labels.shape == (40, 3) and dense.labels.dtype == np.int8
    flips = multi_label_pies(dense.logits, pruned.logits, dense.thresholds, pruned.thresholds)
    pies = pd.read_parquet(root / "out" / "pies.parquet")
    assert len(pies) == 40 and list(pies["example_id"]) == list(dense.example_ids)
    np.testing.assert_array_equal(pies["is_pie"].to_numpy(), flips.any(axis=1))
    assert [list(c) for c in pies["flipped_classes"]] == [np.flatnonzero(row).tolist() for row in flips]
    summary = pd.read_csv(root / "out" / "summary.csv")
    assert list(summary["method"]) == ["dense", "mp_ai"] and set(summary["metric"]) == {"macro_f1"}
    assert summary["pies"].iloc[1] == flips.any(axis=1).sum() and summary["flipped_decisions"].iloc[1] == flips.sum()


def test_analyses_and_report_for_multi_label(sweep):
    root, identified = sweep
    out = root / "out"
    classes = pd.read_csv(out / "classes.csv")
    assert len(classes) == 3 and {"count_pies", "flips"} <= set(classes.columns)
    assert set(pd.read_csv(out / "effectiveness.csv")["measure"]) == {"macro_f1"}
    assert set(pd.read_csv(out / "accuracy.csv")["metric"]) == {"macro_f1"}
    assert len(pd.read_csv(out / "influence.csv")) == 20
    assert (out / "report.html").stat().st_size > 10_000 and (out / "plots" / "classes_aapd_bilstm.png").exists()
    assert "(macro-F1)" in identified.stdout


def test_reference_threshold_tuning_on_training_epoch(tmp_path):
    """threshold.tune_on=train_epoch tunes τ on the last training epoch's outputs (the reference)."""
    corpus = write_corpus(tmp_path / "aapd")
    result = run_cli("train.py", "name=ref", "dataset=aapd", f"dataset.source.path={corpus}", "model.epochs=1",
                     "threads=1", "threshold.tune_on=train_epoch", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    manifest = json.loads(next((tmp_path / "runs" / "ref").glob("*/manifest.json")).read_text())
    assert manifest["threshold"]["tuned_on"] == "train_epoch" and manifest["threshold"]["value"] in GRID


def test_bad_threshold_source_is_refused_before_training(tmp_path):
    result = run_cli("train.py", "name=bad", "threshold.tune_on=test", "threads=1", cwd=tmp_path)
    assert result.returncode != 0 and "threshold.tune_on must be one of validation, train_epoch" in result.stderr
    assert not list((tmp_path / "runs").glob("*/*/predictions/*"))


def test_weka_corn_grain_runs_when_present(tmp_path):
    """The offline multi-label demo data (Debian weka's Reuters corn/grain) trains and predicts."""
    from pie.data.weka import weka_dir

    try:
        directory = weka_dir()
    except FileNotFoundError as error:
        pytest.skip(f"weka corn/grain files not present ({str(error)[:80]}...); `make weka-data` fetches them")
    result = run_cli("train.py", "name=cg", "dataset=reuters_corn_grain", f"dataset.source.directory={directory}",
                     "dataset.max_train_examples=200", "dataset.max_eval_examples=100", "model.epochs=1", "threads=1", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    manifest = json.loads(next((tmp_path / "runs" / "cg").glob("*/manifest.json")).read_text())
    assert manifest["dataset"]["label_names"] == ["corn", "grain"] and manifest["dataset"]["sizes"]["test"] == 100
