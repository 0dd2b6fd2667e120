"""Branch pruned runs from dense runs:
python prune.py -m source=multirun/dense seed='range(0,30)' sparsity=0.5,0.9 pruning=imp_ft"""

import hydra
from omegaconf import DictConfig

from pie.entry import quiet_libraries


@hydra.main(version_base="1.3", config_path="conf", config_name="prune")
def main(cfg: DictConfig) -> float:
    quiet_libraries()
    from pie.reporting.wandb import finish
    from pie.training import branch

    try:
        return branch(cfg).metrics["test"]["accuracy"]
    finally:
        finish()


if __name__ == "__main__":
    main()
