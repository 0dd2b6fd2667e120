"""W&B touch points: per-example prediction tables, identify_pies' own run, and finishing runs
so that jobs of one multirun process never share a W&B run."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd


def finish() -> None:
    """End the active W&B run, if wandb is in use in this process."""
    wandb = sys.modules.get("wandb")
    if wandb is not None and wandb.run is not None:
        wandb.finish()


def prediction_table(example_ids, labels, logits: np.ndarray, threshold: float | None = None) -> pd.DataFrame:
    """One row per example: id, gold label, predicted label, confidence and the logits. Multi-label
    (a threshold τ given): gold and predicted label lists, confidence = the top sigmoid."""
    if threshold is not None:
        from pie.models.thresholds import binarize

        return pd.DataFrame({
            "example_id": list(example_ids),
            "label": [np.flatnonzero(row).tolist() for row in np.asarray(labels)],
            "prediction": [np.flatnonzero(row).tolist() for row in binarize(logits, threshold)],
            "confidence": 1.0 / (1.0 + np.exp(-logits.max(axis=1))),
            "logits": [list(map(float, row)) for row in logits],
        })
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    probabilities = shifted / shifted.sum(axis=1, keepdims=True)
    return pd.DataFrame({
        "example_id": list(example_ids),
        "label": np.asarray(labels),
        "prediction": logits.argmax(axis=1),
        "confidence": probabilities.max(axis=1),
        "logits": [list(map(float, row)) for row in logits],
    })


def log_predictions(logger, split: str, example_ids, labels, logits: np.ndarray, threshold: float | None = None) -> None:
    """Log a per-example prediction table when the run's logger can hold tables (W&B)."""
    if hasattr(logger, "log_table"):
        logger.log_table(key=f"predictions/{split}", dataframe=prediction_table(example_ids, labels, logits, threshold))


def log_identify_run(out_dir: Path, tables: dict[str, pd.DataFrame], plots: dict[str, Path], project: str = "pie") -> str:
    """identify_pies' own W&B run (offline unless WANDB_MODE says otherwise): tables and plots."""
    import wandb

    run = wandb.init(project=project, job_type="identify_pies", dir=str(out_dir), name=f"identify-{out_dir.name}")
    try:
        for name, frame in tables.items():
            run.log({f"tables/{name}": wandb.Table(dataframe=frame.astype({c: str for c in frame.columns if frame[c].dtype == object}))})
        for name, path in plots.items():
            run.log({f"plots/{name}": wandb.Image(str(path))})
        return run.dir
    finally:
        wandb.finish()
