"""Local parallelism for a sweep: 2 processes x 1 thread (hydra/launcher=local, joblib) vs
1 process x 2 threads (Hydra's basic launcher, threads=2), on the demo study (make demo).

Each configuration runs the same sweep from scratch in a temporary directory (token cache
warmed first, untimed) and is timed end to end, Python start-up and Hydra included.
Run: .venv/bin/python benchmarks/bench_launchers.py [--seeds N]   (N=10, the full demo: ~11 min)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SETUPS = {
    "2 processes x 1 thread (hydra/launcher=local)": ["hydra/launcher=local", "threads=1"],
    "1 process x 2 threads (hydra/launcher=basic)": ["hydra/launcher=basic", "threads=2"],
}


def run_sweep(workdir: Path, name: str, overrides: list[str], seeds: int) -> float:
    env = {**os.environ, "PIE_CACHE_DIR": str(workdir / "cache"), "WANDB_MODE": "disabled"}
    command = [sys.executable, str(ROOT / "train.py"), "-m", "experiment=demo", f"name={name}",
               f"seed=range(0,{seeds})", *overrides]
    started = time.perf_counter()
    result = subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stderr[-3000:]}")
    return elapsed


def mean_accuracy(workdir: Path, name: str) -> tuple[int, float]:
    manifests = [json.loads(p.read_text()) for p in (workdir / "multirun" / name).rglob("manifest.json")]
    return len(manifests), sum(m["metrics"]["test"]["accuracy"] for m in manifests) / len(manifests)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=10, help="seeds per sparsity (the demo has 10)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        run_sweep(workdir, "warmup", ["hydra/launcher=basic", "threads=1", "sparsity=0", "model.epochs=1"], 1)
        rows = []
        for index, (label, overrides) in enumerate(SETUPS.items()):
            name = f"setup{index}"
            seconds = run_sweep(workdir, name, overrides, args.seeds)
            runs, accuracy = mean_accuracy(workdir, name)
            rows.append((label, runs, seconds, accuracy))
    print(f"## Demo sweep ({rows[0][1]} runs: {args.seeds} seeds x 4 sparsities, BiLSTM, Rotten Tomatoes), {os.cpu_count()} CPUs\n")
    print("| setup | runs | wall time (s) | runs per minute | mean test accuracy |")
    print("|---|---|---|---|---|")
    for label, runs, seconds, accuracy in rows:
        print(f"| {label} | {runs} | {seconds:.1f} | {60 * runs / seconds:.2f} | {accuracy:.4f} |")
    print(f"\nspeed-up of 2 x 1 over 1 x 2: {rows[1][2] / rows[0][2]:.2f}x")


if __name__ == "__main__":
    main()
