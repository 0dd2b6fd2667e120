"""Configuration checks that need no compute: run by every run before it starts, and by the
sweeper for every job of a sweep before the first one launches (hydra/sweeper=checked)."""

from __future__ import annotations

from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig

from pie.pruning.schedules import Schedule, check_sparsity

THRESHOLD_SOURCES = ("validation", "train_epoch")


def build_schedule(cfg: DictConfig) -> Schedule:
    """The pruning schedule, validated; config errors surface unwrapped."""
    check_sparsity(cfg.sparsity)
    try:
        return instantiate(cfg.pruning.schedule)
    except InstantiationException as error:
        if isinstance(error.__cause__, ValueError):
            raise error.__cause__ from None
        raise


def check_pruning(cfg: DictConfig, schedule: Schedule) -> None:
    if schedule.steps and cfg.pruning.score is None and not cfg.pruning.get("structured"):
        raise ValueError(f"pruning={cfg.pruning.name} has no score function")
    if cfg.pruning.get("structured") and cfg.pruning.get("rewind_step") is not None:
        raise ValueError("structured pruning cannot rewind (the shapes change); set pruning.rewind_step=null")


def check_threshold(cfg: DictConfig) -> None:
    if cfg.threshold.tune_on not in THRESHOLD_SOURCES:
        raise ValueError(f"threshold.tune_on must be one of {', '.join(THRESHOLD_SOURCES)}, got {cfg.threshold.tune_on!r}")


def check_model(cfg: DictConfig) -> None:
    """A model checkpoint (BERT) must be packaged, a local directory, or in the Hugging Face cache."""
    if cfg.model.get("checkpoint"):
        from pie.models.bert import resolve_checkpoint

        resolve_checkpoint(str(cfg.model.checkpoint))


def train_config(cfg: DictConfig) -> Schedule:
    """Every check of a train.py run; returns its schedule."""
    schedule = build_schedule(cfg)
    check_pruning(cfg, schedule)
    check_threshold(cfg)
    check_model(cfg)
    return schedule


def prune_config(cfg: DictConfig) -> None:
    """A prune.py branch: a sparsity in range and a complete dense run of its seed under `source`."""
    from pie.branching import find_dense_run

    check_sparsity(cfg.sparsity)
    find_dense_run(str(cfg.source), int(cfg.seed))
