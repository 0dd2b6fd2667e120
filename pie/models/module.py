"""The LightningModule: any network with forward(input_ids, attention_mask) -> logits, trained
with Adam as a single-label (cross-entropy) or multi-label (binary cross-entropy per class)
classifier, with torchmetrics."""

from __future__ import annotations

from typing import Callable

import lightning as L
import numpy as np
import torch
import torchmetrics
from torch import nn

from pie.models.thresholds import binarize


class Classifier(L.LightningModule):
    """With `multi_label`, validation metrics during training use τ = 0.5; the run's own τ is
    tuned after training. `collect_train_logits` keeps the logits of the latest training epoch
    (train mode, as they were computed), for the reference way of tuning τ."""

    def __init__(self, network: nn.Module, optimizer: Callable, num_classes: int, multi_label: bool = False,
                 collect_train_logits: bool = False):
        super().__init__()
        self.network = network.train()  # from_pretrained returns eval mode; Lightning keeps modes as found
        self.optimizer_factory = optimizer
        self.multi_label = multi_label
        self.collect_train_logits = collect_train_logits
        self.train_epoch_outputs: tuple[np.ndarray, np.ndarray] | None = None
        self._epoch_outputs: list[tuple[torch.Tensor, torch.Tensor]] = []
        if multi_label:
            self.loss = nn.BCEWithLogitsLoss()
            self.val_accuracy = torchmetrics.classification.MultilabelExactMatch(num_classes)
            self.val_macro_f1 = torchmetrics.classification.MultilabelF1Score(num_classes, average="macro")
        else:
            self.loss = nn.CrossEntropyLoss()
            self.val_accuracy = torchmetrics.classification.MulticlassAccuracy(num_classes, average="micro")
            self.val_macro_f1 = torchmetrics.classification.MulticlassF1Score(num_classes, average="macro")

    def forward(self, batch: dict) -> torch.Tensor:
        return self.network(batch["input_ids"], batch["attention_mask"])

    def on_train_epoch_start(self) -> None:
        self._epoch_outputs = []

    def training_step(self, batch, batch_idx):
        logits = self(batch)
        loss = self.loss(logits, batch["labels"])
        if self.collect_train_logits:
            self._epoch_outputs.append((logits.detach().float().cpu(), batch["labels"].cpu()))
        self.log("train/loss", loss, on_step=False, on_epoch=True, batch_size=len(batch["labels"]))
        return loss

    def on_train_epoch_end(self) -> None:
        if self.collect_train_logits and self._epoch_outputs:
            logits, labels = zip(*self._epoch_outputs)
            self.train_epoch_outputs = (torch.cat(logits).numpy(), torch.cat(labels).numpy())
            self._epoch_outputs = []

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        if self.train_epoch_outputs is not None:
            checkpoint["train_epoch_outputs"] = [torch.from_numpy(a) for a in self.train_epoch_outputs]

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        if "train_epoch_outputs" in checkpoint:
            self.train_epoch_outputs = tuple(t.numpy() for t in checkpoint["train_epoch_outputs"])

    def validation_step(self, batch, batch_idx):
        logits = self(batch)
        n = len(batch["labels"])
        target = batch["labels"].long() if self.multi_label else batch["labels"]
        self.val_accuracy(logits, target)
        self.val_macro_f1(logits, target)
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


def multilabel_metrics(logits: np.ndarray, targets: np.ndarray, threshold: float) -> dict[str, float]:
    """Subset accuracy and macro/micro precision, recall and F1 of the decisions sigmoid >= τ
    (torchmetrics; `accuracy` is the subset accuracy, so it reads like the single-label one)."""
    preds = torch.as_tensor(binarize(logits, threshold)).long()
    target = torch.as_tensor(np.asarray(targets)).long()
    task = {"task": "multilabel", "num_labels": logits.shape[1]}
    functional = torchmetrics.functional
    metrics = {"accuracy": float(functional.exact_match(preds, target, **task))}
    for average in ("macro", "micro"):
        metrics[f"{average}_precision"] = float(functional.precision(preds, target, average=average, **task))
        metrics[f"{average}_recall"] = float(functional.recall(preds, target, average=average, **task))
        metrics[f"{average}_f1"] = float(functional.f1_score(preds, target, average=average, **task))
    return metrics
