"""identify_pies' outputs: every table as CSV and Parquet, summary.md, one plot per analysis and
dataset x model, report.html, and optionally a W&B run."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import pandas as pd

from pie.pies.conventions import Conventions
from pie.reporting import plots
from pie.reporting.report import write_report
from pie.reporting.tables import summary_markdown, write_table, write_text


def _setup_frames(tables: dict[str, pd.DataFrame], dataset: str, model: str) -> dict[str, pd.DataFrame]:
    return {name: frame[(frame["dataset"] == dataset) & (frame["model"] == model)] for name, frame in tables.items()}


def _figures(tables: dict[str, pd.DataFrame], setups: dict[tuple[str, str], tuple[str, ...]], plots_dir: Path) -> dict[str, Path]:
    """The plots of each (dataset, model) setup, keyed `<analysis>_<dataset>_<model>`."""
    figures: dict[str, Path] = {}
    for (dataset, model), label_names in setups.items():
        frames = _setup_frames(tables, dataset, model)
        title, stem = f"{dataset} / {model}", f"{dataset}_{model}"

        def figure(name: str, draw, *args) -> None:
            figures[f"{name}_{stem}"] = draw(*args, title, plots_dir / f"{name}_{stem}.png")

        figure("effectiveness", plots.effectiveness, frames["effectiveness"])
        figure("pie_percent", plots.pie_percent, frames["summary"][frames["summary"]["method"] != "dense"])
        figure("pie_accuracy", plots.pie_accuracy, frames["accuracy"])
        if "classes" in frames and label_names:
            figure("classes", plots.class_shares, frames["classes"], list(label_names))
        if "influence" in frames and len(frames["influence"]):
            figure("influence", plots.influence, frames["influence"])
        if "text" in frames and len(frames["text"]):
            figure("text", plots.text_ratios, frames["text"])
        figure("overlap", plots.overlap, frames["overlap"])
        if "prune_stability" in frames and len(frames["prune_stability"]):
            figure("prune_stability", plots.prune_stability, frames["prune_stability"])
        if "generalisation_gap" in frames and len(frames["generalisation_gap"]):
            figure("generalisation_gap", plots.generalisation_gap, frames["generalisation_gap"])
        if "recovery" in frames and len(frames["recovery"]):
            figure("recovery", plots.recovery, frames["recovery"])
    return figures


def write_outputs(tables: dict[str, pd.DataFrame], setups: dict[tuple[str, str], tuple[str, ...]], out: Path,
                  sweeps: Sequence[str], excluded: pd.DataFrame, conventions: Conventions,
                  wandb: dict | None = None, split: str = "test") -> dict[str, Path]:
    """Write everything under `out`; returns the paths by name (tables as `<name>` (Parquet) and
    `<name>_csv`, plots by figure name, `summary_md`, `report`, `excluded_runs_csv`, `wandb`).
    `setups` maps each (dataset, model) to its class names; `excluded` lists the runs left out;
    `conventions` are the analyses' (stated in summary.md and report.html); `wandb`, when given,
    is the W&B run's config (identify_pies' options); `split` the split analysed."""
    paths = {"excluded_runs_csv": write_table(excluded, out / "excluded_runs.csv")}
    for name, frame in tables.items():
        if name != "pies":
            paths[f"{name}_csv"] = write_table(frame, out / f"{name}.csv")
        paths[name] = write_table(frame, out / f"{name}.parquet")
    paths["summary_md"] = write_text(summary_markdown(tables["summary"], conventions.describe(), tables.get("recovery"), split),
                                     out / "summary.md")
    figures = _figures(tables, setups, out / "plots")
    if "excess_percent" in tables["comparison"] and tables["comparison"]["excess_percent"].notna().any():
        figures["comparison"] = plots.comparison(tables["comparison"], out / "plots" / "comparison.png")
    paths.update(figures)
    paths["report"] = write_report(out / "report.html", tables, figures, list(sweeps), excluded, conventions.describe(), split)
    if wandb is not None:
        from pie.reporting.wandb import log_identify_run

        paths["wandb"] = Path(log_identify_run(out, {k: v for k, v in tables.items() if k != "pies"}, figures, wandb))
    return paths
