"""What a user sees when something goes wrong: one line (what, why, how to fix) and exit code 2
for a mistake, before any compute where the input allows it and with nothing half-written; one
line and exit code 130 for Ctrl-C; a failed run's error in its log and manifest. And the
ergonomics around sweeps: unquoted integer ranges, --help, --dry-run, progress, default names."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from conftest import ROOT, TINY, lock_holder, run_cli

pytestmark = pytest.mark.slow


def one_line(result) -> str:
    """The error line of a command that must fail with exit code 2 and no traceback."""
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    assert "Traceback" not in result.stderr + result.stdout
    lines = [line for line in result.stderr.splitlines() if "error" in line]
    assert len(lines) == 1, result.stderr
    return lines[0]


def manifests(root, pattern="multirun/*/*/manifest.json"):
    return [json.loads(p.read_text()) for p in sorted(root.glob(pattern))]


# ---------------------------------------------------------------------------------------------
# mistakes: one line, exit code 2, nothing left behind


@pytest.mark.parametrize("overrides, message", [
    (["sparsity=1.5"], "sparsity must be in [0, 1), got 1.5"),
    (["seed=abc"], "seed must be an integer, got 'abc'"),
    (["pruning=imp_ft"], "pruning=imp_ft with sparsity=0 prunes nothing"),
    (["dataset=aapd"], "dataset.source.path must be given"),
    (["trainer=gpu"], "trainer=gpu but this machine has no CUDA device"),
])
def test_a_single_run_with_a_bad_config_is_one_line_and_leaves_no_directory(overrides, message, tmp_path):
    if "trainer=gpu" in overrides and torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    line = one_line(run_cli("train.py", "name=bad", *overrides, *TINY, cwd=tmp_path))
    assert line.startswith("train.py: error: ") and message in line
    assert not (tmp_path / "runs" / "bad").exists() or not any((tmp_path / "runs" / "bad").iterdir())


def test_prune_py_without_source_is_one_line(tmp_path):
    for args in (["prune.py"], ["prune.py", "-m", "seed=0,1"]):
        result = run_cli(*args, cwd=tmp_path)
        assert result.returncode == 2 and "source must be given" in result.stderr and "Traceback" not in result.stderr


def test_a_run_locked_by_another_process_is_one_line(tmp_path):
    run_dir = tmp_path / "runs" / "locked"
    holder = lock_holder(run_dir, hold_s=60)
    try:
        line = one_line(run_cli("train.py", f"hydra.run.dir={run_dir}", *TINY, cwd=tmp_path, env={"PIE_LOCK_WAIT_S": "1"}))
    finally:
        holder.kill()
    assert f"pid {holder.pid}" in line and "wait for that one to finish" in line


def test_identify_pies_refuses_an_unwritable_output_folder_before_computing(tmp_path):
    (tmp_path / "a_file").write_text("x")
    started = time.monotonic()
    line = one_line(run_cli("identify_pies.py", "multirun/nothing", "--out", "a_file/out", cwd=tmp_path))
    assert "cannot write the output folder a_file/out" in line and time.monotonic() - started < 30


def test_identify_pies_refuses_an_unwritable_cache_folder_before_computing(tmp_path):
    (tmp_path / "a_file").write_text("x")
    started = time.monotonic()
    line = one_line(run_cli("identify_pies.py", "multirun/nothing", cwd=tmp_path, env={"PIE_CACHE_DIR": str(tmp_path / "a_file")}))
    assert f"cannot write the cache folder {tmp_path / 'a_file'}" in line and "set PIE_CACHE_DIR" in line
    assert time.monotonic() - started < 30


def test_identify_pies_refuses_no_workers_before_computing(tmp_path):
    line = one_line(run_cli("identify_pies.py", "multirun/nothing", "--workers", "0", cwd=tmp_path))
    assert "--workers must be at least 1, got 0" in line


def test_a_damaged_manifest_makes_the_run_rerun_from_scratch(tmp_path):
    run_dir = tmp_path / "runs" / "r"
    assert run_cli("train.py", f"hydra.run.dir={run_dir}", *TINY, cwd=tmp_path).returncode == 0
    (run_dir / "manifest.json").write_text('{"status": "compl')
    rerun = run_cli("train.py", f"hydra.run.dir={run_dir}", *TINY, cwd=tmp_path)
    assert rerun.returncode == 0 and "from scratch" in rerun.stdout + rerun.stderr
    assert json.loads((run_dir / "manifest.json").read_text())["status"] == "complete"


# ---------------------------------------------------------------------------------------------
# interrupts and failures


def test_ctrl_c_says_how_to_resume_and_the_rerun_resumes(tmp_path):
    run_dir = tmp_path / "runs" / "i"
    args = [f"hydra.run.dir={run_dir}", "dataset.max_train_examples=600", "dataset.max_eval_examples=40", "model.epochs=4", "threads=1"]
    process = subprocess.Popen([sys.executable, str(ROOT / "train.py"), *args], cwd=tmp_path, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "PIE_CACHE_DIR": str(tmp_path / "cache")})
    checkpoint = run_dir / "checkpoints" / "last.ckpt"
    deadline = time.monotonic() + 300
    while not checkpoint.exists() and time.monotonic() < deadline:  # interrupt after the first epoch's checkpoint
        time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr[-2000:]
    assert "train.py: interrupted; rerun the same command to resume" in stderr and "Traceback" not in stderr
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "interrupted" and "KeyboardInterrupt" in manifest["attempts"][-1]["error"]
    rerun = run_cli("train.py", *args, cwd=tmp_path)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["attempts"][-1]["resumed_from"]["epochs_done"] >= 1


def test_a_failed_run_is_marked_failed_with_its_error_in_its_log(tmp_path):
    run_dir = tmp_path / "runs" / "f"
    result = run_cli("train.py", f"hydra.run.dir={run_dir}", "model.optimizer.lr=-1", *TINY, cwd=tmp_path)
    assert result.returncode == 1
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "failed" and "Invalid learning rate" in manifest["attempts"][-1]["error"]
    log = (run_dir / "train.log").read_text()
    assert "Traceback" in log and "Invalid learning rate" in log and "resumes it from its last checkpoint" in log


# ---------------------------------------------------------------------------------------------
# sweeps: ranges, help, dry run, progress, names


def test_an_unquoted_integer_range_sweeps_and_the_dry_run_plans_without_running(tmp_path):
    plan = run_cli("train.py", "-m", "seed=0..2", *TINY, "--dry-run", cwd=tmp_path)
    assert plan.returncode == 0, plan.stderr[-2000:]
    assert "3 runs: 0 complete (skipped), 0 resume from a checkpoint, 3 new" in plan.stdout
    assert not list(tmp_path.glob("multirun/*/*/manifest.json"))
    swept = run_cli("train.py", "-m", "seed=0..2", *TINY, cwd=tmp_path)
    assert swept.returncode == 0, swept.stderr[-2000:]
    runs = manifests(tmp_path, "multirun/rotten_tomatoes_bilstm/*/manifest.json")  # the default name: <dataset>_<model>
    assert sorted(m["seed"] for m in runs) == [0, 1, 2]
    assert "sweep rotten_tomatoes_bilstm: 3 of 3 runs complete" in swept.stdout + swept.stderr
    again = run_cli("train.py", "-m", "seed=0..3", *TINY, "--dry-run", cwd=tmp_path)
    assert "4 runs: 3 complete (skipped), 0 resume from a checkpoint, 1 new; about" in again.stdout


def test_help_lists_each_apps_own_choices(tmp_path):
    train, prune = run_cli("train.py", "--help", cwd=tmp_path), run_cli("prune.py", "--help", cwd=tmp_path)
    assert train.returncode == prune.returncode == 0
    assert "dataset:" in train.stdout and "rotten_tomatoes" in train.stdout and "seed=0..29" in train.stdout
    assert "source (required" in prune.stdout and "dataset:" not in prune.stdout and "imp_ft" in prune.stdout


def test_identify_pies_names_its_output_after_a_glob_without_its_wildcards():
    sys.path.insert(0, str(ROOT))
    from identify_pies import default_out

    assert str(default_out("multirun/bert-*")) == "results/bert" and str(default_out("multirun/demo/")) == "results/demo"


# ---------------------------------------------------------------------------------------------
# W&B: one group per population, names that say what the run is, resumed runs continue


def test_wandb_runs_are_grouped_by_population_and_a_resumed_run_continues_its_wandb_run(tmp_path):
    env = {"WANDB_MODE": "offline"}
    args = ["-m", "name=w", "logger=wandb", "seed=0", "pruning=imp_ft", "sparsity=0,0.5", *TINY]
    killed = run_cli("train.py", *args, cwd=tmp_path, env={**env, "PIE_FAULT": "train_batch@5"})
    assert killed.returncode != 0
    resumed = run_cli("train.py", *args, cwd=tmp_path, env=env)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "wandb:" not in resumed.stdout + resumed.stderr  # quiet unless WANDB_SILENT=false
    for directory in sorted(tmp_path.glob("multirun/w/*")):
        if not (directory / "manifest.json").exists():
            continue
        manifest = json.loads((directory / "manifest.json").read_text())
        logged = sorted((directory / "logs" / "wandb").glob("offline-run-*"))
        assert logged and all(run.name.endswith(manifest["log_id"]) for run in logged)  # every attempt logs to one W&B run
        record = b"".join(path.read_bytes() for run in logged for path in run.glob("run-*.wandb"))
        dense = manifest["pruning"]["method"] == "dense"
        group = b"rotten_tomatoes/bilstm/dense@0" if dense else b"rotten_tomatoes/bilstm/imp_ft@0.5"
        assert group in record and (b"dense" if dense else b"pruned") in record and b"test/accuracy" in record
        assert f"rotten_tomatoes-bilstm-{'dense-s0' if dense else 'imp_ft-s0.5'}-seed0".encode() in record
    assert any(len(list((d / "logs" / "wandb").glob("offline-run-*"))) == 2 for d in tmp_path.glob("multirun/w/*"))
