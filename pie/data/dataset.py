"""From a raw source to the exact train/validation/test examples a run sees, with a fingerprint."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import datasets
import numpy as np

from pie.data.fingerprint import fingerprint_splits
from pie.data.sources import select_rows
from pie.data.splits import stratified_split, stratified_subsample
from pie.pies.task import Task, task_for

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

    @property
    def multi_label(self) -> bool:
        return is_multi_label(self.splits["train"])

    @property
    def task(self) -> Task:
        """Single- or multi-label: decided here for training, from the labels for the analyses."""
        return task_for(self.multi_label)

    @property
    def has_pairs(self) -> bool:
        return "text_pair" in self.splits["train"].column_names

    def label_array(self, split: str) -> np.ndarray:
        """Gold labels of a split: int64[N] class indices, or int8[N, C] multi-hot rows."""
        return label_array(self.splits[split], self.num_classes)

    def display_texts(self, split: str) -> list[str]:
        """One text per example for reading and text measures: a pair is joined by " [SEP] "."""
        texts = column(self.splits[split], "text")
        if not self.has_pairs:
            return texts
        return [f"{a} [SEP] {b}" for a, b in zip(texts, column(self.splits[split], "text_pair"))]

    def describe(self) -> dict:
        """What the run manifest records about the data."""
        return {
            "name": self.name,
            "fingerprint": self.fingerprint,
            "split_seed": self.split_seed,
            "sizes": {split: len(self.splits[split]) for split in SPLITS},
            "label_names": list(self.label_names),
            "multi_label": self.multi_label,
            "pairs": self.has_pairs,
            "max_length": self.max_length,
        }


def column(split: datasets.Dataset, name: str) -> list:
    """A column's values as a list, read in one piece: datasets >= 4 returns a lazy column for
    split[name], and iterating it costs tens of microseconds per row."""
    return split[name][:]


def is_multi_label(split: datasets.Dataset) -> bool:
    """True when the label column holds lists of classes (a Sequence/List of ClassLabel)."""
    return hasattr(split.features["label"], "feature")


def label_names_of(split: datasets.Dataset) -> tuple[str, ...]:
    feature = split.features["label"]
    return tuple(getattr(feature, "feature", feature).names)


def label_array(split: datasets.Dataset, num_classes: int) -> np.ndarray:
    """int64[N] class indices, or int8[N, C] multi-hot rows for a multi-label split."""
    if not is_multi_label(split):
        return np.asarray(column(split, "label"), dtype=np.int64)
    hot = np.zeros((len(split), num_classes), dtype=np.int8)
    for row, classes in enumerate(column(split, "label")):
        hot[row, list(classes)] = 1
    return hot


def strata(split: datasets.Dataset) -> np.ndarray:
    """What splits and subsamples keep in proportion: the class, or for multi-label data the
    label combination (a combination seen once goes to the part its rounding gives, usually train)."""
    if not is_multi_label(split):
        return np.asarray(column(split, "label"))
    combinations = [",".join(map(str, sorted(row))) for row in column(split, "label")]
    return np.unique(combinations, return_inverse=True)[1]


def _split_source(source, fractions: Mapping[str, float], split_seed: int) -> datasets.DatasetDict:
    """Predefined splits as they are; a source without validation gives `fractions["validation"]`
    of its train split to validation; a source without splits is split by `fractions`."""
    if isinstance(source, datasets.DatasetDict):
        if "validation" not in source and "train" in source and "validation" in fractions:
            share = float(fractions["validation"])
            parts = stratified_split(strata(source["train"]), {"train": 1.0 - share, "validation": share}, split_seed)
            source = datasets.DatasetDict({**source, **{s: select_rows(source["train"], parts[s]) for s in parts}})
        missing = [s for s in SPLITS if s not in source]
        if missing:
            raise ValueError(
                f"the dataset source lacks the split(s) {missing}; it has {list(source)} "
                "(set dataset.splits.validation to a fraction of train to carve validation out of it)"
            )
        return datasets.DatasetDict({s: source[s] for s in SPLITS})
    if set(fractions) != set(SPLITS):
        raise ValueError(f"dataset.splits must name exactly {list(SPLITS)}, got {list(fractions)}")
    parts = stratified_split(strata(source), {s: fractions[s] for s in SPLITS}, split_seed)
    return datasets.DatasetDict({s: select_rows(source, parts[s]) for s in SPLITS})


def _subsample(split: datasets.Dataset, n: int | None, seed: int) -> datasets.Dataset:
    keep = stratified_subsample(strata(split), n, seed)
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
        predefined train/test splits (and validation, else `splits.validation` of train).
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
    empty = [s for s in SPLITS if len(parts[s]) == 0]
    if empty:
        raise ValueError(f"dataset {name!r}: the split(s) {empty} are empty; use more data or larger dataset.splits fractions")
    ids = np.concatenate([np.asarray(column(parts[s], "id")) for s in SPLITS])
    if len(np.unique(ids)) != len(ids):
        raise ValueError(f"dataset {name!r} has duplicate example ids across or within splits")
    label_names = label_names_of(parts["train"])
    return TextClassificationData(
        name=name,
        splits=parts,
        label_names=label_names,
        fingerprint=fingerprint_splits(parts),
        max_length=int(max_length),
        split_seed=int(split_seed),
    )
