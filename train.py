"""Train one run, or a sweep with -m:  python train.py -m seed=0..29 model=bert"""

import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

from pie.entry import interrupts, prepare, run_job

HELP = """
train.py: train one run, or a sweep of runs with -m; every option is a Hydra override key=value.

  python train.py                                          one dense BiLSTM run on Rotten Tomatoes -> runs/<name>/
  python train.py -m seed=0..29 pruning=imp_ft sparsity=0,0.5,0.9
                                                           30 seeds x (dense + 2 sparsities) -> multirun/<name>/
  python train.py -m experiment=demo --dry-run             the plan of a sweep (complete, resumable, new runs; ETA)
  python train.py -m experiment=paper dataset=snli model=bert   the paper's grid: 30 seeds x 41 arms
  python train.py -m experiment=paper dataset=snli model=bert fidelity=reference   the same, as the reference code trains

Settings (key=value): name (the sweep's folder; default <dataset>_<model>), seed, sparsity (0 = the dense run),
threads, dataset.max_train_examples, dataset.max_eval_examples, model.epochs, pruning.scope=layerwise|global,
threshold.tune_on=validation|train_epoch, threshold.strict=false|true, pair_encoding=standard|reference,
save_weights=final|none. fidelity=pie|reference: pie's method, or every training-side behaviour of the reference code.
Integer ranges: seed=0..29 (no quotes needed), or seed='range(0,30)'."""
GROUPS = ("dataset", "model", "pruning", "selection", "fidelity", "trainer", "logger", "experiment", "hydra/launcher")

prepare(sys.argv, Path(__file__).parent / "conf", HELP, GROUPS)


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def main(cfg: DictConfig) -> float:
    return run_job("train.py", "train", cfg)


if __name__ == "__main__":
    with interrupts("train.py"):
        main()
