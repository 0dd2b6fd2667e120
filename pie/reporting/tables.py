"""Summary tables as CSV, Markdown and Parquet, written atomically."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

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


def on_split(text: str, split: str) -> str:
    """An explanation written for the test split, said of the split analysed (identify_pies --split)."""
    return text.replace("test examples", f"{split} examples")


def models(n: int) -> str:
    """'1 model', '5 models'."""
    return f"{n} model{'' if n == 1 else 's'}"


def _known(row: dict, key: str) -> bool:
    value = row.get(key)
    return isinstance(value, (int, float)) and not isinstance(value, bool) and not math.isnan(value)


def _interval(row: dict, key: str, low: str, high: str, digits: int = 2) -> str:
    if not _known(row, key):
        return "–"
    return f"{row[key]:.{digits}f} [{row[low]:.{digits}f}, {row[high]:.{digits}f}]"


def _noise(row: dict) -> str:
    """The null at the common size, e.g. "7.34 (5 a side)"."""
    if not _known(row, "null_percent"):
        return "–"
    return f"{row['null_percent']:.2f} ({int(row['noise_size'])} a side)"


def verdicts(summary: pd.DataFrame) -> list[str]:
    """One sentence per population: what its PIEs are worth beside seed noise, how many are
    robust, and whether the population collapsed (then its PIEs are not findings)."""
    sentences = []
    for row in summary.to_dict("records"):
        who = f"{row['dataset']} / {row['model']} {row['method']}"
        degenerate = f"{_cell(row.get('degenerate_models'), count=True)} of {_cell(row.get('seeds'), count=True)} models degenerate"
        if row["method"] == "dense":
            sentences.append(f"{who}: {_cell(row.get('seeds'), count=True)} models; {degenerate}.")
            continue
        text = f"{who} at {100 * row['sparsity']:g}%: {row['pie_percent']:.1f}% PIEs [{row['pie_percent_low']:.1f}, {row['pie_percent_high']:.1f}]"
        if _known(row, "excess_percent"):
            noise = row["excess_low"] <= 0 <= row["excess_high"]
            text += (f"; with {models(int(row['noise_size']))} a side, {row['pie_percent_at_size']:.1f}% against "
                     f"{row['null_percent']:.1f}% from seed noise alone: excess {row['excess_percent']:+.1f} points "
                     f"[{row['excess_low']:+.1f}, {row['excess_high']:+.1f}]" + (", indistinguishable from seed noise" if noise else "")
                     + f"; {int(row['robust_pies'])} robust PIEs (confidence ≥ {row['robust_level']:g})")
        text += f"; {degenerate}."
        if row.get("degenerate") in (True,):
            text = f"DEGENERATE, its PIEs describe a collapse, not findings: {text}"
        sentences.append(text)
    return sentences


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
            "% PIEs [95% CI]": _interval(row, "pie_percent", "pie_percent_low", "pie_percent_high"),
            "seed-noise % PIEs": _noise(row),
            "excess [95% CI]": _interval(row, "excess_percent", "excess_low", "excess_high"),
            "robust PIEs": _cell(row.get("robust_pies"), count=True),
            "degenerate models": _cell(row.get("degenerate_models"), count=True),
            "seeds": _cell(row.get("seeds"), count=True),
            "test metric (mean ± std)": f"{_headline(row)} ({name})",
            "PIEs / examples": f"{_cell(row.get('pies'), count=True)} / {_cell(row.get('examples'), count=True)}",
            "dense decision: all → PIEs": f"{_cell(row.get('dense_modal_accuracy_all'))} → {_cell(row.get('dense_modal_accuracy_pies'))}",
            "pruned decision: all → PIEs": f"{_cell(row.get('pruned_modal_accuracy_all'))} → {_cell(row.get('pruned_modal_accuracy_pies'))}",
            "ties (dense / pruned)": f"{_cell(row.get('dense_ties'), count=True)} / {_cell(row.get('pruned_ties'), count=True)}",
        })
    return rows


def recovery_rows(recovery: pd.DataFrame) -> list[dict[str, str]]:
    """The recovery table as a person reads it: per sparsity, each recovery method beside its
    control (plain fine-tuning), with intervals and the differences R - C."""
    rows = []
    for row in recovery.to_dict("records"):
        scale = 100.0

        def delta(name: str, factor: float = 1.0, digits: int = 2) -> str:
            return (f"{row[f'delta_{name}'] * factor:+.{digits}f} [{row[f'delta_{name}_low'] * factor:+.{digits}f}, "
                    f"{row[f'delta_{name}_high'] * factor:+.{digits}f}]")

        rows.append({
            "dataset / model": f"{row['dataset']} / {row['model']}",
            "sparsity": f"{row['sparsity']:g}",
            "method": row["method"],
            "seeds": _cell(row.get("paired_seeds"), count=True),
            "% PIEs [95% CI]": _interval(row, "pie_percent", "pie_percent_low", "pie_percent_high"),
            "control % PIEs [95% CI]": _interval(row, "pie_percent_control", "pie_percent_low_control", "pie_percent_high_control"),
            "Δ % PIEs [paired CI]": delta("pie_percent"),
            "excess over seed noise (R / C)": f"{_cell(row.get('excess_percent'), 2)} / {_cell(row.get('excess_percent_control'), 2)}",
            "on control's PIEs (R / C)": f"{_cell(row.get('control_pies_score'), 3)} / {_cell(row.get('control_pies_score_control'), 3)}"
                                         f" ({_cell(row.get('control_pies'), count=True)} PIEs)",
            "Δ on control's PIEs, points": delta("control_pies_score", scale, 1),
            "overall (R / C)": f"{_cell(row.get('score'))} / {_cell(row.get('score_control'))}",
            "Δ overall, points": delta("score", scale, 2),
            "churn (R / C / dense)": f"{_cell(row.get('churn'), 3)} / {_cell(row.get('churn_control'), 3)} / {_cell(row.get('churn_dense'), 3)}",
        })
    return rows


def _markdown_table(rows: list[dict[str, str]]) -> list[str]:
    columns = list(dict.fromkeys(column for row in rows for column in row))
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    return lines + ["| " + " | ".join(row.get(column, "–") for column in columns) + " |" for row in rows]


def summary_markdown(summary: pd.DataFrame, conventions: str, recovery: pd.DataFrame | None = None, split: str = "test") -> str:
    """summary_rows as a Markdown table, with a line that says what the columns mean (of the `split`
    analysed) and one that names the analysis conventions; then the recovery study's table and
    sentences when there is one."""
    lines = _markdown_table(summary_rows(summary))
    extra = ""
    if recovery is not None and len(recovery):
        extra = ("\n## Recovery: each method against plain fine-tuning (its control)\n\n" + "\n".join(_markdown_table(recovery_rows(recovery)))
                 + "\n\nR - C: the recovery population minus its control, on the same seeds (paired), with 95% bootstrap "
                 "intervals over test examples, dense models and seeds; on control's PIEs: cross-fitted (PIEs from one half of "
                 "the control's seeds score the other half).\n\n" + "\n".join(f"- {v}" for v in recovery["verdict"]) + "\n")
    return on_split("\n".join(lines) + "\n\nA PIE: an example whose modal label (multi-label: majority decision for some class) differs "
            "between the pruned and the dense population. Seed-noise % PIEs: the share two disjoint dense populations of the "
            "same size (models a side) disagree on; excess: % PIEs at that size minus it, with a 95% interval over seed draws "
            "and test examples. Robust PIEs: PIEs in at least 90% of those draws. Decisions: the metric of the population's "
            f"modal label (multi-label: macro-F1 of its majority decisions) on all test examples → on the PIEs.\n\n{conventions}.\n\n"
            + "\n".join(f"- {sentence}" for sentence in verdicts(summary)) + "\n" + extra, split)


def write_table(frame: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write a frame as .csv or .parquet (by suffix), atomically."""
    path = Path(path)
    with atomic_path(path) as tmp:
        if path.suffix != ".parquet":
            frame.to_csv(tmp, index=False)
        elif any(_is_arrow_list(dtype) for dtype in frame.dtypes):
            pq.write_table(_as_object_lists(pa.Table.from_pandas(frame, preserve_index=False)), tmp, compression="snappy")
        else:
            frame.to_parquet(tmp, index=False)
    return path


def _is_arrow_list(dtype) -> bool:
    return isinstance(dtype, pd.ArrowDtype) and pa.types.is_list(dtype.pyarrow_dtype)


def _as_object_lists(table: pa.Table) -> pa.Table:
    """The table as pandas' to_parquet writes it had its Arrow list columns (pie.analysis.summary's
    vote_lists) been object columns of NumPy rows, the form the PIE table was written in before:
    the same Arrow type, and pandas' metadata naming them object columns, so the file's bytes are
    unchanged and pandas reads them back as NumPy rows."""
    described = json.loads(table.schema.metadata[b"pandas"])
    for column in described["columns"]:
        if column["pandas_type"].startswith("list[") and column["numpy_type"].endswith("[pyarrow]"):
            column["numpy_type"] = "object"
    return table.replace_schema_metadata({**table.schema.metadata, b"pandas": json.dumps(described).encode()})


def write_text(text: str, path: str | os.PathLike) -> Path:
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return path
