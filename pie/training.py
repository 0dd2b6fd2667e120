"""One training run, wired from a composed config: data -> tokenizer -> network -> Lightning fit
with pruning and prediction callbacks -> prediction files + manifest (status complete last)."""

from __future__ import annotations

import logging
import shutil
import time
import warnings
from pathlib import Path

import lightning as L
import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from pie.data.datamodule import TextDataModule
from pie.data.fingerprint import fingerprint_object
from pie.models.module import Classifier, classification_metrics
from pie.pruning.callback import PruningCallback
from pie.pruning.schedules import Schedule, check_sparsity
from pie.reporting.progress import EpochProgress
from pie.runs.manifest import COMPLETE, RUNNING, package_versions, read_manifest, write_manifest
from pie.runs.writer import PREDICTIONS_DIR, PredictionWriter

log = logging.getLogger(__name__)
RESULT_KEYS = ("seed", "sparsity", "threads", "dataset", "model", "pruning", "selection", "trainer", "predictions")


def _plain(cfg: DictConfig, keys) -> dict:
    return {k: OmegaConf.to_container(cfg[k], resolve=True) if isinstance(cfg[k], DictConfig) else cfg[k] for k in keys if k in cfg}


def run_keys(cfg: DictConfig, schedule: Schedule) -> dict:
    """Hashes that identify the run, its model setup (population) and its pruning method."""
    dense = not schedule.steps
    pruning = _plain(cfg, ["pruning", "selection"])
    pruning["pruning"]["schedule"].pop("sparsity", None)
    return {
        "run": fingerprint_object(_plain(cfg, RESULT_KEYS)),
        "model": fingerprint_object(_plain(cfg, ["model", "trainer", "threads"])),
        "pruning": "dense" if dense else fingerprint_object(pruning),
    }


def _method_label(cfg: DictConfig, schedule: Schedule) -> str:
    if not schedule.steps:
        return "dense"
    return cfg.pruning.name if cfg.pruning.scope == "layerwise" else f"{cfg.pruning.name}-{cfg.pruning.scope}"


def _skip_if_complete(run_dir: Path, run_key: str) -> dict | None:
    if not (run_dir / "manifest.json").exists():
        return None
    manifest = read_manifest(run_dir)
    if manifest["status"] != COMPLETE:
        return None
    if manifest["keys"]["run"] != run_key:
        raise RuntimeError(
            f"{run_dir} already holds a complete run with a different configuration "
            f"(run key {manifest['keys']['run']} vs {run_key}). Use another name=..., or delete "
            f"that directory to rerun it."
        )
    log.info("skip %s: complete (%s)", run_dir, manifest["metrics"]["test"])
    return manifest


def build_schedule(cfg: DictConfig) -> Schedule:
    """The pruning schedule, validated before any compute; config errors surface unwrapped."""
    check_sparsity(cfg.sparsity)
    try:
        return instantiate(cfg.pruning.schedule)
    except InstantiationException as error:
        if isinstance(error.__cause__, ValueError):
            raise error.__cause__ from None
        raise


def train(cfg: DictConfig) -> dict:
    """Run (or skip, when already complete) one training run; returns its manifest."""
    schedule = build_schedule(cfg)
    if schedule.steps and cfg.pruning.score is None:
        raise ValueError(f"pruning={cfg.pruning.name} has no score function")
    keys = run_keys(cfg, schedule)
    run_dir = Path(cfg.paths.output_dir)
    done = _skip_if_complete(run_dir, keys["run"])
    if done is not None:
        return done

    started = time.time()
    shutil.rmtree(run_dir / PREDICTIONS_DIR, ignore_errors=True)
    manifest = {
        "status": RUNNING,
        "seed": int(cfg.seed),
        "keys": keys,
        "config": OmegaConf.to_container(cfg, resolve=True),
        "versions": package_versions(),
    }
    write_manifest(run_dir, manifest)

    torch.set_num_threads(int(cfg.threads))
    L.seed_everything(int(cfg.seed), workers=True, verbose=False)
    data = instantiate(cfg.dataset)
    tokenizer = instantiate(cfg.model.tokenizer)(train_texts=data.splits["train"]["text"])
    network = instantiate(cfg.model.network)(num_classes=data.num_classes, tokenizer=tokenizer)
    datamodule = TextDataModule(
        data, tokenizer, batch_size=int(cfg.model.batch_size), eval_batch_size=int(cfg.model.eval_batch_size),
        cache_dir=cfg.paths.cache_dir, pad_to_max_length=bool(cfg.model.pad_to_max_length),
    )
    module = Classifier(network, instantiate(cfg.model.optimizer), data.num_classes)

    label = f"[{data.name} {cfg.model.name} {_method_label(cfg, schedule)} s={schedule.final_sparsity:g} seed={cfg.seed}]"
    writer = PredictionWriter(run_dir, datamodule, cfg.predictions.train_after_epochs)
    pruner = PruningCallback(
        schedule, instantiate(cfg.pruning.score) if cfg.pruning.score else None,
        instantiate(cfg.selection), cfg.pruning.scope,
    )
    logger = instantiate(cfg.logger) if cfg.get("logger") else False
    trainer = instantiate(cfg.trainer)(
        max_epochs=schedule.max_epochs, callbacks=[writer, pruner, EpochProgress(label)], logger=logger,
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*(does not have many workers|LeafSpec|isinstance\(treespec).*")
        trainer.fit(module, datamodule=datamodule)

    metrics = {
        split: classification_metrics(writer.final_logits[split], datamodule.labels(split))
        for split in ("validation", "test")
    }
    manifest.update(
        status=COMPLETE,
        dataset=data.describe(),
        model={"name": cfg.model.name, "parameters": sum(p.numel() for p in network.parameters())},
        pruning={"method": _method_label(cfg, schedule), "name": cfg.pruning.name, "scope": cfg.pruning.scope,
                 **pruner.summary(network)},
        metrics=metrics,
        epochs=schedule.max_epochs,
        predictions=writer.records,
        wall_time_s=round(time.time() - started, 3),
    )
    write_manifest(run_dir, manifest)
    log.info("%s done in %.1fs: test accuracy %.4f -> %s", label, time.time() - started, metrics["test"]["accuracy"], run_dir)
    return manifest
