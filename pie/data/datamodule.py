"""Token ids (cached on disk) and the LightningDataModule that batches them."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Subset

from pie.atomic import atomic_path
from pie.data.dataset import SPLITS, TextClassificationData, column
from pie.hashing import fingerprint_object
from pie.data.sampler import EpochShuffle
from pie.data.tokenizer import Tokenizer

log = logging.getLogger(__name__)


def encode_cached(data: TextClassificationData, tokenizer: Tokenizer, cache_dir: str | os.PathLike) -> dict:
    """{split: list of int32 arrays} for every split, cached as .npz keyed by data + tokenizer."""
    key = fingerprint_object([data.fingerprint, tokenizer.fingerprint, data.max_length])
    path = Path(cache_dir) / "tokens" / f"{data.name}-{key}.npz"
    if path.exists():
        with np.load(path, allow_pickle=False) as stored:
            return {
                s: np.split(stored[f"{s}_ids"], stored[f"{s}_offsets"][1:-1]) for s in SPLITS
            }
    encoded = {s: [np.asarray(ids, dtype=np.int32) for ids in _encode(data, s, tokenizer)] for s in SPLITS}
    arrays = {}
    for s, rows in encoded.items():
        arrays[f"{s}_ids"] = np.concatenate(rows)
        arrays[f"{s}_offsets"] = np.cumsum([0] + [len(r) for r in rows])
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, **arrays)
    log.info("cached token ids at %s", path)
    return encoded


def _encode(data: TextClassificationData, split: str, tokenizer: Tokenizer) -> list[list[int]]:
    texts = column(data.splits[split], "text")
    if data.has_pairs:
        return tokenizer.encode(texts, data.max_length, text_pairs=column(data.splits[split], "text_pair"))
    return tokenizer.encode(texts, data.max_length)


class EncodedSplit(Dataset):
    """Token ids with gold labels: class indices, or multi-hot rows for multi-label data."""

    def __init__(self, token_ids: list[np.ndarray], labels: np.ndarray):
        self.token_ids, self.labels = token_ids, labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray, int]:
        return self.token_ids[index], self.labels[index], index


class Collate:
    """Pads a batch to its longest sequence (or to max_length) and builds the attention mask.
    Labels become int64 class indices, or float32 multi-hot rows (the BCE target)."""

    def __init__(self, pad_id: int, pad_to: int | None = None):
        self.pad_id, self.pad_to = pad_id, pad_to

    def __call__(self, items):
        width = self.pad_to or max(len(ids) for ids, _, _ in items)
        input_ids = torch.full((len(items), width), self.pad_id, dtype=torch.long)
        attention_mask = torch.zeros((len(items), width), dtype=torch.long)
        for row, (ids, _, _) in enumerate(items):
            input_ids[row, : len(ids)] = torch.from_numpy(ids.astype(np.int64))
            attention_mask[row, : len(ids)] = 1
        return {
            "input_ids": input_ids,
            "attention_mask": attention_mask,
            "labels": _stack_labels([label for _, label, _ in items]),
            "index": torch.tensor([index for _, _, index in items], dtype=torch.long),
        }


def _stack_labels(labels: list) -> torch.Tensor:
    stacked = np.stack(labels)
    return torch.from_numpy(stacked.astype(np.float32) if stacked.ndim == 2 else stacked.astype(np.int64))


class TextDataModule(L.LightningDataModule):
    """Training batches shuffled per epoch from `seed` (resumable; see EpochShuffle);
    validation/test/prediction passes in dataset order."""

    def __init__(
        self,
        data: TextClassificationData,
        tokenizer: Tokenizer,
        batch_size: int,
        eval_batch_size: int,
        cache_dir: str,
        pad_to_max_length: bool = False,
        num_workers: int = 0,
        seed: int = 0,
    ):
        super().__init__()
        self.data, self.tokenizer, self.seed = data, tokenizer, int(seed)
        self.batch_size, self.eval_batch_size = batch_size, eval_batch_size
        self.num_workers = num_workers
        self.collate = Collate(tokenizer.pad_id, data.max_length if pad_to_max_length else None)
        encoded = encode_cached(data, tokenizer, cache_dir)
        self.datasets = {s: EncodedSplit(encoded[s], data.label_array(s)) for s in SPLITS}

    def labels(self, split: str) -> np.ndarray:
        """int64[N] class indices, or int8[N, C] multi-hot rows."""
        return self.datasets[split].labels

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        dataset = self.datasets[split]
        return DataLoader(
            dataset,
            batch_size=self.batch_size if shuffle else self.eval_batch_size,
            sampler=EpochShuffle(len(dataset), self.seed) if shuffle else None,
            collate_fn=self.collate,
            num_workers=self.num_workers,
            generator=torch.Generator().manual_seed(self.seed),  # worker seeds, not the global RNG
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("validation", shuffle=False)

    def sample_loader(self, n: int, seed: int, batch_size: int | None = None) -> DataLoader:
        """A fixed random sample of n training examples (seeded, independent of training RNG)."""
        generator = torch.Generator().manual_seed(int(seed))
        order = torch.randperm(len(self.datasets["train"]), generator=generator)[: int(n)].tolist()
        return DataLoader(
            Subset(self.datasets["train"], order),
            batch_size=batch_size or self.eval_batch_size,
            collate_fn=self.collate,
        )

    def ordered_dataloader(self, split: str) -> DataLoader:
        """All examples of a split in dataset order, for logging predictions."""
        return self._loader(split, shuffle=False)
