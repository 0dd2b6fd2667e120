"""Crash-safe training: every epoch ends with `checkpoints/last.ckpt`, written atomically, holding
the weights, optimizer, loop counters, the callbacks' state (pruning masks and rewind snapshot,
the prediction files already logged) and the global RNG state. A rerun of the same run resumes
from it and ends bit-identical to a run that was never interrupted.

On SLURM, submitit requeues a job on timeout or preemption and the requeued job resumes here;
Lightning's own SLURM requeue is switched off so that only one of the two acts.
"""

from __future__ import annotations

import csv
import logging
import os
import random
from dataclasses import dataclass
from pathlib import Path

import lightning as L
import numpy as np
import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO
from lightning.pytorch.callbacks import Checkpoint
from lightning.pytorch.plugins.environments import SLURMEnvironment

from pie.atomic import atomic_path
from pie.faults import fault_point
from pie.runs.identity import stored_run_key
from pie.runs.manifest import RESUMABLE, BadRun, read_manifest
from pie.runs.paths import RunPaths

log = logging.getLogger(__name__)


class AtomicCheckpointIO(TorchCheckpointIO):
    """Checkpoints written next to their destination and renamed over it (never half-written,
    also across file systems), and read back without unpickling arbitrary objects."""

    def save_checkpoint(self, checkpoint, path, storage_options=None) -> None:
        with atomic_path(path) as tmp:
            torch.save(checkpoint, tmp)

    def load_checkpoint(self, path, map_location=None, weights_only=None) -> dict:
        return torch.load(path, map_location=map_location or "cpu", weights_only=True)


class EpochCheckpoint(Checkpoint):
    """`last.ckpt` at the end of every training epoch (after pruning: Lightning runs Checkpoint
    callbacks after the others)."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        trainer.save_checkpoint(self.path)


def _rng_state() -> dict:
    numpy_state = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": [numpy_state[0], torch.from_numpy(numpy_state[1].astype(np.int64)), *numpy_state[2:]],
        "python": random.getstate(),
    }


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    kind, keys, *rest = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), *rest))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))


class ResumeState(L.Callback):
    """Saves the global RNG states (torch, CUDA, NumPy, Python) with each checkpoint and puts them
    back at the start of the first epoch after a resume, so data order and dropout continue as
    if the run had never stopped. Also the `train_batch` fail point for crash tests."""

    def __init__(self):
        self.pending: dict | None = None

    def on_save_checkpoint(self, trainer, pl_module, checkpoint: dict) -> None:
        checkpoint["rng"] = _rng_state()

    def on_load_checkpoint(self, trainer, pl_module, checkpoint: dict) -> None:
        self.pending = checkpoint.get("rng")
        if self.pending is None:
            raise BadRun("the checkpoint holds no RNG state (not written by pie); delete it to restart the run")

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        if self.pending is not None:
            _set_rng_state(self.pending)
            self.pending = None

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        fault_point("train_batch")


@dataclass(frozen=True)
class ResumePoint:
    path: Path
    epochs_done: int
    global_step: int
    structure: dict | None  # a structurally pruned network's shape, to rebuild before loading


def find_resume_point(run_dir: str | os.PathLike, run_key: str) -> ResumePoint | None:
    """The checkpoint an interrupted run of this configuration left, or None to start afresh
    (no checkpoint, a different configuration in the directory, or an unreadable file)."""
    path = RunPaths.of(run_dir).last_checkpoint
    if not path.exists():
        return None
    try:
        manifest = read_manifest(run_dir)
    except BadRun as error:
        log.warning("not resuming %s: %s", run_dir, error)
        return None
    if manifest.status not in RESUMABLE or stored_run_key(manifest) != run_key:
        log.warning("not resuming %s: its checkpoint belongs to another configuration", run_dir)
        return None
    try:
        peek = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        point = ResumePoint(path, int(peek["epoch"]) + 1, int(peek["global_step"]), peek.get("structure"))
    except Exception as error:  # any unreadable checkpoint means: start this run again
        log.warning("not resuming %s: its checkpoint %s is unreadable (%s); starting it afresh", run_dir, path, error)
        return None
    return point


def trim_metrics_log(path: str | os.PathLike, epochs_done: int) -> None:
    """Drop the rows a killed attempt logged after its last checkpoint (the resumed run logs them
    again), so each epoch appears once in the CSV log."""
    path = Path(path)
    if not path.exists():
        return
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        fields, rows = reader.fieldnames, [r for r in reader if not r.get("epoch") or float(r["epoch"]) < epochs_done]
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)


def cluster_plugins() -> list:
    """Under SLURM, Lightning's environment without its SIGUSR1 auto-requeue: submitit requeues."""
    return [SLURMEnvironment(auto_requeue=False)] if SLURMEnvironment.detect() else []
