"""Training order as a pure function of (seed, epoch), so a resumed run sees the same batches."""

from __future__ import annotations

from typing import Iterator

import torch
from torch.utils.data import Sampler


class EpochShuffle(Sampler[int]):
    """A fresh permutation per epoch from a generator seeded with (seed, epoch), independent of
    the global RNG and of how many epochs this process has run; Lightning calls set_epoch."""

    def __init__(self, size: int, seed: int):
        self.size, self.seed, self.epoch = int(size), int(seed), 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.size

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        return iter(torch.randperm(self.size, generator=generator).tolist())
