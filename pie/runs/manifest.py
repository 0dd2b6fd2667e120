"""The run manifest: what a run is (config, data, model, pruning) and what it produced, as typed
records read and written here only (open_lth's run description), with the facts derived from
them defined once: population key, rounded sparsity, headline metric, decision threshold.

Written at the start with status "running" and rewritten with status "complete" only after every
prediction file exists, so a crashed run never looks complete. The JSON layout is the one pie has
always written, so manifests of earlier versions read.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.metadata
import json
import math
import os
import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pie.pies.task import Task, task_for
from pie.atomic import write_json
from pie.errors import UserError
from pie.runs.paths import MANIFEST, RunPaths

RUNNING, COMPLETE, FAILED, INTERRUPTED = "running", "complete", "failed", "interrupted"
RESUMABLE = (RUNNING, FAILED, INTERRUPTED)  # a run in these states resumes from its checkpoint when rerun
DENSE = "dense"
TRACKED_PACKAGES = (
    "pie", "torch", "lightning", "transformers", "datasets", "torchmetrics", "hydra-core",
    "omegaconf", "numpy", "pyarrow", "torch-pruning", "wandb",
)


class BadRun(UserError, ValueError):
    """A run directory whose manifest is missing, unreadable or inconsistent."""


def _record(cls, data: dict | None):
    """A dataclass from its JSON object, ignoring keys it does not know (written by other versions)."""
    if data is None:
        return None
    names = field_names(cls)
    return cls(**{k: v for k, v in data.items() if k in names})


@functools.cache
def field_names(cls) -> tuple[str, ...]:
    """A dataclass's field names in order, looked up once per class (read for every manifest and
    prediction file)."""
    return tuple(f.name for f in dataclasses.fields(cls))


def _json(value, top: bool = False) -> Any:
    """Dataclasses as JSON objects; the manifest's sections not written yet (None) are left out."""
    if dataclasses.is_dataclass(value):
        return {f.name: _json(getattr(value, f.name)) for f in dataclasses.fields(value) if not (top and getattr(value, f.name) is None)}
    if isinstance(value, dict):
        return {k: _json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json(v) for v in value]
    return value


@dataclass(frozen=True)
class Keys:
    run: str  # what the run computes (pie.runs.identity)
    model: str  # its model setup: the dense population it is compared with
    pruning: str  # its pruning method, or "dense"


@dataclass(frozen=True)
class Attempt:
    started: str
    host: str
    pid: int
    slurm_job_id: str | None = None
    slurm_restart_count: str | None = None
    resumed_from: dict | None = None  # epochs_done, global_step of the checkpoint it resumed from
    error: str | None = None  # how the attempt ended when it failed or was interrupted


@dataclass(frozen=True)
class Branch:
    source: str  # the dense run a prune.py branch started from
    source_run_key: str


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    fingerprint: str
    split_seed: int | None = None
    sizes: dict[str, int] | None = None
    label_names: list[str] | None = None
    multi_label: bool = False
    pairs: bool | None = None
    max_length: int | None = None


@dataclass(frozen=True)
class ModelInfo:
    name: str
    parameters: int | None = None


@dataclass(frozen=True)
class PruningInfo:
    """The method and what it achieved: sparsity of the prunable set and of the whole model, per
    step, per tensor (masks) and the pruned shape (structured)."""

    method: str  # population label: "dense", the preset's name, with "-global" / "-branch"
    name: str
    scope: str
    target: float
    achieved_prunable: float | None = None
    achieved_model: float | None = None
    prunable_parameters: int | None = None
    model_parameters: int | None = None
    rewind_step: int | None = None
    steps: list[dict] = field(default_factory=list)
    per_tensor: dict[str, float] | None = None
    structure: dict | None = None


@dataclass(frozen=True)
class Threshold:
    value: float  # a multi-label run's decision threshold τ on sigmoid(z)
    tuned_on: str
    macro_f1: float
    decision: str | None = None  # ">=" or ">" (sigmoid(z) against τ); runs before it was recorded decided ">="


@dataclass(frozen=True)
class PredictionRecord:
    file: str
    rows: int
    classes: int
    sha256: str
    ids_sha256: str | None = None  # sha256 of the example ids joined by newlines (older manifests lack it)
    split: str | None = None
    when: str | None = None


@dataclass(frozen=True)
class WeightsRecord:
    file: str
    sha256: str
    masked_tensors: int = 0


@dataclass(frozen=True)
class Weights:
    init_sha256: str  # the initial weights, checked when a branch rebuilds them
    final: WeightsRecord | None = None


@dataclass(frozen=True, order=True)
class PopulationKey:
    dataset: str
    model: str
    model_key: str
    method: str
    pruning_key: str
    sparsity: float

    @property
    def is_dense(self) -> bool:
        return self.pruning_key == DENSE

    @property
    def dense_key(self) -> "PopulationKey":
        return PopulationKey(self.dataset, self.model, self.model_key, DENSE, DENSE, 0.0)

    def label(self) -> str:
        return f"{self.dataset}/{self.model}/{self.method}@{self.sparsity:g}"

    def logged_as(self, seed: int, log_id: str | None) -> dict[str, str | None]:
        """How loggers that name their runs (W&B) show a run of this population: its id, a name
        that says what it is, its population as the group, dense or pruned as the job type."""
        return {"id": log_id, "name": f"{self.dataset}-{self.model}-{self.method}-s{self.sparsity:g}-seed{seed}",
                "group": self.label(), "job_type": "dense" if self.is_dense else "pruned"}


@dataclass
class Manifest:
    status: str
    seed: int
    keys: Keys
    config: dict
    versions: dict[str, str]
    attempts: list[Attempt] = field(default_factory=list)
    branch: Branch | None = None
    dataset: DatasetInfo | None = None
    model: ModelInfo | None = None
    pruning: PruningInfo | None = None
    metrics: dict[str, dict[str, float]] | None = None
    threshold: Threshold | None = None
    epochs: int | None = None
    predictions: dict[str, PredictionRecord] = field(default_factory=dict)
    weights: Weights | None = None
    wall_time_s: float | None = None
    log_id: str | None = None  # the logger's run id (W&B): a resumed attempt continues the same logged run

    @property
    def complete(self) -> bool:
        return self.status == COMPLETE

    @property
    def is_dense(self) -> bool:
        return self.keys.pruning == DENSE

    @property
    def sparsity(self) -> float:
        """The target sparsity, rounded to 6 decimals so that 0.9 from any config is one population."""
        return round(float(self.pruning.target), 6)

    @property
    def task(self) -> Task:
        return task_for(self.dataset.multi_label)

    @property
    def headline(self) -> tuple[str, float]:
        """The run's headline test metric: accuracy, or macro-F1 for multi-label data (as the paper)."""
        name = self.task.metric
        return name, self.metrics["test"][name]

    @property
    def prune_measures(self) -> list[dict]:
        """Per prune: its epoch and the headline test metric right before and right after it (the
        pruning callback records them; none for dense runs and runs recorded before)."""
        name = self.task.metric
        return [{"after_epoch": s.get("after_epoch"), "measure": name, "before": s["test_before"][name], "after": s["test_after"][name]}
                for s in (self.pruning.steps if self.pruning else []) if "test_before" in s]

    @property
    def threshold_value(self) -> float:
        """The decision threshold τ (multi-label), NaN where the run has none."""
        return self.threshold.value if self.threshold is not None else math.nan

    @property
    def population_key(self) -> PopulationKey:
        return PopulationKey(self.dataset.name, self.model.name, self.keys.model, self.pruning.method, self.keys.pruning, self.sparsity)

    def to_json(self) -> dict:
        return _json(self, top=True)

    @classmethod
    def from_json(cls, data: dict) -> "Manifest":
        """The typed manifest; raises KeyError/TypeError on a manifest without its required fields."""
        pruning = dict(data["pruning"]) if data.get("pruning") else None
        weights = dict(data["weights"]) if data.get("weights") else None
        if weights is not None:
            weights["final"] = _record(WeightsRecord, weights.get("final"))
        return cls(
            status=data["status"], seed=int(data["seed"]), keys=_record(Keys, data["keys"]), config=data["config"],
            versions=data.get("versions", {}), attempts=[_record(Attempt, a) for a in data.get("attempts", [])],
            branch=_record(Branch, data.get("branch")), dataset=_record(DatasetInfo, data.get("dataset")),
            model=_record(ModelInfo, data.get("model")), pruning=_record(PruningInfo, pruning),
            metrics=data.get("metrics"), threshold=_record(Threshold, data.get("threshold")), epochs=data.get("epochs"),
            predictions={name: _record(PredictionRecord, r) for name, r in (data.get("predictions") or {}).items()},
            weights=_record(Weights, weights), wall_time_s=data.get("wall_time_s"), log_id=data.get("log_id"),
        )


@dataclass(frozen=True)
class Run:
    """A run directory and its manifest."""

    directory: Path
    manifest: Manifest

    @property
    def seed(self) -> int:
        return self.manifest.seed

    @functools.cached_property
    def paths(self) -> RunPaths:
        """Built once: identify_pies locates ~20k prediction files at the paper's scale."""
        return RunPaths.of(self.directory)


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in TRACKED_PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def write_manifest(run_dir: str | os.PathLike, manifest: Manifest) -> None:
    write_json(RunPaths.of(run_dir).manifest, manifest.to_json())


def read_manifest(run_dir: str | os.PathLike) -> Manifest:
    path = RunPaths.of(run_dir).manifest
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError as error:
        raise BadRun(f"{run_dir} has no {MANIFEST}") from error
    except json.JSONDecodeError as error:
        raise BadRun(
            f"{path} is not valid JSON ({error}): the file was damaged after it was written. Delete that run "
            f"directory ({run_dir}) and rerun its sweep command, which runs it again from scratch"
        ) from error
    if not isinstance(data, dict) or "status" not in data:
        raise BadRun(f"{path} has no status field; it was not written by pie")
    try:
        return Manifest.from_json(data)
    except (KeyError, TypeError, ValueError) as error:
        raise BadRun(f"{path} lacks the field {error} that pie needs; it was not written by pie (or by a much older version)") from error


def is_complete(run_dir: str | os.PathLike) -> bool:
    try:
        return read_manifest(run_dir).complete
    except BadRun:
        return False
