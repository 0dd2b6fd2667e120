"""One training run, wired from a composed config: checks -> the run directory's claim (skip,
begin or resume; pie.runs.lifecycle) -> the run's parts (pie.build) -> Lightning fit with the
pruning, prediction and checkpoint callbacks -> the task's threshold and metrics -> weights and
the complete manifest. A prune.py branch is the same run started from a dense run's weights,
a recover.py run one started from a pruned run's weights and masks."""

from __future__ import annotations

import logging
import os
import time
import warnings
from dataclasses import dataclass
from typing import Mapping

import torch
from omegaconf import DictConfig, OmegaConf

from pie import build, checks
from pie.branching import rewinds_to_init
from pie.data.dataset import column
from pie.pruning.schedules import Schedule
from pie.pruning.structured import reshape_to
from pie.reporting.progress import EpochProgress
from pie.reporting.wandb import log_predictions, log_summary, quiet
from pie.runs.identity import DENSE, config_keys, method_label
from pie.runs.lifecycle import Claim, claim
from pie.runs.manifest import Branch, DatasetInfo, Manifest, ModelInfo, PopulationKey, PruningInfo, Threshold, Weights
from pie.runs.resume import EpochCheckpoint, ResumeState, trim_metrics_log
from pie.runs.sweeps import log_progress
from pie.runs.weights import read_final_weights
from pie.runs.writer import PredictionWriter

log = logging.getLogger(__name__)
# A requeued job may start while its previous attempt is still being killed: wait for its lock.
LOCK_WAIT_S = float(os.environ.get("PIE_LOCK_WAIT_S", 30))


@dataclass(frozen=True)
class StartFrom:
    """A branch's starting point: the source run's final weights, the hash of its initial weights,
    and whether the pruning method rewinds to them (the rebuilt initialisation is kept then)."""

    weights: Mapping[str, torch.Tensor]
    init_sha256: str
    rewind_to_init: bool
    masks: Mapping[str, torch.Tensor] | None = None  # a recovery's: the pruned source run's, held


def train(cfg: DictConfig, start: StartFrom | None = None) -> Manifest:
    """Run one run, resume it from its last checkpoint, or skip it when already complete;
    returns its manifest. With `start` the network starts from a dense run's final weights."""
    schedule = checks.train_config(cfg)
    checks.check_single_run(cfg, schedule)
    branch = Branch(**cfg.branch) if cfg.get("branch") else None
    keys = config_keys(cfg, dense=schedule.is_dense)
    with claim(cfg.paths.output_dir, keys, OmegaConf.to_container(cfg, resolve=True), int(cfg.seed), branch, LOCK_WAIT_S) as run:
        return run.manifest if run.skipped else _fit(cfg, schedule, run, start)


def branch(cfg: DictConfig) -> Manifest:
    """prune.py: one branch from the dense run of its seed under `source` (skipped when complete)."""
    merged, dense = checks.prune_config(cfg)
    state, _ = read_final_weights(dense)
    return train(merged, StartFrom(state, dense.manifest.weights.init_sha256, rewinds_to_init(merged)))


def recover(cfg: DictConfig) -> Manifest:
    """recover.py: one recovery of the pruned run of its seed under `source` (skipped when complete)."""
    merged, source = checks.recover_config(cfg)
    state, masks = read_final_weights(source)
    return train(merged, StartFrom(state, source.manifest.weights.init_sha256, False, masks))


def _start(parts: build.Components, start: StartFrom | None) -> dict | None:
    """Load a branch's starting weights; returns the initial weights to rewind to, if any. The
    rebuilt initialisation must be the dense run's, so rewinding goes to the same weights."""
    if start is None:
        return None
    if parts.init_sha256 != start.init_sha256:
        raise RuntimeError(
            "the rebuilt initial weights differ from the dense run's (package versions or data changed since it "
            "ran); branch from dense runs made with this installation"
        )
    rewind_state = {k: v.detach().clone() for k, v in parts.network.state_dict().items()} if start.rewind_to_init else None
    parts.network.load_state_dict(start.weights)
    return rewind_state


def _fit(cfg: DictConfig, schedule: Schedule, run: Claim, start: StartFrom | None) -> Manifest:
    started = time.time()
    parts = build.components(cfg)
    rewind_state = _start(parts, start)
    if run.resume is not None:
        if run.resume.structure:
            reshape_to(parts.network, run.resume.structure)
        trim_metrics_log(run.paths.metrics_log, run.resume.epochs_done)
    method = method_label(run.manifest.config, dense=schedule.is_dense)
    population = PopulationKey(parts.data.name, cfg.model.name, run.manifest.keys.model, method, run.manifest.keys.pruning,
                               round(schedule.final_sparsity, 6))
    label = f"[{parts.data.name} {cfg.model.name} {method} s={schedule.final_sparsity:g} seed={cfg.seed}]"
    writer = PredictionWriter(run.paths, parts.datamodule, cfg.predictions.train_after_epochs)
    pruner = build.pruner(cfg, schedule, rewind_state, writer.measure, start and start.masks)
    logger = build.logger(cfg, run.paths, population.logged_as(int(cfg.seed), run.manifest.log_id))
    quiet(logger)
    callbacks = [writer, pruner, EpochProgress(label), ResumeState(), EpochCheckpoint(run.paths.last_checkpoint)]
    trainer = build.trainer(cfg, schedule, logger, callbacks)
    if logger:
        logger.log_hyperparams(run.manifest.config)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*(does not have many workers|LeafSpec|isinstance\(treespec).*")
        try:
            trainer.fit(parts.module, datamodule=parts.datamodule, ckpt_path=run.resume and run.resume.path, weights_only=True)
        except SystemExit:
            if trainer.interrupted:  # Lightning turns Ctrl-C into a graceful shutdown and exit(1)
                raise KeyboardInterrupt from None
            raise
    task, final, labels = parts.module.task, writer.final_logits, parts.datamodule.labels
    threshold = task.threshold(cfg.threshold.tune_on, (final["validation"], labels("validation")), parts.module.train_epoch_outputs)
    tau = threshold["value"] if threshold else None
    metrics = {split: task.run_metrics(final[split], labels(split), tau) for split in ("validation", "test")}
    log_predictions(logger, "test", task, column(parts.data.splits["test"], "id"), labels("test"), final["test"], tau)
    log_summary(logger, {**{f"test/{name}": value for name, value in metrics["test"].items()},
                         "sparsity/target": schedule.final_sparsity, "seed": int(cfg.seed)})
    manifest = run.complete(
        dataset=DatasetInfo(**parts.data.describe()),
        model=ModelInfo(cfg.model.name, sum(p.numel() for p in parts.network.parameters())),
        pruning=PruningInfo(method=method, name=DENSE if schedule.is_dense else cfg.pruning.name, scope=cfg.pruning.scope,
                            **pruner.summary(parts.network)),
        metrics=metrics, threshold=Threshold(**threshold) if threshold else None, epochs=schedule.max_epochs,
        predictions=writer.records, weights=Weights(parts.init_sha256, run.save_weights(parts.network.state_dict(), pruner.masks)
                                                    if cfg.get("save_weights", "final") == "final" else None),
        wall_time_s=round(time.time() - started, 3),
    )
    log.info("%s done in %.1fs: test accuracy %.4f, macro-F1 %.4f -> %s", label, time.time() - started,
             metrics["test"]["accuracy"], metrics["test"]["macro_f1"], run.paths.root)
    log_progress(run.paths.root)
    return manifest
