"""Recover pruned runs with a recovery method (the control: plain fine-tuning):
python recover.py -m source=multirun/dense_and_pruned method=mp_ai sparsity=0.9 seed=0..9 recovery=none,distill"""

import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

from pie.entry import interrupts, prepare, run_job

HELP = """
recover.py: fine-tune complete pruned runs (their masks held) for a few epochs under a recovery method,
each method's runs a population <method>+<recovery> that identify_pies compares with the dense population
and with the control (<method>+none: plain fine-tuning at the same budget).

  python identify_pies.py multirun/src --split train --out results/src_train
  python recover.py -m source=multirun/src method=mp_ai sparsity=0.9 seed=0..9 recovery=none,pie_weight,distill \\
      pies=results/src_train/pies.parquet
  python identify_pies.py multirun/src multirun/recovery --out results/recovery

Settings (key=value): source (required: the sweep holding the pruned runs and, for distill, the dense runs),
method and sparsity (required: the pruned population, as identify_pies labels it), seed (which run; also the
fine-tuning seed), epochs (fine-tuning epochs of every method; default 1), name (the runs' folder; default recovery),
pies (pie_weight: the pies.parquet of identify_pies --split train over source), pie_set (pie_weight: modal or robust),
weight (pie_weight: the PIEs' loss weight, default 5), teacher (distill: the dense sweep, default source), temperature
and alpha (distill; default 2 and 0.5). Each method reads only its own options, so one sweep runs them all.
Integer ranges: seed=0..29 (no quotes needed)."""
GROUPS = ("recovery", "logger", "hydra/launcher")

prepare(sys.argv, Path(__file__).parent / "conf", HELP, GROUPS)


@hydra.main(version_base="1.3", config_path="conf", config_name="recover")
def main(cfg: DictConfig) -> float:
    return run_job("recover.py", "recover", cfg)


if __name__ == "__main__":
    with interrupts("recover.py"):
        main()
