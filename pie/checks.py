"""Configuration checks that need no compute: run by every run before it starts, and by the
sweeper for every job of a sweep before the first one launches (hydra/sweeper=checked). Every
problem is a ConfigError whose message names the key, what is wrong and the fix."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from pie.branching import branch_config, recovery_config, rewinds_to_init
from pie.errors import ConfigError, UserError
from pie.pruning.nm import check_nm
from pie.pruning.schedules import Schedule, check_sparsity
from pie.pruning.structured import check_structured
from pie.runs.discovery import find_dense_run, find_pruned_run
from pie.runs.identity import DENSE, config_keys
from pie.runs.manifest import Run

THRESHOLD_SOURCES = ("validation", "train_epoch")
SAVE_WEIGHTS = ("final", "none")


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
    if not isinstance(cfg.threshold.get("strict", False), bool):
        raise ValueError(f"threshold.strict must be true or false, got {cfg.threshold.strict!r}")


def check_fidelity(cfg: DictConfig, dense: Run) -> None:
    """A branch prunes with its dense run's fidelity (prune.py's config gives the selection and
    the gradient settings); dense runs recorded before fidelity existed are fidelity=pie."""
    trained = dense.manifest.config.get("fidelity", "pie")
    if cfg.fidelity != trained:
        raise ConfigError(f"fidelity={cfg.fidelity}, but the dense run {dense.directory} was trained with fidelity={trained}: "
                          f"add fidelity={trained} to the prune.py command")


def check_model(cfg: DictConfig) -> None:
    """A model checkpoint (BERT) must be packaged, a local directory, or in the Hugging Face cache."""
    if cfg.model.get("checkpoint"):
        from pie.models.bert import resolve_checkpoint

        resolve_checkpoint(str(cfg.model.checkpoint))


def _unset(node, prefix: str = "") -> Iterator[str]:
    """Keys whose value is the literal ??? (interpolations are not resolved here)."""
    for key in node:
        if prefix == "" and key == "hydra":
            continue
        if OmegaConf.is_missing(node, key):
            yield f"{prefix}{key}"
        elif not OmegaConf.is_interpolation(node, key) and isinstance(node[key], DictConfig):
            yield from _unset(node[key], f"{prefix}{key}.")


def check_missing(cfg: DictConfig) -> None:
    """Settings marked ??? that nobody gave (e.g. prune.py's source, a local dataset's path)."""
    missing = sorted(_unset(cfg))
    if missing:
        example = " ".join(f"{key}=..." for key in missing)
        raise ConfigError(f"{', '.join(missing)} must be given (no default exists): add {example} to the command")


def check_integers(cfg: DictConfig) -> None:
    """seed and threads (where the app has them) are integers; a typo otherwise surfaces deep in training."""
    for key, example in (("seed", "seed=0, or with -m seed=0..29"), ("threads", "threads=1")):
        value = cfg.get(key)
        if key in cfg and (isinstance(value, bool) or not isinstance(value, int) or value < (key == "threads")):
            raise ConfigError(f"{key} must be {'a positive' if key == 'threads' else 'an'} integer, got {value!r} (e.g. {example})")


def check_dataset(cfg: DictConfig) -> None:
    """A local dataset's folder exists (the loader then checks the files inside)."""
    for key in ("path", "local_dir", "directory"):
        value = cfg.dataset.source.get(key)
        if value is not None and not Path(str(value)).expanduser().exists():
            raise ConfigError(f"dataset.source.{key}={value}: no such file or directory; give the folder that holds dataset={cfg.dataset.name}")


def check_outputs(cfg: DictConfig) -> None:
    if cfg.get("save_weights", "final") not in SAVE_WEIGHTS:
        raise ConfigError(f"save_weights must be one of {', '.join(SAVE_WEIGHTS)}, got {cfg.save_weights!r}")
    if not isinstance(cfg.get("validate_every_epoch", False), bool):
        raise ConfigError(f"validate_every_epoch must be true or false, got {cfg.validate_every_epoch!r}")


def check_trainer(cfg: DictConfig) -> None:
    """A GPU trainer needs a GPU where the run starts. A sweep submitted to SLURM from a login
    node is not checked here (its runs start on the GPU nodes, and check again there)."""
    if cfg.trainer.get("accelerator") not in ("gpu", "cuda"):
        return
    launcher = str(OmegaConf.select(cfg, "hydra.launcher._target_", default="") or "")
    if "submitit" in launcher and "Local" not in launcher:
        return
    import torch

    if not torch.cuda.is_available():
        raise ConfigError("trainer=gpu but this machine has no CUDA device: use trainer=cpu here, or launch on GPU nodes "
                          "(hydra/launcher=slurm or lumi)")


@contextlib.contextmanager
def _config_errors() -> Iterator[None]:
    """Any failure of a check is a ConfigError (a value a schedule refuses, a missing file...)."""
    try:
        yield
    except UserError:
        raise
    except (ValueError, FileNotFoundError, ModuleNotFoundError, OmegaConfBaseException) as error:
        raise ConfigError(str(error).split("\n    full_key")[0]) from error


def train_config(cfg: DictConfig) -> Schedule:
    """Every check of a train.py run; returns its schedule."""
    with _config_errors():
        check_missing(cfg)
        check_integers(cfg)
        schedule = build_schedule(cfg)
        check_pruning(cfg, schedule)
        check_threshold(cfg)
        check_model(cfg)
        check_dataset(cfg)
        check_trainer(cfg)
        check_outputs(cfg)
    return schedule


def prune_config(cfg: DictConfig) -> tuple[DictConfig, Run]:
    """A prune.py branch: a sparsity in range, a method with a branch schedule and a complete
    dense run of its seed under `source`; returns the branch's config (what train() runs) and
    that dense run."""
    with _config_errors():
        check_missing(cfg)
        check_integers(cfg)
        check_sparsity(cfg.sparsity)
        dense = find_dense_run(str(cfg.source), int(cfg.seed))
        check_fidelity(cfg, dense)
        if dense.manifest.weights is None or dense.manifest.weights.final is None:
            raise ConfigError(f"the dense run {dense.directory} saved no final weights (save_weights=none): a branch starts "
                              "from them; rerun the dense sweep with save_weights=final")
        merged = branch_config(cfg, dense)
        check_pruning(merged, build_schedule(merged))  # the method's branch schedule, or its refusal
        rewinds_to_init(merged)
        check_trainer(merged)
    return merged, dense


def recover_config(cfg: DictConfig) -> tuple[DictConfig, Run]:
    """A recover.py run: a complete, mask-pruned run of (method, sparsity, seed) under `source`
    that saved its weights, and the recovery method's inputs (pie.recovery.recorded); returns the
    recovery run's config (what train() runs) and its source run."""
    from pie.recovery import recorded

    with _config_errors():
        check_missing(cfg)
        check_integers(cfg)
        check_sparsity(cfg.sparsity)
        if isinstance(cfg.epochs, bool) or not isinstance(cfg.epochs, int) or cfg.epochs < 1:
            raise ConfigError(f"epochs must be a positive integer (the fine-tuning budget of every recovery method), got {cfg.epochs!r}")
        source = find_pruned_run(str(cfg.source), str(cfg.method), float(cfg.sparsity), int(cfg.seed))
        if source.manifest.weights is None or source.manifest.weights.final is None:
            raise ConfigError(f"the source run {source.directory} saved no final weights (save_weights=none): a recovery "
                              "starts from them; rerun its sweep with save_weights=final")
        if source.manifest.config["pruning"].get("structured"):
            raise ConfigError(f"method={cfg.method} removes units (structured pruning): recovery holds masks and supports "
                              "mask-pruned runs only (unstructured and N:M)")
        merged = recovery_config(cfg, source, recorded(cfg.recovery, source, str(cfg.source)))
        check_pruning(merged, build_schedule(merged))
        check_trainer(merged)
    return merged, source


@dataclass(frozen=True)
class Job:
    """What one job of a sweep runs: its run key, the pruning preset it names, whether it prunes."""

    run_key: str
    preset: str
    prunes: bool


def train_job(cfg: DictConfig) -> Job:
    """train_config for one job of a train.py sweep, and what the job runs."""
    schedule = train_config(cfg)
    return Job(config_keys(cfg, dense=schedule.is_dense).run, str(cfg.pruning.name), not schedule.is_dense)


def prune_job(cfg: DictConfig) -> Job:
    """prune_config for one job of a prune.py sweep, and what the job runs."""
    return Job(config_keys(prune_config(cfg)[0], dense=False).run, str(cfg.pruning.name), True)


def recover_job(cfg: DictConfig) -> Job:
    """recover_config for one job of a recover.py sweep, and what the job runs."""
    return Job(config_keys(recover_config(cfg)[0], dense=False).run, f"{cfg.method}+{cfg.recovery.name}", True)


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
    if alone and schedule.is_dense and cfg.pruning.name != DENSE:
        raise ConfigError(prunes_nothing_message(cfg.pruning.name))


def prunes_nothing_message(preset: str) -> str:
    return (
        f"pruning={preset} with sparsity=0 prunes nothing: it would train a dense model under the method's name. "
        f"Give a sparsity (e.g. sparsity=0.9, or with -m sparsity=0,0.5,0.9 where 0 is the dense population), "
        "or use pruning=none for dense runs"
    )
