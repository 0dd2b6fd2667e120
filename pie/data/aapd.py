"""AAPD, the Arxiv Academic Paper Dataset (Yang et al. 2018, SGM): abstracts with their subject
labels, multi-label (54 labels; 53,840 train / 1,000 validation / 1,000 test)."""

from __future__ import annotations

import functools
from pathlib import Path

import datasets

from pie.data.sources import from_records

SPLITS = {"train": "train", "val": "validation", "test": "test"}
FILES = [f"{kind}_{split}" for split in SPLITS for kind in ("text", "label")]


def _lines(file: Path) -> list[str]:
    """The file's lines; only \\n ends a line (abstracts may hold other line separators)."""
    with open(file, encoding="utf-8", newline="") as handle:
        lines = [line.rstrip("\r") for line in handle.read().split("\n")]
    return lines[:-1] if lines and lines[-1] == "" else lines


@functools.lru_cache(maxsize=2)
def aapd(path: str) -> datasets.DatasetDict:
    """AAPD from its documented layout: text_<split> and label_<split> (split train, val, test),
    one example per line, labels space-separated names (an empty line = no labels). Labels are
    the sorted union over all splits; ids are `<split>-<line>`."""
    root = Path(path).expanduser()
    missing = [name for name in FILES if not (root / name).is_file()]
    if missing:
        raise FileNotFoundError(f"AAPD directory {path} lacks {missing}; expected the files {FILES} "
                                f"(set dataset.source.path)")
    raw = {}
    for split in SPLITS:
        texts, labels = _lines(root / f"text_{split}"), _lines(root / f"label_{split}")
        if len(texts) != len(labels):
            raise ValueError(f"AAPD {root / f'text_{split}'} has {len(texts)} lines but "
                             f"{root / f'label_{split}'} has {len(labels)}; they must pair line by line")
        raw[split] = texts, [line.split() for line in labels]
    label_names = sorted({name for _, labels in raw.values() for row in labels for name in row})
    index = {name: i for i, name in enumerate(label_names)}
    result = {}
    for split, (texts, labels) in raw.items():
        ids = [f"{split}-{line:05d}" for line in range(len(texts))]
        indices = [[index[name] for name in row] for row in labels]
        result[SPLITS[split]] = from_records(ids, texts, indices, label_names, multi_label=True)
    return datasets.DatasetDict(result)
