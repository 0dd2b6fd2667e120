"""A sweep on a real one-node SLURM cluster: hydra/launcher=slurm submits it as one array job, a
preempted run is requeued by submitit and resumes from its checkpoint, and with
hydra.launcher.runs_per_task=2 one array task trains two runs at once with the same results."""

import json
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf

from conftest import TINY, run_cli
from pie.runs.manifest import Run, read_manifest
from pie.runs.predictions import locate, read_predictions
from slurm_cluster import run_sweep, sacct_tasks, slurm_cluster  # noqa: F401 (slurm_cluster: the fixture)

pytestmark = [pytest.mark.slurm, pytest.mark.slow]
SEEDS = (0, 1, 2, 3)


@pytest.fixture(scope="module")
def sweep(slurm_cluster, tmp_path_factory):
    """4 seeds of the tiny BiLSTM run, one SLURM array task each."""
    root = tmp_path_factory.mktemp("slurm")
    sweep = run_sweep(slurm_cluster, root, "slurm", f"seed={','.join(map(str, SEEDS))}", *TINY)
    assert sweep.result.returncode == 0, sweep.result.stderr[-3000:]
    return sweep


def _run_dir(sweep, seed: int):
    return sweep.submitit.parent / f"dataset.max_eval_examples=40,dataset.max_train_examples=64,model.epochs=1,seed={seed},threads=1"


def test_every_seed_wrote_a_complete_run(sweep):
    """One run directory per seed; each manifest is complete and every prediction file it lists is intact."""
    runs = sorted(p.name for p in sweep.submitit.parent.iterdir() if (p / "manifest.json").exists())
    assert runs == sorted(_run_dir(sweep, s).name for s in SEEDS)
    for seed in SEEDS:
        manifest = json.loads((_run_dir(sweep, seed) / "manifest.json").read_text())
        assert manifest["status"] == "complete" and manifest["seed"] == seed
        assert set(manifest["predictions"]) == {"train_epoch1", "train_final", "validation_final", "test_final"}
        for name in manifest["predictions"]:
            path, record = locate(Run(_run_dir(sweep, seed), read_manifest(_run_dir(sweep, seed))), name)
            assert len(read_predictions(path, record).ids) == record.rows


def test_the_sweep_was_one_array_job_of_completed_tasks(sweep, slurm_cluster):
    """One array id; its 4 tasks each have a submitit folder and finished COMPLETED on 1 CPU in sacct."""
    array = sweep.array_id
    tasks = [f"{array}_{i}" for i in range(len(SEEDS))]
    assert sorted(p.name for p in sweep.submitit.glob(f"{array}_*")) == tasks
    records = sacct_tasks(array, len(SEEDS))
    assert {job: r["State"] for job, r in records.items()} == {job: "COMPLETED" for job in tasks}
    assert all(r["Partition"] == slurm_cluster.partition and r["AllocCPUS"] == "1" and r["ExitCode"] == "0:0"
               for r in records.values())


def test_each_run_knew_its_array_task(sweep):
    """submitit read the SLURM array variables in each job: Hydra's job id is <array>_<task>, task = job number."""
    array = sweep.array_id
    for task, seed in enumerate(SEEDS):
        job = OmegaConf.load(_run_dir(sweep, seed) / ".hydra" / "hydra.yaml").hydra.job
        assert (job.id, job.num) == (f"{array}_{task}", task)
        log = "".join(p.read_text() for p in (sweep.submitit / f"{array}_{task}").glob("*_log.*"))
        assert f"JobEnvironment(job_id={array}_{task}, hostname=" in log
        assert "Job completed successfully" in log


PACKED = ["hydra.launcher.runs_per_task=2", "hydra.launcher.cpus_per_task=2"]


def _span(run_dir: Path) -> tuple[float, float]:
    """When the run's process began (Hydra wrote its .hydra/config.yaml, before training) and when
    it completed (its manifest's last write), from the files' mtimes: the manifest's start time
    has whole seconds only, too coarse for runs of about a second."""
    return (run_dir / ".hydra" / "config.yaml").stat().st_mtime, (run_dir / "manifest.json").stat().st_mtime


def test_two_runs_per_task_train_at_once_and_equal_one_run_per_task(sweep, slurm_cluster, tmp_path):
    """hydra.launcher.runs_per_task=2 on 2 CPUs, 1 thread per run: the 4 seeds are one array job of 2
    tasks; each task trained its 2 runs at the same time in 2 processes, and every run's logits
    equal the one-run-per-task sweep's."""
    packed = run_sweep(slurm_cluster, tmp_path, "packed", f"seed={','.join(map(str, SEEDS))}", *TINY, *PACKED)
    assert packed.result.returncode == 0, packed.result.stderr[-3000:]
    array = packed.array_id
    records = sacct_tasks(array, 2)
    assert {job: (r["State"], r["AllocCPUS"]) for job, r in records.items()} == {f"{array}_{t}": ("COMPLETED", "2") for t in (0, 1)}
    for task, seeds in enumerate((SEEDS[:2], SEEDS[2:])):
        manifests = [read_manifest(_run_dir(packed, s)) for s in seeds]
        attempts = [m.attempts[-1] for m in manifests]
        assert all(m.complete for m in manifests) and len({a.slurm_job_id for a in attempts}) == 1
        assert [OmegaConf.load(_run_dir(packed, s) / ".hydra" / "hydra.yaml").hydra.job.id for s in seeds] == [f"{array}_{task}"] * 2
        assert attempts[0].pid != attempts[1].pid
        (start_a, end_a), (start_b, end_b) = (_span(_run_dir(packed, s)) for s in seeds)
        assert max(start_a, start_b) < min(end_a, end_b), "the task's two runs did not overlap"
        for seed in seeds:
            one, two = (Run(_run_dir(s, seed), read_manifest(_run_dir(s, seed))) for s in (sweep, packed))
            for name in one.manifest.predictions:
                assert np.array_equal(read_predictions(*locate(one, name)).logits, read_predictions(*locate(two, name)).logits), (seed, name)


LONG = ["dataset.max_train_examples=1000", "dataset.max_eval_examples=40", "model.epochs=8", "model.batch_size=16", "threads=1"]


def _wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}", pytrace=False)
        time.sleep(0.2)


def _state(job_id: str) -> str:
    return subprocess.run(["squeue", "-h", "-j", job_id, "-o", "%T"], capture_output=True, text=True).stdout.strip()


def _steps(job_id: str) -> str:
    return subprocess.run(["squeue", "-h", "-s", "-j", job_id], capture_output=True, text=True).stdout.strip()


def _alive(pid: int) -> bool:
    """A process that exists and is not a zombie."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in status


@pytest.mark.parametrize("runs_per_task", [1, 2])
def test_a_preempted_run_requeues_and_resumes_from_its_checkpoint(slurm_cluster, tmp_path, runs_per_task):
    """USR2 mid-training (the signal SLURM sends before the time limit, or before preemption where
    the cluster sends one): submitit requeues the task, the requeued task resumes from last.ckpt,
    and its logits equal an uninterrupted run's. With 2 runs per task (seeds 0 and 1 in task 0,
    seed 2 in task 1: a sweep of one task would be a plain job, not an array) both runs of the
    task were stopped, and both completed after the requeue."""
    name, packed = f"preempt{runs_per_task}", PACKED if runs_per_task == 2 else []
    seeds = "seed=0,1,2" if packed else "seed=0,1"
    box = []
    worker = threading.Thread(target=lambda: box.append(run_sweep(slurm_cluster, tmp_path, name, seeds, *LONG, *packed)))
    worker.start()
    run_dir = tmp_path / "multirun" / name / ",".join(sorted([*LONG, "seed=0"]))  # Hydra sorts the overrides
    # With 2 runs per task, wait for seed 1's first checkpoint as well: a run stopped before its
    # first checkpoint restarts from scratch (a fresh manifest), so it would not show the requeue.
    started = [run_dir] + ([run_dir.parent / run_dir.name.replace("seed=0", "seed=1")] if packed else [])
    for seed, directory in enumerate(started):
        _wait_for(lambda: (directory / "checkpoints" / "last.ckpt").exists(), 300, f"the first epoch checkpoint of seed {seed}")
    attempt = json.loads((run_dir / "manifest.json").read_text())["attempts"][-1]
    job_id = attempt["slurm_job_id"]
    subprocess.run(["scancel", "--signal=USR2", job_id], check=True)
    # SLURM holds a requeued batch job back for two minutes (BeginTime). Release it once the old
    # attempt is gone (its process and its job steps: the requeued job keeps the same id, and a
    # step still being torn down would take the new attempt's processes with it).
    _wait_for(lambda: _state(job_id) == "PENDING" and not _steps(job_id) and not _alive(attempt["pid"]), 120,
              f"job {job_id} to be requeued and its old attempt to exit")
    time.sleep(2)
    subprocess.run(["scontrol", "update", f"JobId={job_id}", "StartTime=now"], check=True)
    worker.join(600)
    sweep = box[0]
    log = "".join(p.read_text() for p in sorted((sweep.submitit / f"{sweep.array_id}_0").glob("*_log.*")))
    assert sweep.result.returncode == 0, sweep.result.stderr[-3000:] + "\ntask 0's submitit log:\n" + log[-4000:]

    manifest = json.loads((run_dir / "manifest.json").read_text())
    first, second = manifest["attempts"]
    assert manifest["status"] == "complete" and first["slurm_job_id"] == second["slurm_job_id"] == job_id
    assert first["resumed_from"] is None and second["resumed_from"]["epochs_done"] >= 1 and second["slurm_restart_count"] == "1"
    assert "Caught signal SIGUSR2" in log and f"Requeued job {sweep.array_id}_0" in log and "resuming" in log
    assert sacct_tasks(sweep.array_id, 2)[f"{sweep.array_id}_0"]["State"] == "COMPLETED"
    if packed:
        other = json.loads((started[1] / "manifest.json").read_text())
        assert other["status"] == "complete" and [a["slurm_job_id"] for a in other["attempts"]] == [job_id, job_id]

    local = run_cli("train.py", "-m", "name=uninterrupted", "seed=0", *LONG, cwd=tmp_path)
    assert local.returncode == 0, local.stderr[-3000:]
    reference = tmp_path / "multirun" / "uninterrupted" / run_dir.name
    expected = json.loads((reference / "manifest.json").read_text())
    assert manifest["weights"]["final"]["sha256"] == expected["weights"]["final"]["sha256"]
    for name, record in expected["predictions"].items():
        a = read_predictions(*locate(Run(reference, read_manifest(reference)), name))
        b = read_predictions(*locate(Run(run_dir, read_manifest(run_dir)), name))
        assert np.array_equal(a.logits, b.logits), name
