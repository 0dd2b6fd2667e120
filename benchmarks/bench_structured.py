"""What pruning buys at inference: parameters, FLOPs and measured CPU time per example of the
dense, unstructured, structured and N:M models of a finished study, beside their accuracy and
% PIEs (make bench-structured runs the study, identify_pies and this script).

For each population of the study (dense and each method at each sparsity) the run with seed
--seed is restored from its saved weights (pie.restore: structured shapes rebuilt, masks applied)
and checked to reproduce its logged test logits. Then, in one process on one thread:

- weights removed, of the prunable set the method chose from (its manifest: structured and
  unstructured methods the run's selection, N:M its Linear weights); parameters stored (the
  tensors' sizes) and nonzero;
- FLOPs per test example as executed by dense kernels: torch's FlopCounterMode over the test split
  (matrix products and attention; in inference mode a packed nn.LSTM runs as matrix products it
  counts, 2 x 4H x (input + H) per token, layer and direction);
- CPU time per example: the whole test split in its evaluation batches, --repeats passes per
  model, the models taking turns pass by pass (so drifts in the machine's load hit them alike);
  the median pass divided by the examples, and its ratio to the dense model's (speed-up).

Accuracy (mean ± std over seeds) and % PIEs with its 95% interval come from identify_pies's
summary.csv. The machine's load average is printed before and after the timing.
Run: .venv/bin/python benchmarks/bench_structured.py --runs multirun/demo_structured --results results/demo_structured
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from pie.restore import restore
from pie.runs.discovery import discover, load_logits


@dataclass
class Model:
    label: str
    method: str
    sparsity: float
    achieved_prunable: float
    prunable: int
    network: nn.Module
    batches: list[dict]
    examples: int


def load_models(runs_dir: str, seed: int, cache_dir: str | None) -> list[Model]:
    """One restored model per population (its seed-`seed` run), dense first; each must reproduce
    its logged test logits."""
    models = []
    for run in sorted(discover([runs_dir]).complete, key=lambda r: (not r.manifest.is_dense, r.manifest.pruning.method, r.manifest.sparsity)):
        manifest = run.manifest
        if manifest.seed != seed:
            continue
        parts, _ = restore(run, cache_dir)
        logits = parts.module.predict_logits(parts.datamodule.ordered_dataloader("test"))
        if not np.array_equal(logits, load_logits([run], "test_final").logits[0]):
            raise RuntimeError(f"{run.directory}: the restored model does not reproduce its logged test logits")
        batches = [{k: v for k, v in b.items() if k in ("input_ids", "attention_mask")} for b in parts.datamodule.ordered_dataloader("test")]
        pruning = manifest.pruning
        models.append(Model(f"{pruning.method} {manifest.sparsity:g}" if not manifest.is_dense else "dense", pruning.method,
                            manifest.sparsity, pruning.achieved_prunable or 0.0, pruning.prunable_parameters or 0,
                            parts.network.eval(), batches, len(logits)))
    if not models or models[0].method != "dense":
        raise SystemExit(f"no complete dense run with seed {seed} under {runs_dir}")
    return models


@torch.inference_mode()
def test_pass(model: Model) -> None:
    for batch in model.batches:
        model.network(batch["input_ids"], batch["attention_mask"])


def flops_per_example(model: Model) -> float:
    with FlopCounterMode(display=False) as counter:
        test_pass(model)
    return counter.get_total_flops() / model.examples


def timings(models: list[Model], repeats: int) -> dict[str, float]:
    """Median seconds per example of each model over `repeats` turns (after one untimed turn)."""
    seconds: dict[str, list[float]] = {m.label: [] for m in models}
    for turn in range(repeats + 1):
        for model in models:
            start = time.perf_counter()
            test_pass(model)
            if turn:
                seconds[model.label].append((time.perf_counter() - start) / model.examples)
    return {label: statistics.median(values) for label, values in seconds.items()}


def quality(results: str, method: str, sparsity: float) -> tuple[str, str]:
    """(accuracy mean ± std, % PIEs [95% interval]) of a population from identify_pies's summary."""
    summary = pd.read_csv(Path(results) / "summary.csv")
    row = summary[(summary["method"] == method) & (np.isclose(summary["sparsity"], sparsity))].iloc[0]
    accuracy = f"{row['accuracy_mean']:.4f} ± {row['accuracy_std']:.4f} ({int(row['seeds'])} seeds)"
    pies = "–" if method == "dense" else f"{row['pie_percent']:.2f} [{row['pie_percent_low']:.2f}, {row['pie_percent_high']:.2f}]"
    return accuracy, pies


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", default="multirun/demo_structured", help="the study's sweep directory")
    parser.add_argument("--results", default="results/demo_structured", help="identify_pies's output directory for it")
    parser.add_argument("--seed", type=int, default=0, help="the seed whose model each population is timed with")
    parser.add_argument("--repeats", type=int, default=15, help="timed test passes per model")
    parser.add_argument("--cache-dir", default=None, help="token cache (default: each run's own)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    models = load_models(args.runs, args.seed, args.cache_dir)
    flops = {m.label: flops_per_example(m) for m in models}
    load_before = os.getloadavg()
    seconds = timings(models, args.repeats)
    load_after = os.getloadavg()
    dense = models[0]
    print(f"CPU: 1 thread of {os.cpu_count()} cores, torch {torch.__version__}; load average (1/5/15 min) "
          f"{'/'.join(f'{x:.2f}' for x in load_before)} before and {'/'.join(f'{x:.2f}' for x in load_after)} after the timing; "
          f"{dense.examples} test examples, median of {args.repeats} passes per model, models taking turns.\n")
    print("| model | weights removed (fraction of the method's prunable set) | parameters | nonzero | MFLOPs / example "
          "| CPU ms / example | speed-up | accuracy (mean ± std) | % PIEs [95% CI] |")
    print("|---|---|---:|---:|---:|---:|---:|---|---|")
    for model in models:
        stored = sum(p.numel() for p in model.network.parameters())
        nonzero = sum(int(torch.count_nonzero(p)) for p in model.network.parameters())
        accuracy, pies = quality(args.results, model.method, model.sparsity)
        removed = "–" if model.method == "dense" else (
            f"{round(model.achieved_prunable * model.prunable):,} ({model.achieved_prunable:.3f} of {model.prunable:,})")
        print(f"| {model.label} | {removed} | {stored:,} | {nonzero:,} | {flops[model.label] / 1e6:.2f} | "
              f"{seconds[model.label] * 1e3:.3f} | {seconds[dense.label] / seconds[model.label]:.2f}x | {accuracy} | {pies} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
