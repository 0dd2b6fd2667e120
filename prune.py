"""Branch pruned runs from dense runs:
python prune.py -m source=multirun/dense seed=0..29 sparsity=0.5,0.9 pruning=imp_ft"""

import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

from pie.entry import interrupts, prepare, run_job

HELP = """
prune.py: branch pruned runs from the complete dense runs of a train.py sweep (the dense run of the
same seed: its final weights are pruned on the method's branch schedule, then fine-tuned).

  python prune.py -m source=multirun/dense seed=0..29 sparsity=0.5,0.9 pruning=imp_ft
  python prune.py -m source=multirun/dense seed=0..29 sparsity=0.9 pruning=imp_ft,imp_wr,omp_ft --dry-run

Settings (key=value): source (required: the dense sweep's folder or a glob), name (the branches' folder;
default branches), seed (which dense run, also the fine-tuning seed), sparsity (> 0), finetune_epochs
(after each prune; default the dense runs' E), pruning.branch.n_steps (prunes of an iterative method; default 3).
The at-initialisation methods (mp_ai, ibp_ai, rp_ai) have no branch: train them with train.py.
Integer ranges: seed=0..29 (no quotes needed), or seed='range(0,30)'."""
GROUPS = ("pruning", "selection", "logger", "hydra/launcher")

prepare(sys.argv, Path(__file__).parent / "conf", HELP, GROUPS)


@hydra.main(version_base="1.3", config_path="conf", config_name="prune")
def main(cfg: DictConfig) -> float:
    return run_job("prune.py", "branch", cfg)


if __name__ == "__main__":
    with interrupts("prune.py"):
        main()
