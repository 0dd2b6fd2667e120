"""Per-population summary rows: the headline metric over seeds, % PIEs with its interval, and the
population decisions' metric on all examples vs on the PIEs, for the dense and the pruned
population."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from pie.pies.task import Task


def dense_row(task: Task, decisions: np.ndarray, labels: np.ndarray, num_classes: int, tie: str) -> dict:
    """A dense population on its own, from its per-model decisions."""
    votes = task.votes(decisions, num_classes)
    decision, tied = task.population_decision(votes, len(decisions), tie)
    return {
        **task.population_stats(decisions, labels),
        "examples": len(labels),
        "dense_modal_accuracy_all": task.score(decision, labels),
        "dense_ties": int(tied.sum()),
    }


def pair_row(task: Task, labels: np.ndarray, pruned: np.ndarray, result, accuracy: dict, interval: dict) -> dict:
    """A pruned population against its dense population; the decisions' scores are those of the
    pair's A3 row (`accuracy`), the interval that of the % PIEs."""
    return {
        **task.population_stats(pruned, labels),
        "examples": int(result.considered.sum()),
        "pies": int(result.is_pie.sum()),
        "pie_percent": 100.0 * result.pie_fraction,
        **task.summary_extras(result),
        **{f"{side}_modal_accuracy_{subset}": accuracy[f"{side}_modal_{subset}"]
           for side in ("dense", "pruned") for subset in ("all", "pies")},
        "dense_ties": int(result.dense_tied.sum()),
        "pruned_ties": int(result.pruned_tied.sum()),
        "pie_percent_low": interval["low"],
        "pie_percent_high": interval["high"],
    }


def vote_lists(votes: np.ndarray) -> pd.arrays.ArrowExtensionArray:
    """Votes [N, C] as a column of N lists of C counts, held as one Arrow list array over the
    votes' buffer (N NumPy rows cost ~1 s per million to unpickle and to convert to Parquet at the
    paper's scale); pie.reporting.tables.write_table writes it to Parquet as before."""
    votes = np.ascontiguousarray(votes)
    rows, classes = votes.shape
    offsets = pa.array(np.arange(0, (rows + 1) * classes, classes, dtype=np.int32))
    return pd.arrays.ArrowExtensionArray(pa.ListArray.from_arrays(offsets, pa.array(votes.ravel())))


def verdict_columns(result) -> dict:
    """Per-example columns every PIE result has (single- or multi-label): votes, ties, verdict."""
    return {
        "dense_votes": vote_lists(result.dense_votes),
        "pruned_votes": vote_lists(result.pruned_votes),
        "dense_tied": result.dense_tied,
        "pruned_tied": result.pruned_tied,
        "considered": result.considered,
        "is_pie": result.is_pie,
    }
