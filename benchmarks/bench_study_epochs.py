"""Epochs a study needs: 30 seeds x 5 sparsities of one method, trained with train.py's
in-training schedule vs branched from the dense runs with prune.py on the method's own branch
schedule (conf/pruning/<method>.yaml: branch; finetune_epochs = E, prune.py's default).

Epoch counts come from the real schedule objects the configs build (no timing), so the ratio is
exact; an epoch of a pruned model costs the same as a dense one with unstructured masks.
Run: .venv/bin/python benchmarks/bench_study_epochs.py
"""

from __future__ import annotations

import sys
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import OmegaConf

from pie.checks import schedule_from

ROOT = Path(__file__).resolve().parents[1]
SEEDS, SPARSITIES = 30, (0.2, 0.5, 0.7, 0.9, 0.99)
GRID = [(d, m) for d in ("imdb", "rotten_tomatoes", "bbc_news") for m in ("bert", "bilstm")]
# Every iterative preset has imp_ft's schedules; the *_ai presets have no branch (prune.py refuses them).
METHODS = ("imp_ft", "omp_ft")


def schedule_epochs(dataset: str, model: str, method: str, sparsity: float) -> tuple[int, int, int]:
    """(dense run epochs, in-training pruned run epochs, branch epochs) for one run."""
    overrides = [f"dataset={dataset}", f"model={model}", f"pruning={method}", f"sparsity={sparsity}", "paths.root=.", "paths.output_dir=."]
    cfg = compose(config_name="train", overrides=overrides)
    dense_cfg = compose(config_name="train", overrides=[*overrides[:2], "paths.root=.", "paths.output_dir=."])
    dense = instantiate(dense_cfg.pruning.schedule).max_epochs
    branch = {**OmegaConf.to_container(cfg.pruning.branch, resolve=True), "sparsity": sparsity, "finetune_epochs": dense}
    return dense, instantiate(cfg.pruning.schedule).max_epochs, schedule_from(branch).max_epochs


def main() -> int:
    rows = ["| dataset | model | method | E | in-training epochs | branch epochs | ratio |", "|---|---|---|---|---|---|---|"]
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        for dataset, model in GRID:
            for method in METHODS:
                dense_epochs = pruned_epochs = branch_epochs = 0
                for sparsity in SPARSITIES:
                    dense_epochs, pruned, branched = schedule_epochs(dataset, model, method, sparsity)
                    pruned_epochs += pruned
                    branch_epochs += branched
                in_training = SEEDS * (dense_epochs + pruned_epochs)
                branches = SEEDS * (dense_epochs + branch_epochs)
                rows.append(
                    f"| {dataset} | {model} | {method} | {dense_epochs} | {in_training} | {branches} | {in_training / branches:.2f}x |"
                )
    print(f"Epochs for {SEEDS} seeds x (dense + {len(SPARSITIES)} sparsities) of one method; branches fine-tune E epochs "
          "after each of their prunes (prune.py default).\n")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
