"""Per-example logits as Parquet (example_id, label, logits[C] float32), in dataset order."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from pie.runs.atomic import atomic_path, sha256_file


class BadPredictionFile(ValueError):
    """A prediction file that is missing, unreadable or disagrees with its manifest."""


PREDICTIONS_DIR = "predictions"


@dataclass(frozen=True)
class Predictions:
    ids: pa.Array  # string[N], kept in Arrow: comparing runs' ids stays in C++
    labels: np.ndarray  # int64[N] class indices, or int8[N, C] multi-hot rows
    logits: np.ndarray  # float32[N, C]

    @property
    def example_ids(self) -> np.ndarray:
        """str[N] as a numpy object array."""
        return np.asarray(self.ids.to_pylist(), dtype=object)


def _label_column(labels: np.ndarray, classes: int) -> pa.Array:
    """int64 class indices, or multi-hot int8 rows as a fixed-size list (multi-label)."""
    labels = np.asarray(labels)
    if labels.ndim == 2:
        return pa.FixedSizeListArray.from_arrays(pa.array(labels.astype(np.int8).reshape(-1)), classes)
    return pa.array(labels.astype(np.int64))


def write_predictions(path: str | os.PathLike, example_ids, labels, logits: np.ndarray) -> dict:
    """Write atomically; return the manifest record (file name, rows, classes, sha256)."""
    logits = np.ascontiguousarray(logits, dtype=np.float32)
    n, c = logits.shape
    table = pa.table(
        {
            "example_id": pa.array(list(example_ids), pa.string()),
            "label": _label_column(labels, c),
            "logits": pa.FixedSizeListArray.from_arrays(pa.array(logits.reshape(-1)), c),
        }
    )
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)
    return {"file": Path(path).name, "rows": n, "classes": c, "sha256": sha256_file(path)}


def read_predictions(path: str | os.PathLike, record: dict | None = None) -> Predictions:
    """Read a prediction file; with its manifest record, check checksum and shape first."""
    path = Path(path)
    if not path.exists():
        raise BadPredictionFile(f"prediction file {path} is missing")
    content = path.read_bytes()
    if record is not None and hashlib.sha256(content).hexdigest() != record["sha256"]:
        raise BadPredictionFile(
            f"prediction file {path} does not match the checksum in its manifest "
            "(truncated or modified after the run finished); rerun that run"
        )
    try:
        table = pq.read_table(pa.BufferReader(content))
        logits_column = table.column("logits").combine_chunks()
        classes = logits_column.type.list_size
        logits = logits_column.flatten().to_numpy(zero_copy_only=False).reshape(-1, classes)
    except (pa.ArrowException, OSError, KeyError) as error:
        raise BadPredictionFile(f"prediction file {path} is unreadable ({error}); rerun that run") from error
    if record is not None and logits.shape != (record["rows"], record["classes"]):
        raise BadPredictionFile(
            f"prediction file {path} has shape {logits.shape}, its manifest says "
            f"({record['rows']}, {record['classes']})"
        )
    label_column = table.column("label").combine_chunks()
    labels = (
        label_column.flatten().to_numpy(zero_copy_only=False).reshape(-1, classes)
        if pa.types.is_fixed_size_list(label_column.type) else label_column.to_numpy()
    )
    return Predictions(
        ids=table.column("example_id").combine_chunks(),
        labels=labels,
        logits=logits.astype(np.float32, copy=False),
    )
