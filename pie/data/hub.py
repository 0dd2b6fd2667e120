"""Hugging Face Hub datasets (SNLI, IMDB, ...) in the project's schema, from the local HF cache
or a local copy of the hub repository, never downloaded at run time.

Ids are `<source split>-<row>` with row = position in the unfiltered source split, so they stay
stable and point at the hub rows even after rows without a gold label are dropped.
"""

from __future__ import annotations

import functools
from pathlib import Path

import datasets

from pie.data.sources import from_records

OUR_SPLITS = ("train", "validation", "test")


def hub_dataset(
    path: str,
    name: str | None = None,
    text_column: str = "text",
    pair_column: str | None = None,
    label_column: str = "label",
    local_dir: str | None = None,
    drop_labels=(-1,),
    splits: dict | None = None,
) -> datasets.DatasetDict:
    """`datasets.load_dataset(local_dir or path, name)` as a DatasetDict with columns id, text,
    (text_pair,) label.

    :param local_dir: the hub repository's data files (parquet/csv/json, hub layout such as
        `plain_text/train-00000-of-00001.parquet`) or a `save_to_disk` directory; replaces `path`.
    :param drop_labels: label values whose rows are removed (SNLI's -1 = no gold label).
    :param splits: our split name -> the source's (default train, validation if present, test;
        other source splits such as IMDB's `unsupervised` are ignored).
    """
    split_items = tuple((str(k), str(v)) for k, v in dict(splits).items()) if splits else None
    return _hub_dataset(path, name, text_column, pair_column, label_column, local_dir,
                        tuple(drop_labels or ()), split_items)


@functools.lru_cache(maxsize=2)
def _hub_dataset(path, name, text_column, pair_column, label_column, local_dir, drop_labels, split_items):
    what = f"dataset {path!r}" + (f" (config {name!r})" if name else "") + (f" from {local_dir}" if local_dir else "")
    source = _load(path, name, local_dir, what)
    if split_items is None:
        split_items = tuple((s, s) for s in OUR_SPLITS if s != "validation" or s in source)
    mapping = dict(split_items)
    unknown = [s for s in mapping if s not in OUR_SPLITS]
    missing = [s for s in mapping.values() if s not in source]
    if unknown or missing:
        raise ValueError(
            f"{what}: dataset.source.splits maps our splits {list(OUR_SPLITS)} to the source's; "
            + (f"{unknown} are not ours; " if unknown else "")
            + (f"the source lacks {missing}; " if missing else "")
            + f"it has {list(source)}"
        )
    columns = [c for c in (text_column, pair_column, label_column) if c]
    for split in mapping.values():
        absent = [c for c in columns if c not in source[split].column_names]
        if absent:
            raise ValueError(
                f"{what} split {split!r} lacks the column(s) {absent}; it has {source[split].column_names} "
                f"(set dataset.source.text_column / pair_column / label_column)"
            )
    rows = {split: source[split].select_columns(columns).to_dict() for split in set(mapping.values())}
    feature = source[mapping.get("train", next(iter(mapping.values())))].features[label_column]
    label_names, index = _label_names(feature, rows, label_column, set(drop_labels))
    result = {}
    for ours, split in mapping.items():
        table = rows[split]
        keep = [row for row, value in enumerate(table[label_column]) if value not in drop_labels]
        result[ours] = from_records(
            [f"{split}-{row:06d}" for row in keep],
            [table[text_column][row] for row in keep],
            [index(table[label_column][row]) for row in keep],
            label_names,
            text_pairs=[table[pair_column][row] for row in keep] if pair_column else None,
        )
    return datasets.DatasetDict(result)


def _label_names(feature, rows: dict, label_column: str, drop: set):
    """Names from the source's ClassLabel; else integer labels named by their value, or string
    labels sorted to indices."""
    if isinstance(feature, datasets.ClassLabel):
        return feature.names, int
    values = {v for table in rows.values() for v in table[label_column] if v not in drop}
    if all(isinstance(v, int) for v in values):
        if any(v < 0 for v in values):
            raise ValueError(f"label column {label_column!r} has negative labels {sorted(v for v in values if v < 0)}; "
                             f"add them to dataset.source.drop_labels")
        return [str(i) for i in range(max(values, default=-1) + 1)], int
    names = sorted(str(v) for v in values)
    positions = {name: i for i, name in enumerate(names)}
    return names, lambda v: positions[str(v)]


def _load(path: str, name: str | None, local_dir: str | None, what: str) -> datasets.DatasetDict:
    if local_dir:
        root = Path(local_dir).expanduser()
        if not root.is_dir():
            raise FileNotFoundError(f"dataset.source.local_dir={local_dir} is not a directory")
        if (root / "dataset_dict.json").exists():
            return datasets.load_from_disk(str(root))
        if name and (root / name).is_dir() and not (root / "README.md").exists():
            # Data files in the hub layout without the hub's README (which names the configs).
            return datasets.load_dataset(str(root), data_dir=name)
        return datasets.load_dataset(str(root), name)
    try:
        return datasets.load_dataset(path, name)
    except (ConnectionError, FileNotFoundError) as error:  # offline and not cached, or not on the hub
        call = f"datasets.load_dataset({path!r}" + (f", {name!r}" if name else "") + ")"
        raise FileNotFoundError(
            f"the Hugging Face {what} is neither in the local cache nor reachable ({error}). "
            f"Where a network exists, cache it once with `python -c \"import datasets; {call}\"` "
            f"(HF_HUB_OFFLINE/HF_DATASETS_OFFLINE unset, same HF_HOME), or download its files and "
            f"pass dataset.source.local_dir=/path"
        ) from error
