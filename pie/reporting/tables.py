"""Summary tables as CSV, Markdown and Parquet, written atomically."""

from __future__ import annotations

import math
import os
from pathlib import Path

import pandas as pd

from pie.atomic import atomic_path

SUMMARY_COLUMNS = {
    "dataset": "dataset",
    "model": "model",
    "method": "method",
    "sparsity": "sparsity",
    "seeds": "seeds",
    "accuracy": "test metric (mean ± std)",
    "pie_percent": "% PIEs",
    "pies": "PIEs",
    "examples": "examples",
    "dense_modal_accuracy_all": "dense modal (all)",
    "dense_modal_accuracy_pies": "dense modal (PIEs)",
    "pruned_modal_accuracy_all": "pruned modal (all)",
    "pruned_modal_accuracy_pies": "pruned modal (PIEs)",
    "ties": "ties (dense/pruned)",
}


COUNTS = {"seeds", "pies", "examples", "dense_ties", "pruned_ties"}


def _cell(value, digits: int = 4, count: bool = False) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if count:
        return str(int(value))
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def _headline_cell(row: dict) -> str:
    metric = row.get("metric") if isinstance(row.get("metric"), str) else "accuracy"
    shown = f"{row[f'{metric}_mean']:.4f} ± {_cell(row[f'{metric}_std'])}"
    return shown if metric == "accuracy" else f"{shown} ({metric.replace('_', '-')})"


def summary_markdown(summary: pd.DataFrame) -> str:
    """A Markdown table a person reads: the headline metric as mean ± std (accuracy, or macro-F1
    for multi-label data, named in the cell), dashes for not-applicable. "Modal" columns score the
    population's modal label (accuracy) or majority decisions (macro-F1)."""
    lines = ["| " + " | ".join(SUMMARY_COLUMNS.values()) + " |", "|" + "---|" * len(SUMMARY_COLUMNS)]
    for row in summary.to_dict("records"):
        cells = {
            **{k: _cell(row.get(k), count=k in COUNTS) for k in SUMMARY_COLUMNS},
            "sparsity": f"{row['sparsity']:g}",
            "accuracy": _headline_cell(row),
            "pie_percent": _cell(row.get("pie_percent"), 2),
            "ties": f"{_cell(row.get('dense_ties'), count=True)}/{_cell(row.get('pruned_ties'), count=True)}",
        }
        lines.append("| " + " | ".join(cells[k] for k in SUMMARY_COLUMNS) + " |")
    return "\n".join(lines) + "\n"


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
