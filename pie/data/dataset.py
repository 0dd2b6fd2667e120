"""From a raw source to the exact train/validation/test examples a run sees, with a fingerprint."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import datasets
import numpy as np

from pie.data.fingerprint import fingerprint_splits
from pie.data.sources import select_rows
from pie.data.splits import stratified_split, stratified_subsample

SPLITS = ("train", "validation", "test")


@dataclass(frozen=True)
class TextClassificationData:
    """The splits of one dataset (columns id, text, label) and what identifies them."""

    name: str
    splits: datasets.DatasetDict
    label_names: tuple[str, ...]
    fingerprint: str
    max_length: int
    split_seed: int

    @property
    def num_classes(self) -> int:
        return len(self.label_names)

    def describe(self) -> dict:
        """What the run manifest records about the data."""
        return {
            "name": self.name,
            "fingerprint": self.fingerprint,
            "split_seed": self.split_seed,
            "sizes": {split: len(self.splits[split]) for split in SPLITS},
            "label_names": list(self.label_names),
            "max_length": self.max_length,
        }


def _split_source(source, fractions: Mapping[str, float], split_seed: int) -> datasets.DatasetDict:
    if isinstance(source, datasets.DatasetDict):
        missing = [s for s in SPLITS if s not in source]
        if missing:
            raise ValueError(f"the dataset source lacks the split(s) {missing}; it has {list(source)}")
        return datasets.DatasetDict({s: source[s] for s in SPLITS})
    if set(fractions) != set(SPLITS):
        raise ValueError(f"dataset.splits must name exactly {list(SPLITS)}, got {list(fractions)}")
    parts = stratified_split(source["label"], {s: fractions[s] for s in SPLITS}, split_seed)
    return datasets.DatasetDict({s: select_rows(source, parts[s]) for s in SPLITS})


def _subsample(split: datasets.Dataset, n: int | None, seed: int) -> datasets.Dataset:
    keep = stratified_subsample(split["label"], n, seed)
    return split if len(keep) == len(split) else select_rows(split, keep)


def prepare(
    name: str,
    source,
    splits: Mapping[str, float],
    split_seed: int,
    max_length: int,
    max_train_examples: int | None = None,
    max_eval_examples: int | None = None,
) -> TextClassificationData:
    """Split (stratified, `split_seed`), subsample (stratified, deterministic) and fingerprint.

    :param source: a Dataset (split here by `splits` fractions) or a DatasetDict with
        predefined train/validation/test splits.
    :param max_train_examples: keep this many training examples (None = all).
    :param max_eval_examples: keep this many validation and test examples each (None = all).
    """
    for key, value in (("max_train_examples", max_train_examples), ("max_eval_examples", max_eval_examples)):
        if value is not None and int(value) < 1:
            raise ValueError(f"dataset.{key} must be a positive integer or null, got {value!r}")
    parts = _split_source(source, splits, split_seed)
    parts = datasets.DatasetDict(
        {
            "train": _subsample(parts["train"], max_train_examples, split_seed),
            "validation": _subsample(parts["validation"], max_eval_examples, split_seed),
            "test": _subsample(parts["test"], max_eval_examples, split_seed),
        }
    )
    ids = np.concatenate([np.asarray(parts[s]["id"]) for s in SPLITS])
    if len(np.unique(ids)) != len(ids):
        raise ValueError(f"dataset {name!r} has duplicate example ids across or within splits")
    label_names = tuple(parts["train"].features["label"].names)
    return TextClassificationData(
        name=name,
        splits=parts,
        label_names=label_names,
        fingerprint=fingerprint_splits(parts),
        max_length=int(max_length),
        split_seed=int(split_seed),
    )
