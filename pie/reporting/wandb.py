"""W&B touch points: per-example prediction tables, identify_pies' own run, and finishing runs
so that jobs of one multirun process never share a W&B run."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pandas as pd


def finish() -> None:
    """End the active W&B run, if wandb is in use in this process."""
    wandb = sys.modules.get("wandb")
    if wandb is not None and wandb.run is not None:
        wandb.finish()


def quiet(logger) -> None:
    """With WANDB_SILENT (pie's default), no W&B line at all on the console, warnings included
    (Lightning's WandbLogger passes a deprecated setting that W&B warns about on every run)."""
    if hasattr(logger, "log_table") and os.environ.get("WANDB_SILENT", "").lower() in ("true", "1"):
        import wandb

        wandb.setup(wandb.Settings(silent=True, show_warnings=False))


def log_predictions(logger, split: str, task, example_ids, labels, logits, threshold: float | None) -> None:
    """Log the task's per-example prediction table (pie.pies.task) when the run's logger can hold
    tables (W&B)."""
    if hasattr(logger, "log_table"):
        logger.log_table(key=f"predictions/{split}", dataframe=task.prediction_table(example_ids, labels, logits, threshold))


def log_summary(logger, values: dict) -> None:
    """A run's final numbers in its W&B summary (what a dashboard's population table reads)."""
    if hasattr(logger, "log_table"):
        logger.experiment.summary.update(values)


def log_identify_run(out_dir: Path, tables: dict[str, pd.DataFrame], plots: dict[str, Path], options: dict,
                     project: str = "pie") -> str:
    """identify_pies' own W&B run (offline unless WANDB_MODE says otherwise), in the group
    `identify_pies` with its options as config: every table (`tables/summary` is one row per
    population) and plot."""
    import wandb

    run = wandb.init(project=project, job_type="identify_pies", group="identify_pies", config=options, dir=str(out_dir),
                     name=f"identify-{out_dir.name}")
    try:
        for name, frame in tables.items():
            run.log({f"tables/{name}": wandb.Table(dataframe=frame.astype({c: str for c in frame.columns if frame[c].dtype == object}))})
        for name, path in plots.items():
            run.log({f"plots/{name}": wandb.Image(str(path))})
        return run.dir
    finally:
        wandb.finish()
