"""prune.py's and recover.py's branches (open_lth's trunk and branches): the config of a run
that starts from a complete run's final weights (a dense run's for a pruned branch, a pruned
run's for a recovery).

The branch's config is the dense run's with the pruning part replaced, its schedule the method's
own branch schedule (conf/pruning/branch/), so it rebuilds the dense run's data, model and
initialisation (checked against the recorded hash when it trains) and joins the dense
population's model setup in identify_pies.
"""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf, open_dict

from pie.runs.manifest import Run


def branch_config(cfg: DictConfig, dense: Run) -> DictConfig:
    """The dense run's config with pruning (on the method's branch schedule at the branch's
    sparsity and fine-tuning epochs), selection, sparsity and outputs from the branch."""
    merged = OmegaConf.create(dense.manifest.config)
    finetune_epochs = cfg.finetune_epochs if cfg.finetune_epochs is not None else merged.model.epochs
    with open_dict(merged):
        merged.pruning = OmegaConf.to_container(cfg.pruning)
        merged.pruning.schedule = {**OmegaConf.to_container(cfg.pruning.branch, resolve=True), "sparsity": "${sparsity}",
                                   "finetune_epochs": int(finetune_epochs)}
        merged.selection = cfg.selection
        merged.sparsity = cfg.sparsity
        merged.name = cfg.name
        merged.predictions = cfg.predictions
        merged.save_weights = cfg.get("save_weights", "final")
        merged.validate_every_epoch = cfg.get("validate_every_epoch", False)
        merged.paths = OmegaConf.to_container(cfg.paths)  # unresolved: the sweeper composes jobs before Hydra's runtime exists
        merged.logger = cfg.get("logger")
        merged.branch = {"source": str(dense.directory), "source_run_key": dense.manifest.keys.run}
    return merged


def rewinds_to_init(merged: DictConfig) -> bool:
    """Rewinding in a branch goes to the dense run's weights at initialisation (step 0) only."""
    step = merged.pruning.get("rewind_step")
    if step is not None and step != 0:
        raise ValueError(
            f"pruning.rewind_step={step}: branches rewind to initialisation only (step 0); late "
            "rewinding needs the in-training schedule (train.py)"
        )
    return step == 0


def recovery_config(cfg: DictConfig, source: Run, recovery: dict) -> DictConfig:
    """The pruned source run's config, fine-tuned `cfg.epochs` more epochs with its masks held
    (schedules.hold) under the recovery method (pie.recovery.recorded's `recovery`), which the
    pruning section records: it enters the run's and the method's keys, and the method label is
    the source's with "+<recovery>" (mp_ai+distill)."""
    merged = OmegaConf.create(source.manifest.config)
    with open_dict(merged):
        merged.pruning.schedule = {"_target_": "pie.pruning.schedules.hold", "sparsity": "${sparsity}", "epochs": int(cfg.epochs)}
        merged.pruning.recovery = {**recovery, "source_method": source.manifest.pruning.method}
        merged.name = cfg.name
        merged.predictions = cfg.predictions
        merged.save_weights = cfg.get("save_weights", "final")
        merged.paths = OmegaConf.to_container(cfg.paths)
        merged.logger = cfg.get("logger")
        merged.branch = {"source": str(source.directory), "source_run_key": source.manifest.keys.run}
    return merged
