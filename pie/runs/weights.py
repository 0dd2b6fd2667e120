"""Model weights and pruning masks in one safetensors file: no pickle, safe to load from disk."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Mapping

import torch
from safetensors.torch import load_file, save_file

from pie.atomic import atomic_path
from pie.runs.manifest import Run, WeightsRecord

MASK_PREFIX = "mask::"


def state_sha256(state: Mapping[str, torch.Tensor]) -> str:
    """Content hash of a state dict (names, dtypes, shapes, values), independent of device."""
    digest = hashlib.sha256()
    for name in sorted(state):
        tensor = state[name].detach().cpu().contiguous()
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)}".encode())
        digest.update(tensor.view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    return digest.hexdigest()


def save_weights(path: str | os.PathLike, state: Mapping[str, torch.Tensor], masks: Mapping[str, torch.Tensor] = {}) -> WeightsRecord:
    """Write weights (+ masks under 'mask::<name>') atomically; return a manifest record."""
    tensors = {k: v.detach().cpu().contiguous() for k, v in state.items()}
    tensors.update({MASK_PREFIX + k: m.detach().cpu().contiguous() for k, m in masks.items()})
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp))
    return WeightsRecord(file=Path(path).name, sha256=state_sha256(state), masked_tensors=len(masks))


def load_weights(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """(state dict, masks) from a file written by save_weights."""
    if not Path(path).exists():
        raise FileNotFoundError(f"no saved weights at {path}")
    tensors = load_file(str(path))
    masks = {k[len(MASK_PREFIX):]: v for k, v in tensors.items() if k.startswith(MASK_PREFIX)}
    state = {k: v for k, v in tensors.items() if not k.startswith(MASK_PREFIX)}
    return state, masks


def read_final_weights(run: Run) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """(state dict, masks) a complete run saved at its end; a clear error when it saved none."""
    record = run.manifest.weights.final if run.manifest.weights is not None else None
    if record is None:
        raise FileNotFoundError(f"run {run.directory} saved no final weights; rerun it with this version of pie")
    return load_weights(run.paths.weights_file(record.file))
