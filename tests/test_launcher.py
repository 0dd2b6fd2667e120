"""pie's SLURM launcher without a cluster: an array task runs its K runs at once in separate
processes, what a run raised is raised by its task, USR2 stays the task's, no run outlives its
task, and a sweep whose tasks cannot hold K x threads is refused before anything is submitted
(the cluster test is tests/test_slurm.py)."""

import os
import signal
import time

import pytest
from omegaconf import OmegaConf

from conftest import TINY, run_cli
from hydra_plugins.pie_launcher.packed_launcher import RunsOfOneTask
from hydra_plugins.pie_sweeper.checked_sweeper import CheckedSweeper


class FakeLauncher:
    """Stands in for the launcher's per-job call, which runs one Hydra job: returns (job number,
    pid, start, end); "fail" raises, "usr2" signals its own process, "hang" writes its pid to the
    file named in the overrides and sleeps."""

    def __call__(self, overrides, key, number, job_id, state):
        if "fail" in overrides:
            raise KeyboardInterrupt("a run was interrupted")
        if "usr2" in overrides:
            os.kill(os.getpid(), signal.SIGUSR2)
        if "hang" in overrides:
            with open(overrides[-1], "a") as pids:
                pids.write(f"{os.getpid()}\n")
            time.sleep(60)
        started = time.monotonic()
        time.sleep(0.5)
        return number, os.getpid(), started, time.monotonic()


def _job(number, *overrides):
    return list(overrides), "hydra.sweep.dir", number, f"job_id_for_{number}", {}


def test_a_task_runs_its_runs_at_once_in_their_own_processes():
    (first, pid_a, start_a, end_a), (second, pid_b, start_b, end_b) = RunsOfOneTask(FakeLauncher())([_job(0), _job(1)])
    assert (first, second) == (0, 1)
    assert len({pid_a, pid_b, os.getpid()}) == 3
    assert max(start_a, start_b) < min(end_a, end_b)  # they overlapped


def test_a_task_of_one_run_runs_it_in_its_own_process():
    number, pid, _, _ = RunsOfOneTask(FakeLauncher())([_job(7)])[0]
    assert (number, pid) == (7, os.getpid())


def test_what_a_run_raised_is_raised_by_its_task():
    with pytest.raises(KeyboardInterrupt, match="interrupted"):
        RunsOfOneTask(FakeLauncher())([_job(0), _job(1, "fail")])


def _exits(signum, frame):
    raise SystemExit(-1)  # as submitit's handler does after requeueing the task


def test_usr2_is_the_tasks_and_its_runs_carry_on():
    """A run that receives USR2 (SLURM signals every process of the step) neither requeues nor
    exits; submitit's handler runs in the task's process only."""
    previous = signal.signal(signal.SIGUSR2, _exits)
    try:
        results = RunsOfOneTask(FakeLauncher())([_job(0, "usr2"), _job(1, "usr2")])
    finally:
        signal.signal(signal.SIGUSR2, previous)
    assert [r[0] for r in results] == [0, 1]


def _alive(pid: int) -> bool:
    try:
        return "\nState:\tZ" not in open(f"/proc/{pid}/status").read()
    except OSError:
        return False


def test_no_run_outlives_its_task(tmp_path):
    """The task exits (submitit's requeue raises SystemExit in it) while its runs train: they are
    ended, not left to hold their run locks into the requeued task."""
    pids = tmp_path / "pids"
    previous = signal.signal(signal.SIGALRM, _exits)
    signal.setitimer(signal.ITIMER_REAL, 2.0)
    try:
        with pytest.raises(SystemExit):
            RunsOfOneTask(FakeLauncher())([_job(0, "hang", str(pids)), _job(1, "hang", str(pids))])
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    started = [int(line) for line in pids.read_text().split()]
    assert len(started) == 2 and not any(map(_alive, started))


def _sweeper(threads: int, **launcher):
    """A sweeper with just what _parallel reads. Not through __init__: once Hydra's plugin scan has
    re-imported BasicSweeper's module (other tests run Hydra), its super() call refuses the class."""
    sweeper = object.__new__(CheckedSweeper)
    sweeper.config = OmegaConf.create({"hydra": {"launcher": launcher}})
    sweeper.threads = threads
    return sweeper


@pytest.mark.parametrize("threads, launcher, parallel", [
    (1, {"array_parallelism": 64}, 64),  # submitit_slurm without runs_per_task
    (1, {"array_parallelism": 64, "runs_per_task": 2, "cpus_per_task": 2}, 128),
    (2, {"array_parallelism": 8, "runs_per_task": 7, "cpus_per_task": 14}, 56),
    (2, {"array_parallelism": 8, "runs_per_task": 1, "cpus_per_task": 1}, 8),  # one run per task: as before
    (1, {"n_jobs": 2}, 2),  # the local launcher
])
def test_runs_at_a_time_are_tasks_times_runs_per_task(threads, launcher, parallel):
    assert _sweeper(threads, **launcher)._parallel() == parallel


@pytest.mark.parametrize("threads, launcher, message", [
    (2, {"runs_per_task": 2, "cpus_per_task": 2}, "hydra.launcher.runs_per_task=2 runs of threads=2 need 4 CPUs per task, but "
     "hydra.launcher.cpus_per_task=2: set hydra.launcher.cpus_per_task=4, or lower threads or runs_per_task"),
    (1, {"runs_per_task": 0, "cpus_per_task": 2}, "hydra.launcher.runs_per_task must be a positive integer, got 0"),
    (1, {"runs_per_task": True, "cpus_per_task": 2}, "hydra.launcher.runs_per_task must be a positive integer, got True"),
])
def test_tasks_that_cannot_hold_their_runs_are_refused(threads, launcher, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        _sweeper(threads, **launcher)._parallel()
    assert exit_.value.code == 2 and capsys.readouterr().err.strip() == message


@pytest.mark.slow
def test_a_sweep_whose_tasks_cannot_hold_their_runs_submits_nothing(tmp_path):
    """The threads come from each job's composed config (here a swept threads=1,2): one line, exit
    code 2, nothing submitted (no sbatch is needed to get there)."""
    result = run_cli("train.py", "-m", "hydra/launcher=slurm", "name=packed", "seed=0", *TINY, "threads=1,2",
                     "hydra.launcher.runs_per_task=2", "hydra.launcher.cpus_per_task=2", cwd=tmp_path)
    assert result.returncode == 2, result.stderr[-2000:]
    assert result.stderr.strip().splitlines()[-1] == (
        "hydra.launcher.runs_per_task=2 runs of threads=2 need 4 CPUs per task, but hydra.launcher.cpus_per_task=2: "
        "set hydra.launcher.cpus_per_task=4, or lower threads or runs_per_task")
    assert not (tmp_path / "multirun" / "packed" / ".submitit").exists()
