"""Per-example logits as Parquet (example_id, label, logits[C] float32), in dataset order."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pie.atomic import atomic_path
from pie.runs.manifest import PredictionRecord, Run


class BadPredictionFile(ValueError):
    """A prediction file that is missing, unreadable or disagrees with its manifest record.

    `path` and `reason` (what is wrong, without the path) let callers collect problems as tables.
    """

    def __init__(self, path: str | os.PathLike, reason: str):
        self.path, self.reason = Path(path), reason
        super().__init__(f"prediction file {path}: {reason}; rerun that run")


@dataclass(frozen=True)
class Predictions:
    ids: pa.Array  # string[N], kept in Arrow: comparing runs' ids stays in C++
    labels: np.ndarray  # int64[N] class indices, or int8[N, C] multi-hot rows
    logits: np.ndarray  # float32[N, C]
    encoded_ids_sha256: str | None = None  # sha256 of the bytes that encode the ids in the file (KnownIds)

    @property
    def example_ids(self) -> np.ndarray:
        """str[N] as a numpy object array."""
        return np.asarray(self.ids.to_pylist(), dtype=object)


@dataclass(frozen=True)
class KnownIds:
    """Example ids checked against their ids_sha256, with the sha256 of the bytes that encoded
    them in that file (its example_id column chunks). Another file of the same ids hash whose
    chunks have the same bytes decodes to the same ids, so they need not be decoded (the costliest
    column) to be checked."""

    ids: pa.Array
    encoded_sha256: str


def _encoded_ids_sha256(content: pa.Buffer | bytes, parquet: pq.ParquetFile) -> str:
    column = parquet.schema_arrow.get_field_index("example_id")
    digest = hashlib.sha256()
    for group in range(parquet.metadata.num_row_groups):
        chunk = parquet.metadata.row_group(group).column(column)
        start = chunk.dictionary_page_offset if chunk.has_dictionary_page else chunk.data_page_offset
        digest.update(memoryview(content)[start:start + chunk.total_compressed_size])
    return digest.hexdigest()


def _label_column(labels: np.ndarray, classes: int) -> pa.Array:
    """int64 class indices, or multi-hot int8 rows as a fixed-size list (multi-label)."""
    labels = np.asarray(labels)
    if labels.ndim == 2:
        return pa.FixedSizeListArray.from_arrays(pa.array(labels.astype(np.int8).reshape(-1)), classes)
    return pa.array(labels.astype(np.int64))


def ids_sha256(ids: pa.Array | pa.ChunkedArray) -> str:
    """sha256 of the example ids joined by newlines (UTF-8): identifies the examples and their
    order independently of the file's bytes. Joined in Arrow, so it costs ~1 ms per 50k ids."""
    ids = ids.combine_chunks() if isinstance(ids, pa.ChunkedArray) else ids
    one_list = pa.ListArray.from_arrays(pa.array([0, len(ids)], pa.int32()), ids.cast(pa.string()).fill_null(""))
    return hashlib.sha256(pc.binary_join(one_list, "\n")[0].as_buffer()).hexdigest()


def write_predictions(path: str | os.PathLike, example_ids, labels, logits: np.ndarray, split: str | None = None,
                      when: str | None = None) -> PredictionRecord:
    """Write atomically; return the manifest record (file name, rows, classes, sha256 of the
    file, ids_sha256 of the example ids, and the split and moment it holds). The file is encoded
    in memory and hashed there, so it is not read back; `example_ids` may be an Arrow array."""
    logits = np.ascontiguousarray(logits, dtype=np.float32)
    n, c = logits.shape
    ids = example_ids.cast(pa.string()) if isinstance(example_ids, pa.Array) else pa.array(list(example_ids), pa.string())
    table = pa.table(
        {
            "example_id": ids,
            "label": _label_column(labels, c),
            "logits": pa.FixedSizeListArray.from_arrays(pa.array(logits.reshape(-1)), c),
        }
    )
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    content = sink.getvalue()
    with atomic_path(path) as tmp:
        tmp.write_bytes(content)
    return PredictionRecord(file=Path(path).name, rows=n, classes=c, sha256=hashlib.sha256(content).hexdigest(),
                            ids_sha256=ids_sha256(ids), split=split, when=when)


def _checked_table(path: Path, record: PredictionRecord | None, columns: list[str] | None,
                   known: KnownIds | None = None) -> tuple[pa.Table, pa.Array | None, str]:
    """(the file's table, only `columns` when given; its example ids; the sha256 of their encoded
    bytes) after checking it against its record: exists, checksum, readable, shape (rows,
    classes), and example ids (when the record has ids_sha256; older manifests lack it), decoded
    unless `known` ids of the record's ids hash were encoded in the same bytes."""
    if not path.exists():
        raise BadPredictionFile(path, "missing")
    content = path.read_bytes()
    if record is not None and hashlib.sha256(content).hexdigest() != record.sha256:
        raise BadPredictionFile(path, "checksum differs from the manifest's (truncated or modified after the run finished)")
    try:
        parquet = pq.ParquetFile(pa.BufferReader(content))
        shape = (parquet.metadata.num_rows, parquet.schema_arrow.field("logits").type.list_size)
        encoded = _encoded_ids_sha256(content, parquet)
        reused = known is not None and known.encoded_sha256 == encoded
        table = parquet.read(columns=[c for c in columns or parquet.schema_arrow.names if not (reused and c == "example_id")])
    except (pa.ArrowException, OSError, KeyError, AttributeError) as error:
        raise BadPredictionFile(path, f"unreadable ({error})") from error
    ids = known.ids if reused else table.column("example_id").combine_chunks() if "example_id" in table.column_names else None
    if record is None:
        return table, ids, encoded
    if shape != (record.rows, record.classes):
        raise BadPredictionFile(path, f"shape {shape} (rows, classes) differs from the manifest's ({record.rows}, {record.classes})")
    if not reused and ids is not None and record.ids_sha256 is not None and ids_sha256(ids) != record.ids_sha256:
        raise BadPredictionFile(path, "example ids differ from those the run wrote (ids_sha256 in the manifest)")
    return table, ids, encoded


def check_predictions(path: str | os.PathLike, record: PredictionRecord) -> None:
    """Raise BadPredictionFile naming the first problem of the file against its record; decodes
    only the example ids, not the logits."""
    _checked_table(Path(path), record, ["example_id"])


def read_predictions(path: str | os.PathLike, record: PredictionRecord | None = None, known: KnownIds | None = None) -> Predictions:
    """Read a prediction file; with its manifest record, check it first (as check_predictions).
    `known`: ids of the record's ids hash checked in another file (KnownIds)."""
    table, ids, encoded = _checked_table(Path(path), record, None, known)
    logits_column = table.column("logits").combine_chunks()
    classes = logits_column.type.list_size
    logits = logits_column.flatten().to_numpy(zero_copy_only=False).reshape(-1, classes)
    label_column = table.column("label").combine_chunks()
    labels = (
        label_column.flatten().to_numpy(zero_copy_only=False).reshape(-1, classes)
        if pa.types.is_fixed_size_list(label_column.type) else label_column.to_numpy()
    )
    return Predictions(ids=ids, labels=labels, logits=logits.astype(np.float32, copy=False), encoded_ids_sha256=encoded)


def locate(run: Run, name: str) -> tuple[Path, PredictionRecord]:
    """The path and manifest record of a run's `name` predictions (e.g. "test_final")."""
    record = run.manifest.predictions.get(name)
    if record is None:
        raise BadPredictionFile(run.paths.prediction(name), f"no {name!r} record in the run's manifest")
    return run.paths.prediction_file(record.file), record
