"""Epochs a study needs: 30 seeds x 5 sparsities of one method, trained with train.py's
in-training schedule vs branched from the dense runs with prune.py.

Epoch counts come from the real schedule objects the configs build (no timing), so the ratio is
exact; an epoch of a pruned model costs the same as a dense one with unstructured masks.
Run: .venv/bin/python benchmarks/bench_study_epochs.py
"""

from __future__ import annotations

import sys
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from pie.pruning.schedules import branch

ROOT = Path(__file__).resolve().parents[1]
SEEDS, SPARSITIES = 30, (0.2, 0.5, 0.7, 0.9, 0.99)
GRID = [(d, m) for d in ("imdb", "rotten_tomatoes", "bbc_news") for m in ("bert", "bilstm")]
METHODS = ("imp_ft", "mp_ai")  # every iterative preset has imp_ft's schedule, every *_ai preset mp_ai's


def schedule_epochs(dataset: str, model: str, method: str, sparsity: float) -> tuple[int, int]:
    """(dense run epochs, pruned run epochs) for one run of the in-training schedule."""
    overrides = [f"dataset={dataset}", f"model={model}", f"pruning={method}", f"sparsity={sparsity}", "paths.root=.", "paths.output_dir=."]
    cfg = compose(config_name="train", overrides=overrides)
    dense = compose(config_name="train", overrides=[*overrides[:2], "paths.root=.", "paths.output_dir=."])
    return instantiate(dense.pruning.schedule).max_epochs, instantiate(cfg.pruning.schedule).max_epochs


def main() -> int:
    rows = ["| dataset | model | method | E | in-training epochs | branch epochs | ratio |", "|---|---|---|---|---|---|---|"]
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        for dataset, model in GRID:
            for method in METHODS:
                dense_epochs = pruned_epochs = branch_epochs = 0
                for sparsity in SPARSITIES:
                    dense_epochs, pruned = schedule_epochs(dataset, model, method, sparsity)
                    pruned_epochs += pruned
                    branch_epochs += branch(sparsity, finetune_epochs=dense_epochs).max_epochs
                in_training = SEEDS * (dense_epochs + pruned_epochs)
                branches = SEEDS * (dense_epochs + branch_epochs)
                rows.append(
                    f"| {dataset} | {model} | {method} | {dense_epochs} | {in_training} | {branches} | {in_training / branches:.2f}x |"
                )
    print(f"Epochs for {SEEDS} seeds x (dense + {len(SPARSITIES)} sparsities) of one method; branches fine-tune E epochs (prune.py default).\n")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
