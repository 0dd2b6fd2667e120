"""identify_pies: sweeps -> populations -> PIEs -> pies.parquet, summary.csv and summary.md."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import pandas as pd

from pie.analysis.summary import dense_row, pair_row, pie_rows
from pie.pies.modal import TIE_RULES, modal_from_votes, vote_counts
from pie.pies.populations import PopulationKey, group_populations, pair_with_dense
from pie.pies.single_label import single_label_pie_table
from pie.reporting.tables import summary_markdown, write_table, write_text
from pie.runs.discovery import PopulationLogits, discover, load_logits

log = logging.getLogger(__name__)
SPLITS = ("test", "validation", "train")


@dataclass(frozen=True)
class Identified:
    summary: pd.DataFrame
    pies: pd.DataFrame
    paths: dict[str, Path]
    incomplete_runs: list[Path]


def _identity(key: PopulationKey) -> dict:
    return {"dataset": key.dataset, "model": key.model, "method": key.method, "sparsity": key.sparsity, "model_key": key.model_key}


def identify(patterns: Sequence[str], out_dir: str | Path, min_seeds: int = 5, tie: str = "lowest", split: str = "test") -> Identified:
    """Find every pruned population under `patterns`, its PIEs against its dense population, and
    write the tables to `out_dir`. Raises before computing anything when the input is invalid."""
    if tie not in TIE_RULES:
        raise ValueError(f"tie must be one of {', '.join(TIE_RULES)}, got {tie!r}")
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    if min_seeds < 1:
        raise ValueError(f"min_seeds must be >= 1, got {min_seeds}")
    found = discover(patterns)
    if found.incomplete:
        log.warning("skipping %d incomplete run(s), e.g. %s", len(found.incomplete), found.incomplete[0])
    populations = group_populations(found.complete, min_seeds)
    pairs = pair_with_dense(populations)
    if not pairs:
        raise ValueError(f"no pruned population under {', '.join(patterns)}: PIEs compare pruned with dense runs")

    cache: dict[PopulationKey, PopulationLogits] = {}

    def logits(key: PopulationKey) -> PopulationLogits:
        if key not in cache:
            cache[key] = load_logits(populations[key], f"{split}_final")
        return cache[key]

    summary, tables = [], []
    for dense_key in sorted({d for d, _ in pairs}):
        dense = logits(dense_key)
        modal, tied = modal_from_votes(vote_counts(dense.logits), tie)
        summary.append({**_identity(dense_key), **dense_row(dense.logits, dense.labels, modal, tied)})
    for dense_key, pruned_key in pairs:
        dense, pruned = logits(dense_key), logits(pruned_key)
        if list(dense.example_ids) != list(pruned.example_ids):
            raise ValueError(f"{pruned_key.label()} and its dense population predict different examples")
        result = single_label_pie_table(dense.logits, pruned.logits, tie)
        summary.append({**_identity(pruned_key), **pair_row(dense.logits, pruned.logits, dense.labels, result)})
        frame = pie_rows(dense.example_ids, dense.labels, result)
        for column, value in reversed(list(_identity(pruned_key).items())):
            frame.insert(0, column, value)
        tables.append(frame)
        log.info("%s: %d PIEs of %d examples (%.2f%%)", pruned_key.label(), result.is_pie.sum(), len(dense.labels), 100 * result.pie_fraction)

    summary_frame = pd.DataFrame(summary).sort_values(["dataset", "model", "model_key", "sparsity", "method"], kind="stable")
    pies_frame = pd.concat(tables, ignore_index=True)
    out = Path(out_dir)
    paths = {
        "pies": write_table(pies_frame, out / "pies.parquet"),
        "summary_csv": write_table(summary_frame, out / "summary.csv"),
        "summary_md": write_text(summary_markdown(summary_frame), out / "summary.md"),
    }
    return Identified(summary_frame, pies_frame, paths, found.incomplete)
