"""The interface every model's tokenizer offers to the data module."""

from __future__ import annotations

from typing import Protocol, Sequence


class Tokenizer(Protocol):
    pad_id: int
    fingerprint: str  # identifies the token ids this tokenizer produces (for the disk cache)

    def encode(self, texts: Sequence[str], max_length: int, text_pairs: Sequence[str] | None = None) -> list[list[int]]:
        """Token ids per text (or per text pair, as one sequence), truncated to max_length."""
