"""The framework's cost: one dense demo run through train.py vs a bare PyTorch loop.

The run: the demo's BiLSTM on Rotten Tomatoes (2,500 training sentences), E = 3, seed 0, one
thread (`python train.py experiment=demo seed=0 sparsity=0 pruning=none`, the sweep's dense run).
The bare loop builds the same parts with pie's own code (data preparation, GloVe vocabulary,
token cache and batches of pie.data.datamodule, network, loss), then trains with the same
optimizer, batch size, gradient clipping and epochs in a plain `for` loop, and writes the same
four logit arrays (train after epoch 1; train, validation, test at the end) as .npy. The bench
checks that the bare loop's logits equal the framework's, bit for bit: the two do the same
computation, so any difference in time is the framework's.

Measured in pairs that alternate (framework, bare, framework, ...), since this machine's speed
drifts: whole-process (a fresh `python` each, imports and Hydra included) and in-process (both
inside this process, after an untimed warm-up of each). The in-process framework runs also time
the framework's own steps, which make the breakdown; the Lightning loop is what remains.

Run: .venv/bin/python benchmarks/bench_overhead.py [--pairs 5] [--inprocess-pairs 3]
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUN = ["experiment=demo", "seed=0", "sparsity=0", "pruning=none"]
FOUR = {"train_epoch1": ("train", 1), "train_final": ("train", None), "validation_final": ("validation", None),
        "test_final": ("test", None)}


def bare_loop(spec: dict, out: Path) -> float:
    """Train the run in a plain loop from pie's parts; write the four logit arrays under `out`.
    Returns the seconds from the first line of work to the last file written."""
    import random

    import numpy as np
    import torch

    from pie.data.datamodule import TextDataModule
    from pie.data.dataset import prepare
    from pie.data.sources import movie_reviews
    from pie.models.bilstm import build
    from pie.models.glove import GloveVocabulary

    started = time.perf_counter()
    torch.set_num_threads(spec["threads"])
    torch.use_deterministic_algorithms(True)
    random.seed(spec["seed"]), np.random.seed(spec["seed"]), torch.manual_seed(spec["seed"])
    data = prepare(source=movie_reviews(spec["subset"]), **spec["dataset"])
    tokenizer = GloveVocabulary.from_texts(data.splits["train"]["text"], vectors=spec["vectors"])
    network = build(data.num_classes, tokenizer, **spec["network"])
    batches = TextDataModule(data, tokenizer, spec["batch_size"], spec["eval_batch_size"], spec["cache_dir"], seed=spec["seed"])
    loss_of = data.task.torch_loss()
    parameters = [p for p in network.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(parameters, lr=spec["lr"])

    @torch.no_grad()
    def save_logits(name: str, split: str) -> None:
        network.eval()
        logits = [network(b["input_ids"], b["attention_mask"]) for b in batches.ordered_dataloader(split)]
        network.train()
        np.save(out / f"{name}.npy", torch.cat(logits).numpy())

    loader = batches.train_dataloader()
    for epoch in range(spec["epochs"]):
        loader.sampler.set_epoch(epoch)
        for batch in loader:
            loss = loss_of(network(batch["input_ids"], batch["attention_mask"]), batch["labels"])
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(parameters, spec["clip"])
            optimizer.step()
        for name, (split, after) in FOUR.items():
            if after == epoch + 1:
                save_logits(name, split)
    for name, (split, after) in FOUR.items():
        if after is None:
            save_logits(name, split)
    return time.perf_counter() - started


def compose(cache: Path, output: Path):
    from hydra import compose as hydra_compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return hydra_compose("train", overrides=[*RUN, f"paths.root={ROOT}", f"paths.cache_dir={cache}",
                                                 f"paths.output_dir={output}"])


def bare_spec(cache: Path) -> dict:
    """What the bare loop needs from the demo's composed config (which must still be the BiLSTM
    on a movie-reviews source with Adam, the loop's only setup)."""
    from omegaconf import OmegaConf

    cfg = OmegaConf.to_container(compose(cache, cache / "unused"), resolve=True)
    model, dataset, trainer = cfg["model"], cfg["dataset"], cfg["trainer"]
    expected = {"dataset.source": (dataset["source"]["_target_"], "pie.data.sources.movie_reviews"),
                "model.network": (model["network"]["_target_"], "pie.models.bilstm.build"),
                "model.optimizer": (model["optimizer"]["_target_"], "torch.optim.Adam"),
                "trainer.gradient_clip_algorithm": (trainer.get("gradient_clip_algorithm", "norm"), "norm")}
    wrong = {key: found for key, (found, wanted) in expected.items() if found != wanted}
    if wrong:
        raise SystemExit(f"bench_overhead.py: the demo's config changed ({wrong}); update the bare loop to match")
    return {
        "threads": cfg["threads"], "seed": cfg["seed"], "subset": dataset["source"]["subset"],
        "dataset": {k: v for k, v in dataset.items() if k not in ("_target_", "source")},
        "vectors": model["tokenizer"]["vectors"], "network": {k: v for k, v in model["network"].items() if k not in ("_target_", "_partial_")},
        "batch_size": model["batch_size"], "eval_batch_size": model["eval_batch_size"], "lr": model["optimizer"]["lr"],
        "epochs": model["epochs"], "clip": trainer["gradient_clip_val"], "cache_dir": str(cache),
    }


def framework_process(work: Path, index: int, env: dict) -> tuple[float, Path]:
    run_dir = work / f"framework{index}"
    started = time.perf_counter()
    subprocess.run([sys.executable, str(ROOT / "train.py"), *RUN, f"hydra.run.dir={run_dir}"], cwd=work, env=env,
                   check=True, capture_output=True)
    return time.perf_counter() - started, run_dir


def bare_process(work: Path, index: int, env: dict, spec_file: Path) -> tuple[float, Path]:
    out = work / f"bare{index}"
    out.mkdir()
    started = time.perf_counter()
    subprocess.run([sys.executable, __file__, "--bare", str(spec_file), str(out)], cwd=work, env=env, check=True,
                   capture_output=True)
    return time.perf_counter() - started, out


# The framework's own steps, timed inside the in-process runs: label -> [(module, attribute)];
# `claim` is a context manager, timed on entry and exit without the run it holds.
STEPS = {
    "per-epoch validation": [("lightning.pytorch.loops.evaluation_loop", "_EvaluationLoop.run")],
    "epoch checkpoints": [("pie.runs.resume", "EpochCheckpoint.on_train_epoch_end")],
    "prediction files (Parquet, sha256)": [("pie.runs.writer", "write_predictions")],
    "final weights (safetensors, sha256)": [("pie.runs.lifecycle", "Claim.save_weights")],
    "manifests, versions, lock, skip check": [("pie.training", "claim"), ("pie.runs.lifecycle", "Claim.complete")],
    "config checks and run keys": [("pie.checks", "train_config"), ("pie.training", "config_keys")],
}
CONTEXTS = {"claim"}


@contextlib.contextmanager
def timed_steps(totals: dict[str, float]):
    """Wrap each step with a timer that adds its seconds to totals[label]."""
    import importlib

    undo = []
    for label, targets in STEPS.items():
        for module_name, attribute in targets:
            owner = importlib.import_module(module_name)
            *path, name = attribute.split(".")
            for part in path:
                owner = getattr(owner, part)
            original = getattr(owner, name)
            setattr(owner, name, (_timed_context if name in CONTEXTS else _timed)(original, label, totals))
            undo.append((owner, name, original))
    try:
        yield
    finally:
        for owner, name, original in undo:
            setattr(owner, name, original)


def _timed(function, label: str, totals: dict[str, float]):
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        started = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            totals[label] = totals.get(label, 0.0) + time.perf_counter() - started
    return wrapper


def _timed_context(function, label: str, totals: dict[str, float]):
    """A context manager's own time: entering and leaving it, not the block it holds."""
    @contextlib.contextmanager
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        started = time.perf_counter()
        with function(*args, **kwargs) as value:
            totals[label] = totals.get(label, 0.0) + time.perf_counter() - started
            yield value
            started = time.perf_counter()
        totals[label] = totals.get(label, 0.0) + time.perf_counter() - started
    return wrapper


def same_logits(run_dir: Path, bare_dir: Path) -> bool:
    import numpy as np

    from pie.runs.predictions import read_predictions

    return all(np.array_equal(read_predictions(run_dir / "predictions" / f"{name}.parquet").logits, np.load(bare_dir / f"{name}.npy"))
               for name in FOUR)


def spread(ratios: list[float]) -> str:
    return f"{statistics.median(ratios):.3f}x ({min(ratios):.3f}–{max(ratios):.3f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=5, help="alternating whole-process pairs")
    parser.add_argument("--inprocess-pairs", type=int, default=3, help="alternating in-process pairs")
    parser.add_argument("--bare", nargs=2, metavar=("SPEC", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare:
        bare_loop(json.loads(Path(args.bare[0]).read_text()), Path(args.bare[1]))
        return
    load = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench_overhead-") as tmp:
        work = Path(tmp)
        env = {**os.environ, "PIE_CACHE_DIR": str(work / "cache"), "PYTHONPATH": str(ROOT), "WANDB_MODE": "disabled"}
        spec_file = work / "spec.json"
        spec_file.write_text(json.dumps(bare_spec(work / "cache")))
        framework_process(work, -1, env), bare_process(work, -1, env, spec_file)  # warm the token cache and the page cache
        whole = []
        for index in range(args.pairs):
            (framework_s, run_dir), (bare_s, bare_dir) = framework_process(work, index, env), bare_process(work, index, env, spec_file)
            whole.append((framework_s, bare_s))
        identical = same_logits(run_dir, bare_dir)

        os.environ.update({k: env[k] for k in ("PIE_CACHE_DIR", "WANDB_MODE")})
        from pie.entry import offline_defaults, quiet_libraries
        from pie.training import train

        offline_defaults()
        quiet_libraries()
        spec = json.loads(spec_file.read_text())
        inprocess, steps = [], []
        for index in range(-1, args.inprocess_pairs):
            totals: dict[str, float] = {}
            cfg = compose(work / "cache", work / f"inprocess{index}")
            with timed_steps(totals):
                started = time.perf_counter()
                train(cfg)
                framework_s = time.perf_counter() - started
            (work / f"inbare{index}").mkdir()
            bare_s = bare_loop(spec, work / f"inbare{index}")
            if index >= 0:
                inprocess.append((framework_s, bare_s))
                steps.append(totals)
    report(whole, inprocess, steps, identical, load, os.getloadavg())


def report(whole, inprocess, steps, identical: bool, load_before, load_after) -> None:
    median = statistics.median
    print(f"## Framework overhead: one dense demo run (BiLSTM, Rotten Tomatoes 2,500, E = 3, 1 thread), {os.cpu_count()} CPUs\n")
    print(f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f}; bare loop's logits identical to train.py's: "
          f"{'yes' if identical else 'NO'}\n")
    print("| measurement | pairs | train.py (s, median) | bare loop (s, median) | ratio, median (min–max) |")
    print("|---|---:|---:|---:|---|")
    for label, pairs in (("whole process", whole), ("in process", inprocess)):
        print(f"| {label} | {len(pairs)} | {median(f for f, _ in pairs):.2f} | {median(b for _, b in pairs):.2f} | "
              f"{spread([f / b for f, b in pairs])} |")
    extra_whole = median(f - b for f, b in whole)
    extra_in = median(f - b for f, b in inprocess)
    print(f"\n### Where train.py's extra {extra_whole:.2f} s go (whole process, median of the pairs' differences)\n")
    print("| part | seconds (median) | share of the bare run |")
    print("|---|---:|---:|")
    bare = median(b for _, b in whole)
    named = {label: median(t.get(label, 0.0) for t in steps) for label in STEPS}
    rows = [("start-up: imports, Hydra composition, process exit", extra_whole - extra_in), *named.items(),
            ("Lightning loop and the rest (in-process difference minus the parts above)", extra_in - sum(named.values()))]
    for label, seconds in rows:
        print(f"| {label} | {seconds:.2f} | {100 * seconds / bare:.1f}% |")


if __name__ == "__main__":
    main()
