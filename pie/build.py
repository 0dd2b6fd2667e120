"""A run's parts, built from its composed config exactly as every run of that config builds them:
seeded data, tokenizer, network, data module and Lightning module; the pruning callback, the
logger and the trainer. Each part's implementation is the config's `_target_`."""

from __future__ import annotations

from dataclasses import dataclass

import lightning as L
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from pie.data.datamodule import TextDataModule
from pie.data.dataset import TextClassificationData, column
from pie.models.module import Classifier
from pie.pies.conventions import deciding
from pie.pruning.callback import ScheduledPruning
from pie.pruning.schedules import Schedule
from pie.runs.paths import RunPaths
from pie.runs.resume import AtomicCheckpointIO, cluster_plugins
from pie.runs.weights import state_sha256


@dataclass
class Components:
    data: TextClassificationData
    network: torch.nn.Module
    datamodule: TextDataModule
    module: Classifier
    init_sha256: str


def components(cfg: DictConfig) -> Components:
    """Seed, then data, tokenizer, network and module (its task decides multi-label classes by
    threshold.strict)."""
    torch.set_num_threads(int(cfg.threads))
    L.seed_everything(int(cfg.seed), workers=True, verbose=False)
    data = instantiate(cfg.dataset)
    tokenizer = instantiate(cfg.model.tokenizer)(train_texts=column(data.splits["train"], "text"))
    network = instantiate(cfg.model.network)(num_classes=data.num_classes, tokenizer=tokenizer)
    datamodule = TextDataModule(
        data, tokenizer, batch_size=int(cfg.model.batch_size), eval_batch_size=int(cfg.model.eval_batch_size),
        cache_dir=cfg.paths.cache_dir, pad_to_max_length=bool(cfg.model.pad_to_max_length), seed=int(cfg.seed),
    )
    task = data.task.using(deciding(bool(cfg.threshold.get("strict", False))))
    module = Classifier(
        network, instantiate(cfg.model.optimizer), data.num_classes, task,
        collect_train_logits=task.collects_train_logits(cfg.threshold.tune_on), objective=objective(cfg, data.splits["train"]["id"], task),
    )
    return Components(data, network, datamodule, module, state_sha256(network.state_dict()))


def objective(cfg: DictConfig, train_ids, task):
    """A recovery run's training objective (conf/recovery/: pie.recovery's factories), or None
    for the task's loss."""
    node = OmegaConf.select(cfg, "pruning.recovery.objective")
    return instantiate(node)(task=task, train_ids=train_ids) if node else None


def pruner(cfg: DictConfig, schedule: Schedule, rewind_state=None, measure=None, masks=None) -> ScheduledPruning:
    """The method's callback (conf/pruning/callback/) on this run's schedule and seed; `measure`
    gives the test metrics it records right before and after each prune; `masks` are a recovery
    run's starting masks (its pruned source run's)."""
    extra = {"masks": masks} if masks else {}
    return instantiate(cfg.pruning.callback)(schedule=schedule, random_seed=int(cfg.seed), rewind_state=rewind_state,
                                             measure=measure, **extra)


def logger(cfg: DictConfig, paths: RunPaths, names: dict):
    """The config's logger writing into the run's logs folder, or False for none; the settings
    it leaves null that `names` has (W&B's id, name, group, job_type) are filled from the run."""
    if not cfg.get("logger"):
        return False
    filled = {key: value for key, value in names.items() if key in cfg.logger and cfg.logger[key] is None}
    return instantiate(cfg.logger, save_dir=str(paths.logs), **filled)


def trainer(cfg: DictConfig, schedule: Schedule, logger, callbacks: list) -> L.Trainer:
    """The config's trainer for the schedule's epochs, writing checkpoints atomically. Without
    `validate_every_epoch` it runs no validation pass: only the logs read them (the final
    validation logits and metrics come from the prediction writer), so results are the same."""
    validation = {} if cfg.get("validate_every_epoch", False) else {"limit_val_batches": 0}
    return instantiate(cfg.trainer)(
        max_epochs=schedule.max_epochs, logger=logger, callbacks=callbacks, plugins=[AtomicCheckpointIO(), *cluster_plugins()],
        **validation,
    )
