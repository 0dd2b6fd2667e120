"""Paper-scale aggregation: identify_pies on a synthetic store shaped like the paper's grid.

`--grid paper`: 4 datasets x 2 models x 41 populations (dense + 8 methods x 5 sparsities) x 30
seeds = 9,840 runs; `--grid one`: one dataset (2,460 runs). Each dataset has the shape this
bench has always used: 10,000 test and 50,000 training examples x 3 classes, in the project's
own format (Parquet logits written by pie.runs.predictions, typed manifests). Every run has its
test and final-epoch train logits, the dense runs also first-epoch train logits (EL2N), so A5
reads them all. The logits are synthetic: gold-label signal plus seed noise that grows with
sparsity.

Measured, each identify_pies (all analyses, texts included, `--workers` left at its default: one
process per CPU) in a child process: wall time, and peak memory two ways: the largest sum, sampled
every 0.2 s, of the resident sets (RSS) of identify_pies and its worker processes, an upper bound
(a page a forked worker still shares with its parent counts in both), and the largest sum, sampled
at the same moments, of their proportional set sizes (PSS: a shared page counts a share in each
process that maps it, so the sum is the memory the processes hold together):
- read floor: a child process that reads every file the analyses need once (bytes, 4 threads),
  then the same again decoding each file's labels and logits into arrays; no analysis;
- cold: pie's cache empty (no derived per-run arrays, no text measures, no analyses or plots);
- warm: the same command again (every pair's analyses and every plot from the cache, pie.memo);
- another tie rule (`--tie highest`): derived arrays cached, every pair analysed again;
- incremental: after one more population (30 runs) is added to the store: its pair analysed;
- scaling: by runs, one model of one dataset, one dataset, every dataset of the grid; by
  examples, one dataset at 1/4 of the examples (a second, smaller store).
The OS page cache holds whatever of the store fits in memory; the read floor runs first, so every
measurement sees the same state. For comparison, one population's test logits are written in
the reference code's format (np.savetxt '%.18e') and read back with np.genfromtxt.

Run: .venv/bin/python benchmarks/bench_aggregation.py [--grid paper|one] [--root DIR] [--keep] [--no-scaling]
(the paper grid's store is about 15 GiB; it took ~10 min to write here, 2 processes on 2 cores).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pie.data.dataset import prepare  # noqa: E402
from pie.data.sources import csv_file  # noqa: E402
from pie.runs.manifest import COMPLETE, DENSE, DatasetInfo, Keys, Manifest, ModelInfo, PruningInfo, write_manifest  # noqa: E402
from pie.runs.predictions import write_predictions  # noqa: E402

GRIDS = {"paper": 4, "one": 1}  # datasets
MODELS = ("bert", "bilstm")
METHODS = ["imp_ft", "imp_wr", "mp_ai", "iibp_ft", "iibp_wr", "ibp_ai", "irp_ft", "rp_ai"]
SPARSITIES = [0.2, 0.5, 0.7, 0.9, 0.99]
ADDED = ("gmp", 0.5)  # the population the incremental rerun adds
WORDS = ("the a film story plot actor great bad boring brilliant slow dull funny moving clever weak "
         "strong script scene music ending pace characters visual tender cruel").split()


def make_dataset(directory: Path, name: str, n_train: int, n_test: int, rng: np.random.Generator) -> dict:
    """A CSV of random sentences with predefined splits; returns its dataset config."""
    sizes = {"train": n_train, "validation": 1000, "test": n_test}
    rows = []
    for split, n in sizes.items():
        lengths = rng.integers(5, 40, size=n)
        for i in range(n):
            rows.append({"id": f"{split}-{i:06d}", "split": split, "label": int(rng.integers(0, 3)),
                         "text": " ".join(rng.choice(WORDS, size=lengths[i])) + "."})
    path = directory / f"{name}.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return {"_target_": "pie.data.prepare", "name": name, "split_seed": 0, "max_length": 64,
            "splits": {"train": 0.8, "validation": 0.1, "test": 0.1},
            "source": {"_target_": "pie.data.sources.csv_file", "path": str(path), "id_column": "id",
                       "split_column": "split", "label_names": ["entailment", "neutral", "contradiction"]}}


def population_logits(labels: np.ndarray, noise: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    logits = rng.normal(0.0, noise, size=(len(labels), 3)).astype(np.float32)
    logits[np.arange(len(labels)), labels] += 1.0
    return logits


def split_arrays(data) -> dict[str, tuple[pa.Array, np.ndarray]]:
    """(example ids, gold labels) of the test and train splits."""
    return {s: (pa.array(rows["id"], pa.string()), np.asarray(rows["label"])) for s, rows in ((s, data.splits[s][:]) for s in ("test", "train"))}


def write_population(store: Path, dataset_cfg: dict, data, split: dict, model: str, method: str, sparsity: float, seeds: int) -> int:
    """The runs of one population (one directory per seed); returns how many."""
    dense = method == DENSE
    for seed in range(seeds):
        run_dir = store / data.name / model / f"{method}-{sparsity}" / f"seed={seed}"
        key = int.from_bytes(hashlib.sha256(f"{data.name}/{model}/{method}/{sparsity}/{seed}".encode()).digest()[:4], "little")
        noise = 1.0 + 2.0 * sparsity
        written = {"test_final": ("test", noise, key), "train_final": ("train", noise, key + 1),
                   **({"train_epoch1": ("train", 2.0, key + 2)} if dense else {})}
        records = {name: write_predictions(run_dir / "predictions" / f"{name}.parquet", split[s][0], split[s][1],
                                           population_logits(split[s][1], sd, k), s, name.split("_")[1])
                   for name, (s, sd, k) in written.items()}
        config = {"seed": seed, "sparsity": sparsity, "dataset": dataset_cfg, "model": {"name": model},
                  "pruning": {"name": method, "scope": "layerwise"}}
        write_manifest(run_dir, Manifest(
            status=COMPLETE, seed=seed, config=config, versions={},
            keys=Keys(run=f"{data.name}-{model}-{method}-{sparsity}-{seed}", model=f"bench-{data.name}-{model}",
                      pruning=DENSE if dense else f"{method}-key"),
            dataset=DatasetInfo(data.name, data.fingerprint), model=ModelInfo(model),
            pruning=PruningInfo(method=method, name=method, scope="layerwise", target=sparsity),
            metrics={"test": {"accuracy": float(0.9 - 0.3 * sparsity)}}, predictions=records,
        ))
    return seeds


def write_dataset(store: Path, name: str, n_train: int, n_test: int, seeds: int) -> int:
    """One dataset's CSV and all its runs: 2 models x 41 populations x seeds."""
    store.mkdir(parents=True, exist_ok=True)
    dataset_cfg = make_dataset(store, name, n_train, n_test, np.random.default_rng(len(name) + n_test))  # beside its sweep
    data = prepare(**{k: v for k, v in dataset_cfg.items() if k not in ("_target_", "source")},
                   source=csv_file(**{k: v for k, v in dataset_cfg["source"].items() if k != "_target_"}))
    populations = [(DENSE, 0.0)] + [(m, s) for m in METHODS for s in SPARSITIES]
    split = split_arrays(data)
    runs = sum(write_population(store, dataset_cfg, data, split, model, method, sparsity, seeds)
               for model in MODELS for method, sparsity in populations)
    (store / name / "dataset.json").write_text(json.dumps(dataset_cfg))
    return runs


def add_population(store: Path, name: str, seeds: int) -> int:
    """The incremental rerun's new population (ADDED) for the first model of one dataset."""
    dataset_cfg = json.loads((store / name / "dataset.json").read_text())
    data = prepare(**{k: v for k, v in dataset_cfg.items() if k not in ("_target_", "source")},
                   source=csv_file(**{k: v for k, v in dataset_cfg["source"].items() if k != "_target_"}))
    return write_population(store, dataset_cfg, data, split_arrays(data), MODELS[0], *ADDED, seeds)


READ_FLOOR = """
import sys, time
from concurrent.futures import ThreadPoolExecutor
import numpy as np, pyarrow as pa, pyarrow.parquet as pq
files = open(sys.argv[1]).read().split()
def raw(path):
    with open(path, 'rb') as handle:
        return len(handle.read())
def decoded(path):
    table = pq.read_table(path, columns=['label', 'logits'])
    logits = table.column('logits').combine_chunks().flatten().to_numpy()
    return table.column('label').to_numpy().nbytes + logits.nbytes
for kind in (raw, decoded):
    started = time.perf_counter()
    with ThreadPoolExecutor(4) as pool:
        total = sum(pool.map(kind, files))
    print(kind.__name__, time.perf_counter() - started, total)
"""


def read_floor(stores: list[Path]) -> dict[str, float]:
    """Seconds to read every prediction file the analyses need once, raw and decoded."""
    files = sorted(str(p) for store in stores for p in store.rglob("*.parquet"))
    listing = Path(tempfile.mkstemp(suffix=".txt")[1])
    listing.write_text("\n".join(files))
    try:
        output = subprocess.run([sys.executable, "-c", READ_FLOOR, str(listing)], check=True, capture_output=True, text=True).stdout
    finally:
        listing.unlink()
    floors = {line.split()[0]: float(line.split()[1]) for line in output.splitlines()}
    floors["bytes"] = sum(Path(f).stat().st_size for f in files)
    print(f"measured: read floor {floors}", file=sys.stderr, flush=True)
    return floors


def identify(sweeps: list[Path], out: Path, cache: Path, seeds: int, *extra: str) -> tuple[float, float, float]:
    """(wall seconds, peak RSS GiB, peak PSS GiB) of identify_pies on `sweeps` in a child process."""
    shutil.rmtree(out, ignore_errors=True)
    command = [sys.executable, str(ROOT / "identify_pies.py"), *map(str, sweeps), "--min-seeds", str(seeds), "--out", str(out), *extra]
    with tempfile.TemporaryFile("w+") as log:
        started = time.perf_counter()
        child = subprocess.Popen(command, env={**os.environ, "PIE_CACHE_DIR": str(cache), "PYTHONPATH": str(ROOT)},
                                 stdout=subprocess.DEVNULL, stderr=log)
        tree = proportional = 0  # the largest sums of the RSS and the PSS of identify_pies and its workers
        while True:
            pid, status, usage = os.wait4(child.pid, os.WNOHANG)
            if pid:
                break
            tree = max(tree, _tree_memory(child.pid, "VmRSS:", "status"))
            proportional = max(proportional, _tree_memory(child.pid, "Pss:", "smaps_rollup"))  # ~0.3 ms a 2 GiB process
            time.sleep(0.2)
        wall = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode != 0:
            log.seek(0)
            raise SystemExit(f"identify_pies failed:\n{log.read()[-3000:]}")
    peak, pss = max(usage.ru_maxrss * 1024, tree) / 2**30, proportional / 2**30
    print(f"measured: identify_pies {' '.join(map(str, [*sweeps, *extra]))}: {wall:.1f} s, {peak:.2f} GiB RSS, {pss:.2f} GiB PSS, "
          f"load {os.getloadavg()[0]:.2f}", file=sys.stderr, flush=True)
    return wall, peak, pss


def _tree_memory(pid: int, field: str, source: str) -> int:
    """Bytes of a /proc/<pid>/<source> memory field (kB) summed over a process and its descendants:
    VmRSS of status (a page a forked worker shares with its parent counts twice: an upper bound),
    or Pss of smaps_rollup (shared pages split among the processes that map them)."""
    try:
        own = next(int(line.split()[1]) * 1024 for line in Path(f"/proc/{pid}/{source}").read_text().splitlines()
                   if line.startswith(field))
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except (OSError, StopIteration):
        return 0
    return own + sum(_tree_memory(int(child), field, source) for child in children)


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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grid", choices=sorted(GRIDS), default="paper", help="paper: 4 datasets (9,840 runs); one: 1 dataset")
    parser.add_argument("--root", type=Path, default=Path(tempfile.gettempdir()) / "pie-bench-aggregation")
    parser.add_argument("--seeds", type=int, default=30)
    parser.add_argument("--test", type=int, default=10_000)
    parser.add_argument("--train", type=int, default=50_000)
    parser.add_argument("--keep", action="store_true", help="keep (and reuse) the generated store")
    parser.add_argument("--no-scaling", action="store_true", help="skip the scaling table (its smaller stores)")
    args = parser.parse_args()
    store, cache, out = args.root / "store", args.root / "cache", args.root / "out"
    names = [f"synthetic{i}" for i in range(1, GRIDS[args.grid] + 1)]
    shapes = {"full": (args.test, args.train)} | ({} if args.no_scaling else {"quarter": (args.test // 4, args.train // 4)})
    started = time.perf_counter()
    described = args.root / "store.json"
    wanted = json.loads(json.dumps({"names": names, "seeds": args.seeds, "shapes": shapes}))  # as store.json reads back
    if not (args.keep and described.exists() and _holds(json.loads(described.read_text())["wanted"], wanted)):
        shutil.rmtree(args.root, ignore_errors=True)
        args.root.mkdir(parents=True)
        runs = sum(write_dataset(store, name, args.train, args.test, args.seeds) for name in names)
        for shape, (test, train) in shapes.items():
            if shape != "full":
                write_dataset(args.root / shape, "synthetic1", train, test, args.seeds)
        described.write_text(json.dumps({"wanted": wanted, "runs": runs}))
    generated = time.perf_counter() - started
    runs = json.loads(described.read_text())["runs"]
    sweeps = [store / name for name in names]
    shutil.rmtree(store / names[0] / MODELS[0] / f"{ADDED[0]}-{ADDED[1]}", ignore_errors=True)  # left by an earlier --keep run

    load = [os.getloadavg()[0]]
    floor = read_floor(sweeps)
    shutil.rmtree(cache, ignore_errors=True)
    rows = [("cold: nothing cached (derived arrays, text measures)", identify(sweeps, out, cache, args.seeds)),
            ("warm: the same command again", identify(sweeps, out, cache, args.seeds)),
            ("warm, another tie rule (--tie highest)", identify(sweeps, out, cache, args.seeds, "--tie", "highest"))]
    added = add_population(store, names[0], args.seeds)
    rows.append((f"warm, after adding one population ({added} runs)", identify(sweeps, out, cache, args.seeds)))
    scaling = []
    if not args.no_scaling:
        scaling = [("1 dataset, 1 model, full shape", [sweeps[0] / MODELS[0]]), ("1 dataset, 2 models, full shape", sweeps[:1]),
                   ("1 dataset, 2 models, quarter shape", [args.root / "quarter" / "synthetic1"])]
    scaled = []
    for label, stores in scaling:
        cold_cache = args.root / "scaling-cache"
        shutil.rmtree(cold_cache, ignore_errors=True)
        shutil.copytree(cache / "text_measures", cold_cache / "text_measures", dirs_exist_ok=True)
        scaled.append((label, _count(stores), identify(stores, out, cold_cache, args.seeds), identify(stores, out, cold_cache, args.seeds)))
    if scaled and len(names) > 1:  # the whole grid: the cold and warm rows above (text measures not cached there)
        scaled.insert(2, (f"{len(names)} datasets, 2 models, full shape (the cold and warm rows above)", runs, rows[0][1], rows[1][1]))
    load.append(os.getloadavg()[0])
    labels = np.asarray(pd.read_parquet(out / "pies.parquet", columns=["label"]).head(args.test)["label"])
    with tempfile.TemporaryDirectory() as tmp:
        reference = reference_format_seconds(labels, Path(tmp), args.seeds)
    report(args, runs, floor, generated, rows, scaled, reference, load)
    if not args.keep:
        shutil.rmtree(args.root, ignore_errors=True)
    return 0


def _holds(kept: dict, wanted: dict) -> bool:
    """A kept store serves when it has the wanted datasets and seeds and every wanted shape (a
    run with --no-scaling does not need the quarter-shape store, nor rewrites it)."""
    return (kept["names"] == wanted["names"] and kept["seeds"] == wanted["seeds"]
            and all(kept["shapes"].get(shape) == size for shape, size in wanted["shapes"].items()))


def _count(stores: list[Path]) -> int:
    return sum(1 for store in stores for _ in store.rglob("manifest.json"))


def report(args, runs: int, floor: dict, generated: float, rows, scaled, reference: float, load: list[float]) -> None:
    per_dataset = 2 * (1 + len(METHODS) * len(SPARSITIES)) * args.seeds
    print(f"## identify_pies at the paper's scale ({args.grid} grid), {os.cpu_count()} CPUs, load average {load[0]:.2f} "
          f"before, {load[1]:.2f} after\n")
    print(f"Store: {runs:,} runs ({runs // per_dataset} dataset(s) x 2 models x 41 populations x {args.seeds} seeds), "
          f"{args.test:,} test and {args.train:,} train examples x 3 classes per dataset, {floor['bytes'] / 2**30:.2f} GiB of "
          f"prediction files ({'generated in %.0f s' % generated if generated > 1 else 'kept from an earlier --keep run'}).\n")
    print("| step | wall time (s) | peak RSS, sum (GiB) | peak PSS, sum (GiB) | x read floor (decoded) | target |")
    print("|---|---:|---:|---:|---:|---|")
    print(f"| read floor: every needed file's bytes once (4 threads) | {floor['raw']:.1f} | – | – | – | – |")
    print(f"| read floor: every needed file decoded into arrays once (4 threads) | {floor['decoded']:.1f} | – | – | 1.00 | – |")
    for label, (wall, peak, pss) in rows:
        target = "< 60 s, < 4 GiB, < 2x floor" if label.startswith("cold") else "< 10 s"
        print(f"| identify_pies, {label} | {wall:.1f} | {peak:.2f} | {pss:.2f} | {wall / floor['decoded']:.2f} | {target} |")
    if scaled:
        print("\n### How time grows (cold: no derived arrays cached, text measures cached; then warm)\n")
        print("| store | runs | test x train examples | cold (s) | warm (s) | peak RSS / PSS cold (GiB) |")
        print("|---|---:|---|---:|---:|---:|")
        for label, count, (cold, peak, pss), (warm, *_) in scaled:
            shape = 4 if "quarter" in label else 1
            print(f"| {label} | {count:,} | {args.test // shape:,} x {args.train // shape:,} | {cold:.1f} | {warm:.1f} | {peak:.2f} / {pss:.2f} |")
    print(f"\nReference format for comparison: np.genfromtxt of one population's test logits ({args.seeds} files of "
          f"{args.test:,} x 3) takes {reference:.2f} s, {reference * runs / args.seeds:.0f} s for the test logits of all {runs:,} runs.")


if __name__ == "__main__":
    sys.exit(main())
