"""Fault injection: a sweep killed with SIGKILL at random points (inside training, while writing
prediction files, manifests or checkpoints, and from outside at random times) and rerun until it
finishes ends with every run complete exactly once and logits bit-identical to an
uninterrupted sweep."""

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT
from pie.faults import ENV
from pie.runs.manifest import Run, read_manifest
from pie.runs.predictions import locate, read_predictions

pytestmark = pytest.mark.slow
# 2 seeds x (dense 2 epochs, IMP-WR 8 epochs with rewinding): 4 batches per epoch, 80 in all.
RUNS = ["seed=0,1", "pruning=imp_wr", "sparsity=0,0.5"]
SMALL = ["dataset.max_train_examples=128", "dataset.max_eval_examples=40", "model.epochs=2", "model.batch_size=32", "threads=1"]
KILL_PLAN_SEED = 20261201


def sweep(root: Path, name: str, fault: str | None = None, kill_after_s: float | None = None) -> int:
    """Run the sweep (in its own process group); return its exit code (-9 when killed)."""
    env = {**os.environ, "PIE_CACHE_DIR": str(root / "cache"), "PYTHONUNBUFFERED": "1"}
    env.pop(ENV, None)
    if fault:
        env[ENV] = fault
    with open(root / f"{name}.log", "a") as log:
        process = subprocess.Popen(
            [sys.executable, str(ROOT / "train.py"), "-m", f"name={name}", *RUNS, *SMALL],
            cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        try:
            return process.wait(timeout=kill_after_s)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            return process.wait()


def run_dirs(root: Path, name: str) -> dict[str, Path]:
    return {p.name: p for p in sorted((root / "multirun" / name).iterdir()) if p.is_dir()}


def complete_manifests(root: Path, name: str) -> dict[str, str]:
    """{run: sha256 of its manifest} for the runs whose manifest says complete."""
    done = {}
    for run, directory in run_dirs(root, name).items():
        path = directory / "manifest.json"
        if path.exists() and json.loads(path.read_text())["status"] == "complete":
            done[run] = hashlib.sha256(path.read_bytes()).hexdigest()
    return done


def kill_plan(rng: random.Random) -> list[tuple[str | None, float | None]]:
    """(fail point, or None with a kill time in seconds) for each interrupted attempt."""
    return [
        (f"train_batch@{rng.randint(1, 20)}", None),
        (f"write:train_epoch1.parquet@{rng.randint(1, 2)}", None),
        (f"write:manifest.json@{rng.randint(1, 3)}", None),
        (None, rng.uniform(6.0, 12.0)),
        (f"write:test_final.parquet@{rng.randint(1, 2)}", None),
        (f"write:last.ckpt@{rng.randint(1, 4)}", None),
        (f"train_batch@{rng.randint(1, 10)}", None),
        ("write:validation_final.parquet@1", None),
        (f"write:manifest.json@{rng.randint(1, 2)}", None),
    ]


@pytest.fixture(scope="module")
def sweeps(tmp_path_factory):
    root = tmp_path_factory.mktemp("faults")
    assert sweep(root, "clean") == 0, (root / "clean.log").read_text()[-3000:]
    kills, first_completion = [], {}
    for fault, after in kill_plan(random.Random(KILL_PLAN_SEED)):
        code = sweep(root, "faulty", fault, after)
        kills.append((fault or f"external SIGKILL after {after:.1f}s", code))
        for run, digest in complete_manifests(root, "faulty").items():
            assert first_completion.setdefault(run, digest) == digest, f"{run} was completed a second time"
    for _ in range(3):  # rerun until done
        if sweep(root, "faulty") == 0:
            break
    for run, digest in complete_manifests(root, "faulty").items():
        assert first_completion.setdefault(run, digest) == digest, f"{run} was completed a second time"
    return root, kills


def test_most_attempts_were_killed(sweeps):
    """The plan's fail points were reached (SIGKILL, exit -9) while work remained."""
    _, kills = sweeps
    killed = [k for k, code in kills if code == -signal.SIGKILL]
    print("kill points:", kills)
    assert len(killed) >= len(kills) - 2, kills


def test_every_run_completes_exactly_once(sweeps):
    """Four run directories, each complete with one manifest that never changed once complete,
    no checkpoint or temporary file left, and at least one run that resumed mid-training."""
    root, _ = sweeps
    runs = run_dirs(root, "faulty")
    assert sorted(runs) == sorted(run_dirs(root, "clean")) and len(runs) == 4
    resumed = []
    for directory in runs.values():
        manifest = json.loads((directory / "manifest.json").read_text())
        assert manifest["status"] == "complete"
        assert not list(directory.rglob("*.tmp")) and not (directory / "checkpoints" / "last.ckpt").exists()
        resumed += [a["resumed_from"]["epochs_done"] for a in manifest["attempts"] if a["resumed_from"]]
    assert resumed and min(resumed) >= 1


def test_logits_are_bit_identical_to_an_uninterrupted_sweep(sweeps):
    root, _ = sweeps
    clean, faulty = run_dirs(root, "clean"), run_dirs(root, "faulty")
    for run, directory in clean.items():
        expected, got = Run(directory, read_manifest(directory)), Run(faulty[run], read_manifest(faulty[run]))
        names = sorted(expected.manifest.predictions)
        assert sorted(got.manifest.predictions) == names == ["test_final", "train_epoch1", "train_final", "validation_final"]
        for name in names:
            a, b = read_predictions(*locate(expected, name)), read_predictions(*locate(got, name))
            assert np.array_equal(a.logits, b.logits) and a.ids.equals(b.ids), f"{run} {name}"
        assert got.manifest.weights.final.sha256 == expected.manifest.weights.final.sha256
        assert got.manifest.metrics == expected.manifest.metrics and got.manifest.pruning.steps == expected.manifest.pruning.steps
