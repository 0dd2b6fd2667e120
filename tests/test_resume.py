"""The pieces of crash safety on their own: run lock, fail points, temporaries, resumable data
order, RNG capture, checkpoint reading, metrics-log trimming, resume decisions."""

import csv
import json
import os
import random
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from conftest import ROOT, TINY, lock_holder, run_cli
from pie.data.sampler import EpochShuffle
from pie.atomic import remove_temporaries
from pie.faults import ENV, fault_point
from pie.runs.lock import RunLocked, run_lock
from pie.runs.manifest import write_manifest
from manifests import make_manifest
from pie.runs.identity import stored_run_key
from pie.runs.paths import RunPaths
from pie.runs.resume import (
    AtomicCheckpointIO, _rng_state, _set_rng_state, find_resume_point, trim_metrics_log,
)


def test_second_writer_of_a_run_directory_is_refused(tmp_path):
    """flock is per open file: a second holder, even in the same process, is refused by name."""
    with run_lock(tmp_path):
        with pytest.raises(RunLocked, match=f"{tmp_path} is being written by another process .*pid {os.getpid()}"):
            with run_lock(tmp_path):
                pass
    with run_lock(tmp_path):  # released on exit
        pass


def test_lock_waits_for_a_holder_that_is_shutting_down(tmp_path):
    """With wait_s, a holder that lets go in time is waited for; one that does not is named."""
    holder = lock_holder(tmp_path, hold_s=2)
    with pytest.raises(RunLocked, match=r"waited 0.5 s"):
        with run_lock(tmp_path, wait_s=0.5):
            pass
    started = time.monotonic()
    with run_lock(tmp_path, wait_s=30):
        assert time.monotonic() - started > 0.5  # it did wait for the holder's release
    assert holder.wait(10) == 0


def test_lock_dies_with_its_holder(tmp_path):
    """A SIGKILLed holder leaves no stale lock behind."""
    holder = lock_holder(tmp_path, hold_s=60)
    with pytest.raises(RunLocked, match=f"pid {holder.pid}"):
        with run_lock(tmp_path):
            pass
    holder.send_signal(signal.SIGKILL)
    holder.wait(10)
    with run_lock(tmp_path):
        pass


@pytest.mark.slow
def test_train_refuses_a_locked_run_directory(tmp_path):
    """train.py on a run directory another process holds: a clear error, nothing written."""
    run_dir = tmp_path / "run"
    with run_lock(run_dir):
        result = run_cli("train.py", f"hydra.run.dir={run_dir}", *TINY, cwd=tmp_path)
    assert result.returncode != 0
    assert "is being written by another process" in result.stderr and "wait for that one to finish" in result.stderr
    assert not (run_dir / "manifest.json").exists()


def test_fault_point_kills_on_the_nth_hit(tmp_path):
    code = "from pie.faults import fault_point\nfor i in range(5):\n    print(i, flush=True); fault_point('p')\n"
    result = subprocess.run([sys.executable, "-c", code], env={**os.environ, ENV: "p@3"}, capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == -signal.SIGKILL and result.stdout.split() == ["0", "1", "2"]
    other = subprocess.run([sys.executable, "-c", code], env={**os.environ, ENV: "q@1"}, capture_output=True, text=True, cwd=ROOT)
    assert other.returncode == 0 and other.stdout.split() == ["0", "1", "2", "3", "4"]


def test_fault_spec_errors_name_the_format(monkeypatch):
    monkeypatch.setenv(ENV, "train_batch@x")
    with pytest.raises(ValueError, match="expected <point>@<n>"):
        fault_point("train_batch")


def test_temporaries_of_killed_writes_are_removed(tmp_path):
    (tmp_path / "predictions").mkdir()
    (tmp_path / "predictions" / ".test_final.parquet.123.tmp").write_bytes(b"half")
    (tmp_path / ".manifest.json.9.tmp").write_text("{")
    (tmp_path / "manifest.json").write_text("{}")
    assert remove_temporaries(tmp_path) == 2
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == ["manifest.json"]
    assert remove_temporaries(tmp_path / "missing") == 0


def test_epoch_shuffle_is_a_function_of_seed_and_epoch():
    """The same (seed, epoch) gives the same order whatever the global RNG did; epochs differ."""
    sampler = EpochShuffle(50, seed=3)
    sampler.set_epoch(2)
    first = list(sampler)
    torch.manual_seed(123)
    torch.rand(10)
    again = EpochShuffle(50, seed=3)
    again.set_epoch(2)
    assert list(again) == first and sorted(first) == list(range(50)) and len(sampler) == 50
    again.set_epoch(3)
    assert list(again) != first
    assert list(EpochShuffle(50, seed=4)) != list(EpochShuffle(50, seed=3))


def test_rng_state_round_trips_through_a_weights_only_checkpoint(tmp_path):
    torch.manual_seed(1), np.random.seed(2), random.seed(3)
    state = _rng_state()
    expected = (torch.rand(3), np.random.rand(3), random.random())
    AtomicCheckpointIO().save_checkpoint({"rng": state}, tmp_path / "c.ckpt")
    torch.rand(5), np.random.rand(5), random.random()
    _set_rng_state(AtomicCheckpointIO().load_checkpoint(tmp_path / "c.ckpt")["rng"])
    again = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(expected[0], again[0]) and np.array_equal(expected[1], again[1]) and expected[2] == again[2]


class Arbitrary:
    pass


def test_checkpoints_are_read_without_unpickling_objects(tmp_path):
    torch.save({"payload": Arbitrary()}, tmp_path / "evil.ckpt")
    with pytest.raises(Exception, match="Weights only load failed"):
        AtomicCheckpointIO().load_checkpoint(tmp_path / "evil.ckpt")


def test_metrics_log_keeps_only_the_epochs_before_the_checkpoint(tmp_path):
    path = tmp_path / "metrics.csv"
    rows = [{"epoch": e, "step": 4 * e + 3, "train/loss": 1.0 / (e + 1)} for e in range(4)]
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["epoch", "step", "train/loss"])
        writer.writeheader()
        writer.writerows(rows)
    trim_metrics_log(path, epochs_done=2)
    with open(path, newline="") as handle:
        assert [int(r["epoch"]) for r in csv.DictReader(handle)] == [0, 1]
    trim_metrics_log(tmp_path / "absent.csv", 1)


def _interrupted_run(run_dir, status="running", checkpoint=b"valid") -> str:
    """A run directory with a manifest and an epoch checkpoint; returns the run's key."""
    manifest = make_manifest(status=status)
    write_manifest(run_dir, manifest)
    path = RunPaths.of(run_dir).last_checkpoint
    path.parent.mkdir(parents=True, exist_ok=True)
    if checkpoint == b"valid":
        AtomicCheckpointIO().save_checkpoint({"epoch": 2, "global_step": 12}, path)
    else:
        path.write_bytes(checkpoint)
    return stored_run_key(manifest)


def test_resume_point_of_an_interrupted_run(tmp_path):
    key = _interrupted_run(tmp_path)
    point = find_resume_point(tmp_path, key)
    assert (point.epochs_done, point.global_step, point.structure) == (3, 12, None)
    assert find_resume_point(tmp_path / "nothing", key) is None


@pytest.mark.parametrize("other_key, status, checkpoint", [
    (True, "running", b"valid"),        # another configuration wrote this directory
    (False, "complete", b"valid"),      # nothing to resume
    (False, "running", b"\x80truncated"),  # an unreadable checkpoint: start afresh
])
def test_no_resume_point(tmp_path, other_key, status, checkpoint):
    key = _interrupted_run(tmp_path, status=status, checkpoint=checkpoint)
    assert find_resume_point(tmp_path, "another-key" if other_key else key) is None


def test_manifest_without_status_is_not_resumed(tmp_path):
    key = _interrupted_run(tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps({"keys": {}}))
    assert find_resume_point(tmp_path, key) is None


@pytest.mark.slow
def test_a_complete_run_with_a_damaged_file_is_rerun(tmp_path):
    """Rerunning a complete run checks its prediction files; a truncated one makes it run again,
    from scratch, to the same bytes."""
    run_dir = tmp_path / "run"
    first = run_cli("train.py", f"hydra.run.dir={run_dir}", *TINY, cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    manifest = json.loads((run_dir / "manifest.json").read_text())
    again = run_cli("train.py", f"hydra.run.dir={run_dir}", *TINY, cwd=tmp_path)
    assert "skip" in again.stdout + again.stderr and json.loads((run_dir / "manifest.json").read_text()) == manifest
    victim = run_dir / "predictions" / "test_final.parquet"
    victim.write_bytes(victim.read_bytes()[:100])
    rerun = run_cli("train.py", f"hydra.run.dir={run_dir}", *TINY, cwd=tmp_path)
    output = rerun.stdout + rerun.stderr
    assert rerun.returncode == 0 and "fail their checks" in output and "checksum" in output
    redone = json.loads((run_dir / "manifest.json").read_text())
    assert redone["status"] == "complete" and len(redone["attempts"]) == 1
    assert redone["predictions"] == manifest["predictions"]
