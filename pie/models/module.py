"""The LightningModule: any network with forward(input_ids, attention_mask) -> logits, trained
as a single-label classifier with cross-entropy, Adam and torchmetrics."""

from __future__ import annotations

from typing import Callable

import lightning as L
import numpy as np
import torch
import torchmetrics
from torch import nn


class Classifier(L.LightningModule):
    def __init__(self, network: nn.Module, optimizer: Callable, num_classes: int):
        super().__init__()
        self.network = network.train()  # from_pretrained returns eval mode; Lightning keeps modes as found
        self.optimizer_factory = optimizer
        self.loss = nn.CrossEntropyLoss()
        self.val_accuracy = torchmetrics.classification.MulticlassAccuracy(num_classes, average="micro")
        self.val_macro_f1 = torchmetrics.classification.MulticlassF1Score(num_classes, average="macro")

    def forward(self, batch: dict) -> torch.Tensor:
        return self.network(batch["input_ids"], batch["attention_mask"])

    def training_step(self, batch, batch_idx):
        loss = self.loss(self(batch), batch["labels"])
        self.log("train/loss", loss, on_step=False, on_epoch=True, batch_size=len(batch["labels"]))
        return loss

    def validation_step(self, batch, batch_idx):
        logits = self(batch)
        n = len(batch["labels"])
        self.val_accuracy(logits, batch["labels"])
        self.val_macro_f1(logits, batch["labels"])
        self.log("val/loss", self.loss(logits, batch["labels"]), batch_size=n)
        self.log("val/acc", self.val_accuracy, batch_size=n)
        self.log("val/macro_f1", self.val_macro_f1, batch_size=n)

    def configure_optimizers(self):
        return self.optimizer_factory([p for p in self.parameters() if p.requires_grad])

    @torch.no_grad()
    def predict_logits(self, dataloader) -> np.ndarray:
        """float32 logits [N, C] in dataset order (the loader must not shuffle), in eval mode."""
        was_training = self.training
        self.eval()
        chunks, positions = [], []
        for batch in dataloader:
            batch = {k: v.to(self.device) for k, v in batch.items()}
            chunks.append(self(batch).float().cpu())
            positions.append(batch["index"].cpu())
        self.train(was_training)
        order = torch.cat(positions)
        if not torch.equal(order, torch.arange(len(order))):
            raise RuntimeError("prediction loader returned examples out of dataset order")
        return torch.cat(chunks).numpy()


def classification_metrics(logits: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Accuracy and macro-F1 of argmax predictions (computed with torchmetrics)."""
    preds, target = torch.as_tensor(logits).argmax(1), torch.as_tensor(labels)
    task = {"task": "multiclass", "num_classes": logits.shape[1]}
    return {
        "accuracy": float(torchmetrics.functional.accuracy(preds, target, average="micro", **task)),
        "macro_f1": float(torchmetrics.functional.f1_score(preds, target, average="macro", **task)),
    }
