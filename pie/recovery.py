"""Recovering pruned models (recover.py), a step beyond the paper: fine-tune a complete pruned
run for a few epochs, its masks kept, with one of three objectives at the same budget (epochs,
batches and their order are the control's; only the loss differs):

- `none`, the control: the task's loss (plain fine-tuning);
- `pie_weight`: the training split's PIEs (identify_pies --split train over the source
  populations) up-weighted by a factor w in the loss. A weighted loss, not oversampling, so that
  the steps and the examples seen stay the control's;
- `distill`: toward the dense population's mean predicted distribution at temperature T, mixed
  with the task's loss (Hinton et al. 2015), the known way to reduce churn between models.

`recorded` checks a method's inputs before any compute and returns what the run's config records
of them (the PIE file's sha256, the teacher runs), so that they enter the run's identity; the
objective factories (the configs' `_target_`s) rebuild the objective from those records and
refuse files that changed since.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
from omegaconf import DictConfig, OmegaConf

from pie.atomic import sha256_file
from pie.errors import ConfigError
from pie.hashing import fingerprint_object
from pie.models.objectives import DistillLoss, WeightedLoss
from pie.pies.task import Task
from pie.runs.discovery import dense_runs_like, load_logits
from pie.runs.manifest import Run, read_manifest
from pie.runs.predictions import ids_sha256

PIE_COLUMNS = {"modal": "is_pie", "robust": "robust"}
POPULATION = ("dataset", "model_key", "method", "sparsity")


def source_population(source: Run) -> dict:
    """Which rows of a pies.parquet are the source run's population."""
    key = source.manifest.population_key
    return {"dataset": key.dataset, "model_key": key.model_key, "method": key.method, "sparsity": key.sparsity}


def read_pies(path: str | Path, population: dict, ids_sha: str, pie_set: str = "modal") -> np.ndarray:
    """bool[N]: which training examples are PIEs of `population` in an identify_pies pies.parquet,
    in the training split's order. Refuses a file without that population, or whose examples are
    not the training split the ids hash `ids_sha` names (another split, subsample or dataset)."""
    path = Path(path)
    if pie_set not in PIE_COLUMNS:
        raise ConfigError(f"pie_set must be one of {', '.join(PIE_COLUMNS)}, got {pie_set!r}")
    if not path.is_file():
        raise ConfigError(f"pies={path}: no such file; give the pies.parquet of identify_pies --split train over "
                          "the source sweep")
    try:
        frame = pd.read_parquet(path)
    except Exception as error:  # noqa: BLE001 - any unreadable file is the user's input
        raise ConfigError(f"pies={path} is not a readable Parquet file ({error}); give identify_pies' pies.parquet") from error
    needed = {*POPULATION, "example_id", "position", PIE_COLUMNS[pie_set]}
    if not needed <= set(frame.columns):
        raise ConfigError(f"pies={path} lacks the columns {sorted(needed - set(frame.columns))}: it is not a "
                          "pies.parquet of this identify_pies (rerun identify_pies --split train)")
    rows = frame[np.logical_and.reduce([frame[k] == v for k, v in population.items()])].sort_values("position")
    if rows.empty:
        there = sorted({f"{r.method}@{r.sparsity:g}" for r in frame[["method", "sparsity"]].drop_duplicates().itertuples()})
        raise ConfigError(f"pies={path} has no PIEs of the source population {population['method']}@"
                          f"{population['sparsity']:g} (model key {population['model_key']}); it holds {', '.join(there)}. "
                          "Run identify_pies --split train over the sweep the source runs are in")
    if ids_sha256(pa.array(rows["example_id"].astype(str).tolist(), pa.string())) != ids_sha:
        raise ConfigError(f"pies={path} holds PIEs of other data than the source runs' training split (another "
                          "split, subsample or dataset); run identify_pies --split train over the source sweep and pass its "
                          "pies.parquet")
    return rows[PIE_COLUMNS[pie_set]].to_numpy(dtype=bool)


def _train_ids_sha(run: Run) -> str:
    record = run.manifest.predictions.get("train_final")
    if record is None or record.ids_sha256 is None:
        raise ConfigError(f"the source run {run.directory} recorded no training-split predictions with example ids; "
                          "rerun it with this version of pie")
    return record.ids_sha256


def recorded(recovery: DictConfig, source: Run, source_sweep: str) -> dict:
    """The recovery method's config with its inputs checked and recorded: the PIE file's absolute
    path, sha256 and population (pie_weight), the teacher runs (distill)."""
    node = OmegaConf.to_container(recovery, resolve=True)
    name = node.get("name")
    if name == "pie_weight":
        weight = float(node["weight"])
        if weight <= 0 or weight == 1:
            raise ConfigError(f"weight must be > 0 and not 1 (1 is the control, recovery=none), got {weight:g}")
        if not node.get("pies"):
            raise ConfigError("recovery=pie_weight needs pies=<the pies.parquet of identify_pies.py <source> --split train>")
        path = Path(str(node["pies"])).expanduser().resolve()
        population = source_population(source)
        pies = read_pies(path, population, _train_ids_sha(source), node.get("pie_set", "modal"))
        if not pies.any():
            raise ConfigError(f"pies={path} marks no training example of {population['method']}@"
                              f"{population['sparsity']:g} as a PIE: there is nothing to up-weight")
        node.update(pies=str(path), train_pies=int(pies.sum()))
        node["objective"].update(pies=str(path), pies_sha256=sha256_file(path), population=population)
    elif name == "distill":
        if not 0 < float(node["alpha"]) <= 1 or float(node["temperature"]) <= 0:
            raise ConfigError(f"alpha must be in (0, 1] (0 is the control) and temperature > 0, got "
                              f"{node['alpha']}, {node['temperature']}")
        teacher = str(node.get("teacher") or source_sweep)
        dense = dense_runs_like(teacher, source)
        if not dense:
            raise ConfigError(f"no complete dense run of the source's data and model setup under {teacher}: distill learns "
                              "from the dense population; pass teacher=<the dense sweep>")
        missing = [str(r.directory) for r in dense if r.manifest.predictions.get("train_final") is None]
        if missing:
            raise ConfigError(f"dense runs without training-split predictions: {', '.join(missing[:3])}; rerun them")
        node.update(teacher=teacher, teacher_sha256=fingerprint_object([r.manifest.predictions["train_final"].sha256 for r in dense]))
        node["objective"].update(teacher_runs=[str(r.directory.resolve()) for r in dense])
    elif name != "none":
        raise ConfigError(f"recovery={name}: unknown recovery method; use none, pie_weight or distill")
    return node


def _train_ids_hash(train_ids) -> str:
    return ids_sha256(pa.array([str(i) for i in train_ids], pa.string()))


def pie_weighted(task: Task, train_ids, pies: str, pies_sha256: str, population: dict, weight: float,
                 pie_set: str = "modal") -> WeightedLoss:
    """The task's loss with weight `weight` on the training PIEs of `population`, 1 elsewhere."""
    if sha256_file(pies) != pies_sha256:
        raise ConfigError(f"pies={pies} changed since this run was configured (sha256 differs); rerun recover.py "
                          "to record the new file")
    is_pie = read_pies(pies, population, _train_ids_hash(train_ids), pie_set)
    return WeightedLoss(task, np.where(is_pie, float(weight), 1.0))


def distilled(task: Task, train_ids, teacher_runs: list[str], temperature: float, alpha: float) -> DistillLoss:
    """Distillation toward the teacher (dense) runs' mean distribution on the training split."""
    runs = [Run(Path(d), read_manifest(d)) for d in teacher_runs]
    population = load_logits(runs, "train_final")
    if _train_ids_hash(train_ids) != ids_sha256(population.ids):
        raise ConfigError("the teacher runs' training examples differ from this run's; distill from the dense runs of the "
                          "source's sweep")
    return DistillLoss(task, task.soft_targets(population.logits, temperature), temperature, alpha)

