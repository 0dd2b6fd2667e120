"""The paper's BiLSTM classifier: frozen word vectors -> 2-layer bidirectional LSTM (hidden 100)
-> [forward state at the last token ; backward state at the first] -> MLP 256-128-C."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence


class BiLSTMClassifier(nn.Module):
    """`packed=True` runs the LSTM on the true tokens only; `packed=False` reproduces the
    reference, which also runs over the padding and reads the forward state at the last padded
    position (pair it with padding to max_length)."""

    def __init__(
        self,
        embeddings: np.ndarray | torch.Tensor,
        num_classes: int,
        hidden_size: int = 100,
        num_layers: int = 2,
        mlp_sizes: tuple[int, ...] = (256, 128),
        freeze_embeddings: bool = True,
        packed: bool = True,
        pad_id: int = 0,
    ):
        super().__init__()
        self.embedding = nn.Embedding.from_pretrained(
            torch.as_tensor(np.asarray(embeddings), dtype=torch.float32),
            freeze=freeze_embeddings,
            padding_idx=pad_id,
        )
        self.lstm = nn.LSTM(
            input_size=self.embedding.embedding_dim,
            hidden_size=hidden_size,
            num_layers=num_layers,
            bidirectional=True,
            batch_first=True,
        )
        layers: list[nn.Module] = []
        width = 2 * hidden_size
        for size in mlp_sizes:
            layers += [nn.Linear(width, size), nn.ReLU()]
            width = size
        self.mlp = nn.Sequential(*layers)
        self.classifier = nn.Linear(width, num_classes)
        self.hidden_size = hidden_size
        self.packed = packed

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        embedded = self.embedding(input_ids)
        if self.packed:
            lengths = attention_mask.sum(dim=1).clamp(min=1).cpu()
            packed = pack_padded_sequence(embedded, lengths, batch_first=True, enforce_sorted=False)
            _, (h_n, _) = self.lstm(packed)
            features = torch.cat([h_n[-2], h_n[-1]], dim=1)
        else:
            out, _ = self.lstm(embedded)
            h = self.hidden_size
            features = torch.cat([out[:, -1, :h], out[:, 0, h:]], dim=1)
        return self.classifier(self.mlp(features))


def build(num_classes: int, tokenizer, **kwargs) -> BiLSTMClassifier:
    """Hydra factory: a BiLSTM over the tokenizer's (GloVe) vectors."""
    return BiLSTMClassifier(tokenizer.vectors, num_classes, pad_id=tokenizer.pad_id, **kwargs)
