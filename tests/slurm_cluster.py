"""A real one-node SLURM cluster for tests (scripts/slurm), and a helper that runs a sweep on it.

Import the `slurm_cluster` fixture into a test module. It starts the cluster once per session and on
teardown stops exactly the daemons it started, so a cluster that was up before the tests stays up.
Not root, or packages that cannot be installed: the tests are skipped with the script's words. Root
with the packages installed but a cluster that does not come up: an error, never a skip, so a broken
cluster cannot pass unnoticed.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import ROOT, run_cli

SCRIPTS = ROOT / "scripts" / "slurm"
CANNOT_RUN_HERE = {2: "not root", 3: "the SLURM packages could not be installed"}  # start script exit statuses
UNFINISHED = {"PENDING", "RUNNING", "REQUEUED", "COMPLETING", "SUSPENDED", "RESIZING"}


@dataclass(frozen=True)
class Cluster:
    partition: str              # the default partition
    started: tuple[str, ...]    # daemons this session started: the ones teardown stops


@dataclass(frozen=True)
class Sweep:
    result: subprocess.CompletedProcess
    submitit: Path              # the sweep's submitit folder: <array id>_<task>/ logs and results
    array_ids: tuple[str, ...]  # the array jobs this sweep submitted

    @property
    def array_id(self) -> str:
        assert len(self.array_ids) == 1, f"expected one array job, the sweep submitted {self.array_ids}"
        return self.array_ids[0]


def _script(name: str, *args: str, timeout: int) -> tuple[int, str, str]:
    done = subprocess.run([str(SCRIPTS / name), *args], capture_output=True, text=True, timeout=timeout)
    return done.returncode, done.stdout, (done.stdout + done.stderr)[-3000:]


def start_cluster() -> Cluster:
    if os.geteuid() != 0:
        pytest.skip("the SLURM tests need root: scripts/slurm/start-local-cluster.sh installs packages and starts daemons")
    status, out, tail = _script("start-local-cluster.sh", timeout=900)
    if status in CANNOT_RUN_HERE:
        pytest.skip(f"no local SLURM cluster ({CANNOT_RUN_HERE[status]}):\n{tail}")
    lines = re.findall(r"^started daemons: (.*)$", out, re.M)
    started = tuple(d for d in (lines[-1].split() if lines else []) if d != "none")
    if status != 0:
        stop_daemons(started)
        pytest.fail(f"the local SLURM cluster did not come up (start-local-cluster.sh exit {status}):\n{tail}", pytrace=False)
    partitions = subprocess.run(["sinfo", "-h", "-o", "%P"], capture_output=True, text=True, check=True).stdout.split()
    default = next(p.rstrip("*") for p in partitions if p.endswith("*"))
    return Cluster(partition=default, started=started)


def stop_daemons(names: tuple[str, ...]) -> None:
    if names:
        status, _, tail = _script("stop-local-cluster.sh", *names, timeout=300)
        assert status == 0, f"stop-local-cluster.sh exit {status}:\n{tail}"


@pytest.fixture(scope="session")
def slurm_cluster():
    cluster = start_cluster()
    yield cluster
    stop_daemons(cluster.started)


def _array_ids(submitit: Path) -> set[str]:
    """Array job ids from the task folders submitit names <array id>_<task>."""
    if not submitit.is_dir():
        return set()
    return {m.group(1) for p in submitit.iterdir() if (m := re.fullmatch(r"(\d+)_\d+", p.name))}


def run_sweep(cluster: Cluster, cwd: Path, name: str, *overrides: str, timeout: int = 600) -> Sweep:
    """`train.py -m hydra/launcher=slurm name=NAME OVERRIDES` from cwd on the cluster's default
    partition (10-minute limit, 1 GB per run), as run_cli runs it; a sweep still running after
    `timeout` seconds is cancelled and fails the test."""
    submitit = cwd / "multirun" / name / ".submitit"
    before = _array_ids(submitit)
    args = ["train.py", "-m", "hydra/launcher=slurm", f"name={name}", f"hydra.launcher.partition={cluster.partition}",
            "hydra.launcher.timeout_min=10", "hydra.launcher.mem_gb=1", *overrides]
    try:
        result = run_cli(*args, cwd=cwd, timeout=timeout)
    except subprocess.TimeoutExpired:
        stuck = sorted(_array_ids(submitit) - before)
        if stuck:
            subprocess.run(["scancel", *stuck], check=False)
        pytest.fail(f"the SLURM sweep did not finish within {timeout} s; cancelled array jobs {stuck}", pytrace=False)
    return Sweep(result, submitit, tuple(sorted(_array_ids(submitit) - before, key=int)))


def sacct_tasks(array_id: str, count: int, wait_s: float = 30) -> dict[str, dict[str, str]]:
    """sacct's records of an array's tasks ({"<id>_<task>": {"State": ..., ...}}), polled until
    `count` tasks have finished or wait_s passes: slurmctld reports to slurmdbd asynchronously."""
    fields = ["JobID", "State", "Partition", "AllocCPUS", "ExitCode"]
    deadline = time.monotonic() + wait_s
    while True:
        out = subprocess.run(["sacct", "-X", "-n", "-P", "-j", array_id, "-o", ",".join(fields)],
                             capture_output=True, text=True, check=True).stdout
        rows = {}
        for line in out.splitlines():
            job, *values = line.split("|")
            rows[job] = dict(zip(fields[1:], values))
        finished = [r for r in rows.values() if r["State"].split()[0] not in UNFINISHED]
        if len(finished) >= count or time.monotonic() > deadline:
            return rows
        time.sleep(0.5)
