"""Train one run, or a sweep with -m:  python train.py -m seed='range(0,30)' model=bert"""

import hydra
from omegaconf import DictConfig

from pie.entry import quiet_libraries


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def main(cfg: DictConfig) -> float:
    quiet_libraries()
    from pie.reporting.wandb import finish
    from pie.training import train

    try:
        return train(cfg).metrics["test"]["accuracy"]
    finally:
        finish()


if __name__ == "__main__":
    main()
