"""One training run, wired from a composed config: data -> tokenizer -> network -> Lightning fit
with pruning and prediction callbacks -> prediction files, weights and a manifest (status
complete written last). The run holds its directory's lock, checkpoints every epoch and resumes
from that checkpoint when rerun (pie.runs.resume). prune.py branches reuse this with a dense
run's weights as the start."""

from __future__ import annotations

import logging
import os
import shutil
import socket
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import lightning as L
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from pie import checks
from pie.data.datamodule import TextDataModule
from pie.data.dataset import TextClassificationData
from pie.models.module import Classifier, classification_metrics, multilabel_metrics
from pie.models.thresholds import tune_threshold
from pie.pruning.callback import PruningCallback
from pie.pruning.schedules import Schedule
from pie.pruning.structured_callback import StructuredPruningCallback
from pie.reporting.progress import EpochProgress
from pie.reporting.wandb import log_predictions
from pie.pruning.structured import reshape_to
from pie.runs.atomic import remove_temporaries
from pie.runs.discovery import Run
from pie.runs.identity import DENSE, config_keys, stored_run_key
from pie.runs.lock import run_lock
from pie.runs.manifest import COMPLETE, RUNNING, package_versions, read_manifest, write_manifest
from pie.runs.resume import (
    AtomicCheckpointIO, EpochCheckpoint, ResumePoint, ResumeState, checkpoint_path, cluster_plugins,
    find_resume_point, trim_metrics_log,
)
from pie.runs.weights import WEIGHTS_DIR, save_weights, state_sha256
from pie.runs.predictions import PREDICTIONS_DIR
from pie.runs.validation import check_files
from pie.runs.writer import PredictionWriter

log = logging.getLogger(__name__)
LOCK_WAIT_S = 30  # a requeued job may start while its previous attempt is still being killed


@dataclass
class Components:
    data: TextClassificationData
    network: torch.nn.Module
    datamodule: TextDataModule
    module: Classifier
    init_sha256: str


@dataclass(frozen=True)
class StartFrom:
    """A branch's starting point: the dense run's final weights, the hash of its initial weights,
    and whether the pruning method rewinds to them (the rebuilt initialisation is kept then)."""

    weights: Mapping[str, torch.Tensor]
    init_sha256: str
    rewind_to_init: bool


def run_keys(cfg: DictConfig, schedule: Schedule) -> dict:
    """Hashes that identify the run, its model setup (population) and its pruning method."""
    return config_keys(cfg, dense=not schedule.steps)


def method_label(cfg: DictConfig, schedule: Schedule) -> str:
    """'dense', or the preset name with '-global' / '-branch' where they apply."""
    if not schedule.steps:
        return DENSE
    label = cfg.pruning.name if cfg.pruning.scope == "layerwise" else f"{cfg.pruning.name}-{cfg.pruning.scope}"
    return f"{label}-branch" if cfg.get("branch") else label


def build_components(cfg: DictConfig) -> Components:
    """Seed, then data, tokenizer, network and module exactly as every run of this config does."""
    torch.set_num_threads(int(cfg.threads))
    L.seed_everything(int(cfg.seed), workers=True, verbose=False)
    data = instantiate(cfg.dataset)
    tokenizer = instantiate(cfg.model.tokenizer)(train_texts=data.splits["train"]["text"])
    network = instantiate(cfg.model.network)(num_classes=data.num_classes, tokenizer=tokenizer)
    datamodule = TextDataModule(
        data, tokenizer, batch_size=int(cfg.model.batch_size), eval_batch_size=int(cfg.model.eval_batch_size),
        cache_dir=cfg.paths.cache_dir, pad_to_max_length=bool(cfg.model.pad_to_max_length), seed=int(cfg.seed),
    )
    module = Classifier(
        network, instantiate(cfg.model.optimizer), data.num_classes, multi_label=data.multi_label,
        collect_train_logits=data.multi_label and cfg.threshold.tune_on == "train_epoch",
    )
    return Components(data, network, datamodule, module, state_sha256(network.state_dict()))


def make_pruner(cfg: DictConfig, schedule: Schedule, rewind_state=None):
    """The pruning callback the config describes: unstructured masks, or structured removal."""
    if cfg.pruning.get("structured"):
        return StructuredPruningCallback(schedule, cfg.pruning.structured.importance, random_seed=int(cfg.seed))
    gradients = cfg.pruning.get("gradients") or {}
    return PruningCallback(
        schedule,
        instantiate(cfg.pruning.score) if cfg.pruning.score else None,
        instantiate(cfg.selection),
        cfg.pruning.scope,
        rewind_step=cfg.pruning.get("rewind_step"),
        rewind_state=rewind_state,
        gradient_samples=int(gradients.get("samples", 100)),
        gradient_mode=gradients.get("mode", "eval"),
        random_seed=int(cfg.seed),
    )


def decision_threshold(cfg: DictConfig, module: Classifier, final_logits: Mapping, datamodule: TextDataModule) -> dict:
    """A multi-label run's τ: best macro-F1 on the final validation logits (eval mode), or on the
    last training epoch's logits (train mode, weights changing: the reference's way)."""
    if cfg.threshold.tune_on == "validation":
        logits, targets = final_logits["validation"], datamodule.labels("validation")
    else:
        logits, targets = module.train_epoch_outputs
    tau, f1 = tune_threshold(logits, targets)
    return {"value": tau, "tuned_on": cfg.threshold.tune_on, "macro_f1": f1}


def run_metrics(final_logits: Mapping, datamodule: TextDataModule, threshold: dict | None) -> dict:
    """Validation and test metrics: accuracy and macro-F1, or the multi-label set at τ."""
    if threshold is None:
        return {s: classification_metrics(final_logits[s], datamodule.labels(s)) for s in ("validation", "test")}
    return {s: multilabel_metrics(final_logits[s], datamodule.labels(s), threshold["value"]) for s in ("validation", "test")}


def _skip_if_complete(run_dir: Path, run_key: str) -> dict | None:
    """The manifest of a complete run of this configuration whose prediction files all pass their
    checks, or None: then the run is (re)run, from scratch when its files were damaged."""
    if not (run_dir / "manifest.json").exists():
        return None
    manifest = read_manifest(run_dir)
    if manifest["status"] != COMPLETE:
        return None
    if stored_run_key(manifest) != run_key:
        raise RuntimeError(
            f"{run_dir} already holds a complete run with a different configuration "
            f"(run key {manifest['keys']['run']} vs {run_key}). Use another name=..., or delete "
            f"that directory to rerun it."
        )
    checked = check_files([(Run(run_dir, manifest), name) for name in manifest.get("predictions", {})])
    if checked.bad:
        log.warning("rerunning %s: it is complete but its prediction files fail their checks:\n%s", run_dir, checked.listing())
        return None
    log.info("skip %s: complete (%s)", run_dir, manifest["metrics"]["test"])
    return manifest


def _attempt(resume: ResumePoint | None) -> dict:
    """Where and from what point this attempt at the run started (kept in the manifest)."""
    return {
        "started": time.strftime("%Y-%m-%dT%H:%M:%S"), "host": socket.gethostname(), "pid": os.getpid(),
        "slurm_job_id": os.environ.get("SLURM_JOB_ID"), "slurm_restart_count": os.environ.get("SLURM_RESTART_COUNT"),
        "resumed_from": None if resume is None else {"epochs_done": resume.epochs_done, "global_step": resume.global_step},
    }


def _begin(cfg: DictConfig, keys: dict, run_dir: Path) -> tuple[dict, ResumePoint | None]:
    """The running manifest of this attempt: a fresh run's (its old files removed), or the
    interrupted run's with one more attempt when its checkpoint can be resumed."""
    remove_temporaries(run_dir)
    resume = find_resume_point(run_dir, keys["run"])
    if resume is None:
        for stale in (PREDICTIONS_DIR, WEIGHTS_DIR, "logs"):
            shutil.rmtree(run_dir / stale, ignore_errors=True)
        manifest = {
            "status": RUNNING,
            "seed": int(cfg.seed),
            "keys": keys,
            "config": OmegaConf.to_container(cfg, resolve=True),
            "versions": package_versions(),
            "attempts": [],
        }
        if cfg.get("branch"):
            manifest["branch"] = OmegaConf.to_container(cfg.branch)
    else:
        manifest = read_manifest(run_dir)
        log.info("resuming %s after %d epoch(s) from %s", run_dir, resume.epochs_done, resume.path)
    manifest["attempts"].append(_attempt(resume))
    write_manifest(run_dir, manifest)
    return manifest, resume


def train(cfg: DictConfig, start: StartFrom | None = None) -> dict:
    """Run one run, resume it from its last checkpoint, or skip it when already complete;
    returns its manifest. Holds the run directory's lock throughout.

    With `start` (a prune.py branch) the network starts from a dense run's final weights; the
    rebuilt initialisation must match that run's, so rewinding goes to the same weights.
    """
    schedule = checks.train_config(cfg)
    checks.check_single_run(cfg, schedule)
    keys = run_keys(cfg, schedule)
    run_dir = Path(cfg.paths.output_dir)
    with run_lock(run_dir, wait_s=LOCK_WAIT_S):
        done = _skip_if_complete(run_dir, keys["run"])
        if done is not None:
            checkpoint_path(run_dir).unlink(missing_ok=True)
            return done
        return _train(cfg, schedule, keys, run_dir, start)


def _train(cfg: DictConfig, schedule: Schedule, keys: dict, run_dir: Path, start: StartFrom | None) -> dict:
    started = time.time()
    manifest, resume = _begin(cfg, keys, run_dir)
    parts = build_components(cfg)
    rewind_state = None
    if start is not None:
        if parts.init_sha256 != start.init_sha256:
            raise RuntimeError(
                "the rebuilt initial weights differ from the dense run's (package versions or data "
                "changed since it ran); branch from dense runs made with this installation"
            )
        if start.rewind_to_init:
            rewind_state = {k: v.detach().clone() for k, v in parts.network.state_dict().items()}
        parts.network.load_state_dict(start.weights)
    if resume is not None and resume.structure:
        reshape_to(parts.network, resume.structure)
    label = f"[{parts.data.name} {cfg.model.name} {method_label(cfg, schedule)} s={schedule.final_sparsity:g} seed={cfg.seed}]"
    writer = PredictionWriter(run_dir, parts.datamodule, cfg.predictions.train_after_epochs)
    pruner = make_pruner(cfg, schedule, rewind_state)
    logger = instantiate(cfg.logger) if cfg.get("logger") else False
    if logger and resume is not None and hasattr(logger, "log_dir"):
        trim_metrics_log(Path(logger.log_dir) / "metrics.csv", resume.epochs_done)
    trainer = instantiate(cfg.trainer)(
        max_epochs=schedule.max_epochs, logger=logger,
        callbacks=[writer, pruner, EpochProgress(label), ResumeState(), EpochCheckpoint(checkpoint_path(run_dir))],
        plugins=[AtomicCheckpointIO(), *cluster_plugins()],
    )
    if logger:
        logger.log_hyperparams(manifest["config"])
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*(does not have many workers|LeafSpec|isinstance\(treespec).*")
        trainer.fit(parts.module, datamodule=parts.datamodule, ckpt_path=resume and resume.path, weights_only=True)
    threshold = decision_threshold(cfg, parts.module, writer.final_logits, parts.datamodule) if parts.data.multi_label else None
    metrics = run_metrics(writer.final_logits, parts.datamodule, threshold)
    log_predictions(logger, "test", parts.data.splits["test"]["id"], parts.datamodule.labels("test"),
                    writer.final_logits["test"], threshold and threshold["value"])
    weights = save_weights(run_dir / WEIGHTS_DIR / "final.safetensors", parts.network.state_dict(), pruner.masks)
    manifest.update(
        status=COMPLETE,
        dataset=parts.data.describe(),
        model={"name": cfg.model.name, "parameters": sum(p.numel() for p in parts.network.parameters())},
        pruning={"method": method_label(cfg, schedule), "name": cfg.pruning.name if schedule.steps else DENSE, "scope": cfg.pruning.scope,
                 **pruner.summary(parts.network)},
        metrics=metrics,
        threshold=threshold,
        epochs=schedule.max_epochs,
        predictions=writer.records,
        weights={"init_sha256": parts.init_sha256, "final": weights},
        wall_time_s=round(time.time() - started, 3),
    )
    write_manifest(run_dir, manifest)
    checkpoint_path(run_dir).unlink(missing_ok=True)
    log.info("%s done in %.1fs: test accuracy %.4f, macro-F1 %.4f -> %s", label, time.time() - started,
             metrics["test"]["accuracy"], metrics["test"]["macro_f1"], run_dir)
    return manifest
