"""The run manifest: what a run is (config, data, model, pruning) and what it produced.

Written at the start with status "running" and rewritten with status "complete" only after every
prediction file exists, so a crashed run never looks complete.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
from pathlib import Path

from pie.runs.atomic import write_json

MANIFEST = "manifest.json"
RUNNING, COMPLETE = "running", "complete"
TRACKED_PACKAGES = (
    "pie", "torch", "lightning", "transformers", "datasets", "torchmetrics", "hydra-core",
    "omegaconf", "numpy", "pyarrow", "torch-pruning", "wandb",
)


class BadRun(ValueError):
    """A run directory whose manifest is missing, unreadable or inconsistent."""


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in TRACKED_PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def write_manifest(run_dir: str | os.PathLike, manifest: dict) -> None:
    write_json(Path(run_dir) / MANIFEST, manifest)


def read_manifest(run_dir: str | os.PathLike) -> dict:
    path = Path(run_dir) / MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError as error:
        raise BadRun(f"{run_dir} has no {MANIFEST}") from error
    except json.JSONDecodeError as error:
        raise BadRun(f"{path} is not valid JSON ({error}); rerun that run") from error
    if not isinstance(manifest, dict) or "status" not in manifest:
        raise BadRun(f"{path} has no status field; it was not written by pie")
    return manifest


def is_complete(run_dir: str | os.PathLike) -> bool:
    try:
        return read_manifest(run_dir)["status"] == COMPLETE
    except BadRun:
        return False
