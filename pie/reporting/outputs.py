"""identify_pies' outputs: every table as CSV and Parquet, summary.md, one plot per analysis and
dataset x model, report.html, and optionally a W&B run."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import pandas as pd

from pie.memo import PLOTS, Memo
from pie.parallel import in_order, shared
from pie.pies.conventions import Conventions
from pie.reporting.report import report_parts, write_report
from pie.reporting.tables import summary_markdown, write_table, write_text


def _setup_frames(tables: dict[str, pd.DataFrame], dataset: str, model: str) -> dict[str, pd.DataFrame]:
    """The rows of one setup of every table a plot draws (not the per-example PIE table: millions
    of rows at the paper's scale, and no plot reads it), indexed from 0: a setup's plots are keyed
    by its rows alone (pie.memo), not by where other setups' rows put them in the table, so adding
    a population redraws only its own setup's plots."""
    return {name: frame[(frame["dataset"] == dataset) & (frame["model"] == model)].reset_index(drop=True)
            for name, frame in tables.items() if name != "pies"}


def _figure_jobs(tables: dict[str, pd.DataFrame], setups: dict[tuple[str, str], tuple[str, ...]], plots_dir: Path):
    """(name, (plot function, its arguments..., path)) of each plot: per (dataset, model) setup,
    keyed `<analysis>_<dataset>_<model>`, then the cross-setup comparison. The functions of
    pie.reporting.plots go by name: Matplotlib is imported only where a plot is drawn."""
    plots = _Named("pie.reporting.plots")

    for (dataset, model), label_names in setups.items():
        frames = _setup_frames(tables, dataset, model)
        title, stem = f"{dataset} / {model}", f"{dataset}_{model}"

        def figure(name: str, draw, *args):
            return f"{name}_{stem}", (draw, *args, title, plots_dir / f"{name}_{stem}.png")

        yield figure("effectiveness", plots.effectiveness, frames["effectiveness"])
        yield figure("pie_percent", plots.pie_percent, frames["summary"][frames["summary"]["method"] != "dense"])
        yield figure("pie_accuracy", plots.pie_accuracy, frames["accuracy"])
        if "classes" in frames and label_names:
            yield figure("classes", plots.class_shares, frames["classes"], list(label_names))
        for name, draw in (("influence", plots.influence), ("text", plots.text_ratios)):
            if name in frames and len(frames[name]):
                yield figure(name, draw, frames[name])
        yield figure("overlap", plots.overlap, frames["overlap"])
        for name, draw in (("prune_stability", plots.prune_stability), ("generalisation_gap", plots.generalisation_gap),
                           ("recovery", plots.recovery)):
            if name in frames and len(frames[name]):
                yield figure(name, draw, frames[name])
    if "excess_percent" in tables["comparison"] and tables["comparison"]["excess_percent"].notna().any():
        yield "comparison", (plots.comparison, tables["comparison"], plots_dir / "comparison.png")


class _Named:
    """module.attribute as a name: `_Named("m").f` is "m.f"."""

    def __init__(self, module: str):
        self.module = module

    def __getattr__(self, name: str) -> str:
        return f"{self.module}.{name}"


def _drawn(memo: Memo, draw, *arguments) -> Path:
    """draw(*arguments) writes the file its last argument names; from the cache when the same rows
    were drawn before."""
    *inputs, path = arguments
    return memo.produced(path, draw, *inputs)


def _written(name: str, path: Path) -> Path:
    """The table `name` of those the workers share (pie.parallel.shared), written to `path`."""
    return write_table(shared()[name], path)


def _report(*arguments) -> list:
    """report.html's parts (pie.reporting.report) from the tables the workers share."""
    return report_parts(shared(), *arguments)


def _done(function, *arguments):
    """A job of write_outputs: a table, a plot or the report's parts."""
    return function(*arguments)


def write_outputs(tables: dict[str, pd.DataFrame], setups: dict[tuple[str, str], tuple[str, ...]], out: Path,
                  sweeps: Sequence[str], excluded: pd.DataFrame, conventions: Conventions,
                  wandb: dict | None = None, split: str = "test", workers: int = 1, cache_dir: Path | None = None,
                  cache: bool = False) -> dict[str, Path]:
    """Write everything under `out`; returns the paths by name (tables as `<name>` (Parquet) and
    `<name>_csv`, plots by figure name, `summary_md`, `report`, `excluded_runs_csv`, `wandb`).
    `setups` maps each (dataset, model) to its class names; `excluded` lists the runs left out;
    `conventions` are the analyses' (stated in summary.md and report.html); `wandb`, when given,
    is the W&B run's config (identify_pies' options); `split` the split analysed. The tables and
    plots are written in `workers` processes, which inherit the tables rather than receive them
    through a pipe; the plots are, with `cache`, kept under `cache_dir` and reused while their rows
    stay the same (pie.memo)."""
    paths = {"excluded_runs_csv": write_table(excluded, out / "excluded_runs.csv")}
    memo = Memo(cache_dir or Path(".cache/pie"), "plots", PLOTS, cache, ".png")
    written = {f"{name}{suffix}": (_written, name, out / f"{name}.{'csv' if suffix else 'parquet'}")
               for name in tables if name != "pies" for suffix in ("_csv", "")}
    if "pies" in tables:
        written["pies"] = (_written, "pies", out / "pies.parquet")
    drawn = {name: (_drawn, memo, *job) for name, job in _figure_jobs(tables, setups, out / "plots")}
    shown = {name: job[-1] for name, job in drawn.items()}  # each plot's path: its job's last argument
    jobs = {("figure", name): job for name, job in drawn.items()} | {("table", name): job for name, job in written.items()}
    jobs[("report", "")] = (_report, shown, list(sweeps), excluded, conventions.describe(), split)
    # All submitted at once, the longest first: the PIE table (3.2M rows at the paper's scale,
    # ~1 s); the cross-setup comparison, drawn again whenever any setup changes; the report's
    # HTML tables; the other plots and tables. A plot and a table may share a name ("comparison").
    first = [tag for tag in (("table", "pies"), ("figure", "comparison"), ("report", "")) if tag in jobs]
    order = first + [tag for tag in jobs if tag not in first]
    done = dict(in_order(((tag, jobs[tag]) for tag in order), _done, workers, shared=tables, ahead=len(order)))
    paths.update({name: done[("table", name)] for name in written})
    figures = {name: done[("figure", name)] for name in drawn}
    paths["summary_md"] = write_text(summary_markdown(tables["summary"], conventions.describe(), tables.get("recovery"), split),
                                     out / "summary.md")
    paths.update(figures)
    paths["report"] = write_report(out / "report.html", done[("report", "")])
    if wandb is not None:
        from pie.reporting.wandb import log_identify_run

        paths["wandb"] = Path(log_identify_run(out, {k: v for k, v in tables.items() if k != "pies"}, figures, wandb))
    return paths
