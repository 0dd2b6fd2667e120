"""Configuration checks that need no compute: run by every run before it starts, and by the
sweeper for every job of a sweep before the first one launches (hydra/sweeper=checked)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig

from pie.branching import branch_config, rewinds_to_init
from pie.pruning.nm import check_nm
from pie.pruning.schedules import Schedule, check_sparsity
from pie.pruning.structured import check_structured
from pie.runs.discovery import find_dense_run
from pie.runs.identity import DENSE, config_keys

THRESHOLD_SOURCES = ("validation", "train_epoch")


def schedule_from(node) -> Schedule:
    """Instantiate a schedule config; its ValueErrors (bad values, a method's refusal) surface unwrapped."""
    try:
        return instantiate(node)
    except InstantiationException as error:
        if isinstance(error.__cause__, ValueError):
            raise error.__cause__ from None
        raise


def build_schedule(cfg: DictConfig) -> Schedule:
    """The pruning schedule, validated."""
    check_sparsity(cfg.sparsity)
    return schedule_from(cfg.pruning.schedule)


def check_pruning(cfg: DictConfig, schedule: Schedule) -> None:
    pruning = cfg.pruning
    if schedule.steps and pruning.score is None and not pruning.get("structured"):
        raise ValueError(f"pruning={pruning.name} has no score function")
    if pruning.get("structured"):
        check_structured(pruning.structured.importance, pruning.structured.sparsity_of)
    if pruning.get("nm"):
        check_nm(pruning.nm.n, pruning.nm.m, schedule.final_sparsity)
    if (pruning.get("structured") or pruning.get("nm")) and pruning.scope != "layerwise":
        raise ValueError(
            f"pruning={pruning.name} chooses within each layer (structured units) or each group of m weights (N:M), "
            f"so pruning.scope must be layerwise, got {pruning.scope!r}; drop the pruning.scope override"
        )


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


def prune_config(cfg: DictConfig) -> DictConfig:
    """A prune.py branch: a sparsity in range, a method with a branch schedule and a complete
    dense run of its seed under `source`; returns the branch's config (what train() runs)."""
    check_sparsity(cfg.sparsity)
    merged = branch_config(cfg, find_dense_run(str(cfg.source), int(cfg.seed)))
    check_pruning(merged, build_schedule(merged))  # the method's branch schedule, or its refusal
    rewinds_to_init(merged)
    return merged


@dataclass(frozen=True)
class Job:
    """What one job of a sweep runs: its run key, the pruning preset it names, whether it prunes."""

    run_key: str
    preset: str
    prunes: bool


def train_job(cfg: DictConfig) -> Job:
    """train_config for one job of a train.py sweep, and what the job runs."""
    schedule = train_config(cfg)
    return Job(config_keys(cfg, dense=not schedule.steps).run, str(cfg.pruning.name), bool(schedule.steps))


def prune_job(cfg: DictConfig) -> Job:
    """prune_config for one job of a prune.py sweep, and what the job runs."""
    return Job(config_keys(prune_config(cfg), dense=False).run, str(cfg.pruning.name), True)


def presets_pruning_nothing(jobs: Sequence[Job]) -> list[str]:
    """Pruning presets named by some job of a sweep of which no job prunes (all at sparsity 0):
    such a sweep would train dense models under a method's name."""
    named = {job.preset for job in jobs if job.preset != DENSE}
    return sorted(p for p in named if not any(job.prunes for job in jobs if job.preset == p))


def check_single_run(cfg: DictConfig, schedule: Schedule) -> None:
    """A run launched alone (no -m) that names a pruning method but prunes nothing is a mistake."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    alone = HydraConfig.initialized() and HydraConfig.get().mode == RunMode.RUN
    if alone and not schedule.steps and cfg.pruning.name != DENSE:
        raise ValueError(prunes_nothing_message(cfg.pruning.name))


def prunes_nothing_message(preset: str) -> str:
    return (
        f"pruning={preset} with sparsity=0 prunes nothing: it would train a dense model under the method's name. "
        f"Give a sparsity (e.g. sparsity=0.9, or with -m sparsity=0,0.5,0.9 where 0 is the dense population), "
        "or use pruning=none for dense runs"
    )
