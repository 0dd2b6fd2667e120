"""Summary tables as CSV, Markdown and Parquet, written atomically."""

from __future__ import annotations

import math
import os
from pathlib import Path

import pandas as pd

from pie.atomic import atomic_path

COUNTS = {"seeds", "pies", "examples", "dense_ties", "pruned_ties"}


def _cell(value, digits: int = 4, count: bool = False) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if count:
        return str(int(value))
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def _headline(row: dict) -> str:
    metric = row.get("metric") if isinstance(row.get("metric"), str) else "accuracy"
    return f"{row[f'{metric}_mean']:.4f} ± {_cell(row[f'{metric}_std'])}"


def _pies(row: dict) -> str:
    if isinstance(row.get("pie_percent"), float) and not math.isnan(row["pie_percent"]):
        return f"{row['pie_percent']:.2f} [{row['pie_percent_low']:.2f}, {row['pie_percent_high']:.2f}]"
    return "–"


def summary_rows(summary: pd.DataFrame) -> list[dict[str, str]]:
    """The summary table as a person reads it, one row per population (dense first in each
    setup): the headline metric (accuracy, or macro-F1 for multi-label data) mean ± std over
    seeds, % PIEs with its 95% interval, and the population decisions' metric on all examples
    and on the PIEs (modal label, or majority decisions)."""
    rows = []
    for row in summary.to_dict("records"):
        metric = row.get("metric") if isinstance(row.get("metric"), str) else "accuracy"
        name = "macro-F1" if metric == "macro_f1" else "accuracy"
        rows.append({
            "dataset / model": f"{row['dataset']} / {row['model']}",
            "method": row["method"],
            "sparsity": f"{row['sparsity']:g}",
            "seeds": _cell(row.get("seeds"), count=True),
            "test metric (mean ± std)": f"{_headline(row)} ({name})",
            "% PIEs [95% CI]": _pies(row),
            "PIEs / examples": f"{_cell(row.get('pies'), count=True)} / {_cell(row.get('examples'), count=True)}",
            "dense decision: all → PIEs": f"{_cell(row.get('dense_modal_accuracy_all'))} → {_cell(row.get('dense_modal_accuracy_pies'))}",
            "pruned decision: all → PIEs": f"{_cell(row.get('pruned_modal_accuracy_all'))} → {_cell(row.get('pruned_modal_accuracy_pies'))}",
            "ties (dense / pruned)": f"{_cell(row.get('dense_ties'), count=True)} / {_cell(row.get('pruned_ties'), count=True)}",
        })
    return rows


def summary_markdown(summary: pd.DataFrame, conventions: str) -> str:
    """summary_rows as a Markdown table, with a line that says what the columns mean and one that
    names the analysis conventions."""
    rows = summary_rows(summary)
    columns = list(dict.fromkeys(column for row in rows for column in row))
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(row.get(column, "–") for column in columns) + " |" for row in rows]
    return ("\n".join(lines) + "\n\nA PIE: an example whose modal label (multi-label: majority decision for some class) differs "
            "between the pruned and the dense population. Decisions: the metric of the population's modal label (multi-label: "
            f"macro-F1 of its majority decisions) on all test examples → on the PIEs.\n\n{conventions}.\n")


def write_table(frame: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write a frame as .csv or .parquet (by suffix), atomically."""
    path = Path(path)
    with atomic_path(path) as tmp:
        if path.suffix == ".parquet":
            frame.to_parquet(tmp, index=False)
        else:
            frame.to_csv(tmp, index=False)
    return path


def write_text(text: str, path: str | os.PathLike) -> Path:
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return path
