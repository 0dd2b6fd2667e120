"""Runs per minute on a SLURM cluster with one run per array task (K = 1) and with
`hydra.launcher.runs_per_task=2` (K = 2), the same sweep on the same CPUs.

Both setups give each run 1 thread and the cluster's CPUs in full: K = 1 as tasks of 1 CPU, K = 2
as tasks of 2 CPUs running 2 runs each. Each sweep starts from scratch in its own directory (the
token cache is warmed first, untimed) and is timed end to end by the submitting process:
submission, SLURM's scheduling, every task's start-up and every run. The setups alternate, pair
by pair, so a change in the machine's load hits both; the load average (/proc/loadavg, 1 minute)
is sampled every 2 s during each sweep. The two sweeps are the same runs (threads=1 both), so
their final weights must be byte-identical; the script checks it.

Needs a running cluster (`make slurm-up` starts a one-node one here, as root); run from the
repository root with the project's virtualenv, which the SLURM jobs run too:
    .venv/bin/python benchmarks/bench_runs_per_task.py [--seeds 8] [--pairs 2] [override ...]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUN = ["dataset.max_train_examples=500", "dataset.max_eval_examples=200", "model.epochs=2", "threads=1"]


def fail(message: str) -> None:
    print(message, file=sys.stderr)
    sys.exit(2)


def cluster() -> tuple[str, int]:
    """(the default partition, its CPUs), or exit 2 when no cluster answers."""
    if shutil.which("sinfo") is None:
        fail("no SLURM here (sinfo not found): start the local cluster with `make slurm-up` (as root)")
    done = subprocess.run(["sinfo", "-h", "-o", "%P %C"], capture_output=True, text=True)
    lines = [line.split() for line in done.stdout.splitlines() if line.split() and line.split()[0].endswith("*")]
    if done.returncode != 0 or not lines:
        fail(f"the SLURM cluster does not answer (sinfo: {(done.stderr or done.stdout).strip() or 'no default partition'}): "
             "start the local cluster with `make slurm-up` (as root)")
    partition, cpus = lines[0]
    return partition.rstrip("*"), int(cpus.split("/")[-1])  # %C: allocated/idle/other/total


class Load:
    """The 1-minute load average, sampled every 2 s while a sweep runs."""

    def __init__(self):
        self.samples: list[float] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while True:
            self.samples.append(float(Path("/proc/loadavg").read_text().split()[0]))
            if self.stop.wait(2.0):
                return

    def __enter__(self) -> "Load":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join()


def sweep(workdir: Path, env: dict, name: str, seeds: int, overrides: list[str]) -> tuple[float, list[float]]:
    """(wall seconds, load samples) of one sweep, which must succeed."""
    command = [sys.executable, str(ROOT / "train.py"), "-m", f"name={name}", f"seed=0..{seeds - 1}", *RUN, *overrides]
    with Load() as load:
        started = time.perf_counter()
        result = subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True)
        elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stderr[-3000:]}")
    return elapsed, load.samples


def final_weights(workdir: Path, name: str) -> dict[int, str]:
    """seed -> the sha256 of its final weights, every run complete."""
    manifests = [json.loads(p.read_text()) for p in (workdir / "multirun" / name).glob("*/manifest.json")]
    assert all(m["status"] == "complete" for m in manifests), f"{name}: a run is not complete"
    return {m["seed"]: m["weights"]["final"]["sha256"] for m in manifests}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=8, help="runs per sweep (seeds of one configuration)")
    parser.add_argument("--pairs", type=int, default=2, help="alternating pairs of sweeps (K=1, K=2)")
    parser.add_argument("overrides", nargs="*", help="more overrides for both setups, e.g. trainer=gpu "
                        "hydra.launcher.gpus_per_node=1 hydra.launcher.partition=gpu")
    args = parser.parse_args()
    if args.seeds < 2 or args.pairs < 1:
        fail(f"--seeds must be at least 2 and --pairs at least 1, got --seeds {args.seeds} --pairs {args.pairs}")
    partition, cpus = cluster()
    if cpus < 2:
        fail(f"partition {partition} has {cpus} CPU; runs_per_task=2 with 1 thread per run needs tasks of 2 CPUs")
    slurm = ["hydra/launcher=slurm", f"hydra.launcher.partition={partition}", "hydra.launcher.timeout_min=30",
             "hydra.launcher.mem_gb=2", *args.overrides]
    setups = {1: [*slurm, "hydra.launcher.cpus_per_task=1"],
              2: [*slurm, "hydra.launcher.runs_per_task=2", "hydra.launcher.cpus_per_task=2"]}
    with tempfile.TemporaryDirectory(dir=ROOT, prefix=".bench_runs_per_task-") as tmp:  # on the file system the jobs see
        workdir = Path(tmp)
        env = {**os.environ, "PIE_CACHE_DIR": os.environ.get("PIE_CACHE_DIR", str(workdir / "cache")), "WANDB_MODE": "disabled"}
        sweep(workdir, env, "warmup", 1, ["hydra/launcher=basic"])
        times: dict[int, list[float]] = {1: [], 2: []}
        loads: dict[int, list[float]] = {1: [], 2: []}
        weights = {}
        for pair in range(args.pairs):
            for k in (1, 2) if pair % 2 == 0 else (2, 1):
                name = f"k{k}_pair{pair}"
                seconds, samples = sweep(workdir, env, name, args.seeds, setups[k])
                times[k].append(seconds)
                loads[k].extend(samples)
                weights[name] = final_weights(workdir, name)
                print(f"pair {pair + 1}, K={k}: {seconds:.1f} s, load {min(samples):.2f}-{max(samples):.2f}", file=sys.stderr)
    reference = weights["k1_pair0"]
    identical = all(w == reference for w in weights.values()) and len(reference) == args.seeds
    print(f"## {args.seeds} runs per sweep ({' '.join([*RUN, *args.overrides])}, BiLSTM, Rotten Tomatoes), partition {partition} "
          f"({cpus} CPUs), {args.pairs} alternating pairs\n")
    print("| runs per task (K) | CPUs per task | tasks at once | wall time (s), median [min-max] | runs per minute | "
          "load average (1 min) during, mean [min-max] |")
    print("|---|---|---|---|---|---|")
    for k in (1, 2):
        median = statistics.median(times[k])
        print(f"| {k} | {k} | {cpus // k} | {median:.1f} [{min(times[k]):.1f}-{max(times[k]):.1f}] | "
              f"{60 * args.seeds / median:.2f} | {statistics.mean(loads[k]):.2f} [{min(loads[k]):.2f}-{max(loads[k]):.2f}] |")
    print(f"\nK=2 over K=1: {statistics.median(times[1]) / statistics.median(times[2]):.2f}x the runs per minute; "
          f"final weights of every seed {'byte-identical' if identical else 'DIFFER'} across all sweeps")
    if not identical:
        sys.exit(1)


if __name__ == "__main__":
    main()
