"""Paper-scale aggregation: identify_pies on a synthetic store shaped like the paper's grid.

2 models x 41 populations (dense + 8 methods x 5 sparsities) x 30 seeds = 2,460 runs in the
project's own format (Parquet logits + manifests), 10,000 test examples x 3 classes, 50,000
training examples (final-epoch train logits for every run, first-epoch ones for the dense runs,
which are all EL2N reads). The logits are synthetic: gold-label signal plus seed noise that grows
with sparsity. identify_pies runs in a child process; wall time and peak RSS are measured. For
comparison, one population's test logits are written in the reference code's format
(np.savetxt '%.18e') and read back with np.genfromtxt, extrapolated to the whole store.

Run: .venv/bin/python benchmarks/bench_aggregation.py [--root DIR] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pie.data.dataset import prepare  # noqa: E402
from pie.data.sources import csv_file  # noqa: E402
from pie.runs.manifest import COMPLETE, write_manifest  # noqa: E402
from pie.runs.predictions import write_predictions  # noqa: E402

METHODS = ["imp_ft", "imp_wr", "mp_ai", "iibp_ft", "iibp_wr", "ibp_ai", "irp_ft", "rp_ai"]
SPARSITIES = [0.2, 0.5, 0.7, 0.9, 0.99]
WORDS = ("the a film story plot actor great bad boring brilliant slow dull funny moving clever weak "
         "strong script scene music ending pace characters visual tender cruel").split()


def make_dataset(directory: Path, n_train: int, n_test: int, rng: np.random.Generator) -> dict:
    sizes = {"train": n_train, "validation": 1000, "test": n_test}
    rows = []
    for split, n in sizes.items():
        lengths = rng.integers(5, 40, size=n)
        for i in range(n):
            rows.append({"id": f"{split}-{i:06d}", "split": split, "label": int(rng.integers(0, 3)),
                         "text": " ".join(rng.choice(WORDS, size=lengths[i])) + "."})
    path = directory / "synthetic.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return {"_target_": "pie.data.prepare", "name": "synthetic", "split_seed": 0, "max_length": 64,
            "splits": {"train": 0.8, "validation": 0.1, "test": 0.1},
            "source": {"_target_": "pie.data.sources.csv_file", "path": str(path), "id_column": "id",
                       "split_column": "split", "label_names": ["entailment", "neutral", "contradiction"]}}


def population_logits(labels: np.ndarray, noise: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    logits = rng.normal(0.0, noise, size=(len(labels), 3)).astype(np.float32)
    logits[np.arange(len(labels)), labels] += 1.0
    return logits


def write_store(store: Path, dataset_cfg: dict, data, seeds: int) -> int:
    test_ids, train_ids = list(data.splits["test"]["id"]), list(data.splits["train"]["id"])
    test_labels, train_labels = np.asarray(data.splits["test"]["label"]), np.asarray(data.splits["train"]["label"])
    runs = 0
    for model in ("bert", "bilstm"):
        populations = [("dense", 0.0)] + [(m, s) for m in METHODS for s in SPARSITIES]
        for p, (method, sparsity) in enumerate(populations):
            for seed in range(seeds):
                run_dir = store / model / f"{method}-{sparsity}" / f"seed={seed}"
                noise = 1.0 + 2.0 * sparsity
                key = hash((model, method, sparsity, seed)) % 2**31
                records = {
                    "test_final": write_predictions(run_dir / "predictions" / "test_final.parquet", test_ids, test_labels,
                                                    population_logits(test_labels, noise, key)),
                    "train_final": write_predictions(run_dir / "predictions" / "train_final.parquet", train_ids, train_labels,
                                                     population_logits(train_labels, noise, key + 1)),
                }
                if method == "dense":
                    records["train_epoch1"] = write_predictions(run_dir / "predictions" / "train_epoch1.parquet", train_ids,
                                                                train_labels, population_logits(train_labels, 2.0, key + 2))
                write_manifest(run_dir, {
                    "status": COMPLETE, "seed": seed,
                    "keys": {"run": f"{model}-{p}-{seed}", "model": f"bench-{model}", "pruning": "dense" if method == "dense" else method},
                    "config": {"dataset": dataset_cfg}, "dataset": {"name": data.name, "fingerprint": data.fingerprint},
                    "model": {"name": model}, "pruning": {"method": method, "target": sparsity},
                    "metrics": {"test": {"accuracy": float(0.9 - 0.3 * sparsity)}}, "predictions": records,
                })
                runs += 1
    return runs


def reference_format_seconds(labels: np.ndarray, directory: Path, seeds: int) -> float:
    """Seconds to read one population's test logits from '%.18e' text files with np.genfromtxt."""
    files = []
    for seed in range(seeds):
        path = directory / f"{seed}_epoch_final.csv"
        np.savetxt(path, population_logits(labels, 1.0, seed), fmt="%.18e")
        files.append(path)
    start = time.perf_counter()
    stacked = np.stack([np.genfromtxt(f) for f in files])
    assert stacked.shape == (seeds, len(labels), 3)
    return time.perf_counter() - start


def ours_format_seconds(population_dir: Path) -> float:
    """Seconds to load one population's test logits with pie's own reader (checksums included)."""
    from pie.runs.discovery import discover, load_logits

    runs = discover([str(population_dir)]).complete
    start = time.perf_counter()
    load_logits(runs, "test_final")
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path(tempfile.gettempdir()) / "pie-bench-aggregation")
    parser.add_argument("--seeds", type=int, default=30)
    parser.add_argument("--test", type=int, default=10_000)
    parser.add_argument("--train", type=int, default=50_000)
    parser.add_argument("--keep", action="store_true", help="keep (and reuse) the generated store")
    args = parser.parse_args()
    store, out, cache = args.root / "store", args.root / "out", args.root / "cache"
    rng = np.random.default_rng(0)
    started = time.perf_counter()
    if not (args.keep and (args.root / "store.json").exists()):
        shutil.rmtree(args.root, ignore_errors=True)
        args.root.mkdir(parents=True)
        dataset_cfg = make_dataset(args.root, args.train, args.test, rng)
        data = prepare(**{k: v for k, v in dataset_cfg.items() if k not in ("_target_", "source")}, source=csv_file(
            **{k: v for k, v in dataset_cfg["source"].items() if k != "_target_"}))
        runs = write_store(store, dataset_cfg, data, args.seeds)
        (args.root / "store.json").write_text(json.dumps({"runs": runs, "fingerprint": data.fingerprint}))
    runs = json.loads((args.root / "store.json").read_text())["runs"]
    generated = time.perf_counter() - started
    size = sum(p.stat().st_size for p in store.rglob("*") if p.is_file())

    timings = []
    for label in ("cold text cache", "warm text cache"):
        shutil.rmtree(out, ignore_errors=True)
        if label.startswith("cold"):
            shutil.rmtree(cache / "text_measures", ignore_errors=True)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        result = subprocess.run(
            [sys.executable, str(ROOT / "identify_pies.py"), str(store), "--min-seeds", str(args.seeds), "--out", str(out)],
            env={**os.environ, "PIE_CACHE_DIR": str(cache)}, capture_output=True, text=True,
        )
        wall = time.perf_counter() - start
        if result.returncode != 0:
            print(result.stderr[-3000:])
            return 1
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20  # KiB -> GiB (max over children so far)
        timings.append((label, wall, peak, resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime - before.ru_utime))

    labels = np.asarray(pd.read_parquet(out / "pies.parquet", columns=["label"]).head(args.test)["label"])
    with tempfile.TemporaryDirectory() as tmp:
        per_population = reference_format_seconds(labels, Path(tmp), args.seeds)
    ours = ours_format_seconds(store / "bert" / "dense-0.0")
    populations = runs // args.seeds
    print(f"Store: {runs} runs ({populations} populations x {args.seeds} seeds), {args.test:,} test and {args.train:,} train "
          f"examples x 3 classes, {size / 2**30:.2f} GiB on disk (generated in {generated:.0f} s).\n")
    print("| step | wall time (s) | peak RSS (GiB) | target |")
    print("|---|---|---|---|")
    for label, wall, peak, _ in timings:
        print(f"| identify_pies, all analyses, {label} | {wall:.1f} | {peak:.2f} | < 60 s, < 4 GiB |")
    print(f"| ours: load_logits of one population's test logits (Parquet, checksums verified) | {ours:.3f} | – | – |")
    print(f"| reference format: np.genfromtxt of one population's test logits | {per_population:.2f} | – | – |")
    print(f"| ratio reference / ours, test logits | {per_population / ours:.0f}x | – | – |")
    print(f"| reference format: same, extrapolated to all {populations} populations (test logits only) | {per_population * populations:.0f} | – | – |")
    if not args.keep:
        shutil.rmtree(args.root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
