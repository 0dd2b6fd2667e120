"""Structured and N:M populations end to end: a sweep of unstructured, structured and 2:4 runs at
one sparsity analysed by identify_pies against the dense population, and a structured run with
rewinding killed after a prune and resumed, bit-identical to an uninterrupted one."""

import numpy as np
import pandas as pd
import pytest

from conftest import TINY, run_cli
from pie.runs.discovery import load_logits
from pie.runs.manifest import Run, read_manifest

pytestmark = pytest.mark.slow


def test_structured_and_nm_populations_feed_identify_pies(tmp_path):
    result = run_cli("train.py", "-m", "name=cmp", "seed=0,1", "pruning=omp_ft,structured_ft,nm_ft", "sparsity=0,0.5", *TINY,
                     cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "8 distinct runs" in result.stdout  # the three sparsity-0 jobs of a seed are one dense run
    identified = run_cli("identify_pies.py", "multirun/cmp", "--min-seeds", "2", "--no-texts", "--out", "out", cwd=tmp_path)
    assert identified.returncode == 0, identified.stderr[-3000:]
    summary = pd.read_csv(tmp_path / "out" / "summary.csv")
    assert list(summary["method"]) == ["dense", "nm_ft", "omp_ft", "structured_ft"]
    assert list(summary["seeds"]) == [2, 2, 2, 2] and summary["pie_percent"][1:].notna().all()


def test_structured_rewinding_run_resumes_bit_identical_after_a_kill(tmp_path):
    """structured_imp_wr with E = 1 (one batch per epoch) prunes after epochs 1, 2 and 3; killed
    in epoch 2, it resumes from the checkpoint written after the first prune (pruned shapes,
    rewind snapshot with them) and ends with the uninterrupted run's logits."""
    args = ["pruning=structured_imp_wr", "sparsity=0.5", *TINY]
    clean = run_cli("train.py", "name=clean", *args, cwd=tmp_path)
    assert clean.returncode == 0, clean.stderr[-3000:]
    killed = run_cli("train.py", "name=killed", *args, cwd=tmp_path, env={"PIE_FAULT": "train_batch@3"})
    assert killed.returncode != 0 and list((tmp_path / "runs" / "killed").glob("*/checkpoints/last.ckpt"))
    resumed = run_cli("train.py", "name=killed", *args, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    runs = {name: Run(path.parent, read_manifest(path.parent))
            for name in ("clean", "killed") for path in (tmp_path / "runs" / name).glob("*/manifest.json")}
    assert runs["killed"].manifest.attempts[-1].resumed_from["epochs_done"] == 2
    assert runs["killed"].manifest.pruning.structure == runs["clean"].manifest.pruning.structure
    logits = {name: load_logits([run], "test_final").logits[0] for name, run in runs.items()}
    assert np.array_equal(logits["killed"], logits["clean"])
