"""The LightningModule: any network with forward(input_ids, attention_mask) -> logits, trained
as a single-label (cross-entropy) or multi-label (binary cross-entropy per class) classifier, as
the task (pie.pies.task) says, with torchmetrics for validation."""

from __future__ import annotations

from typing import Callable

import lightning as L
import numpy as np
import torch
from torch import nn

from pie.pies.task import SINGLE_LABEL, Task


class Classifier(L.LightningModule):
    """Loss and validation metrics come from the task (multi-label validation during training
    uses τ = 0.5; the run's own τ is tuned after training). `collect_train_logits` keeps the
    logits of the latest training epoch (train mode, as they were computed), for the reference
    way of tuning τ."""

    def __init__(self, network: nn.Module, optimizer: Callable, num_classes: int, task: Task = SINGLE_LABEL,
                 collect_train_logits: bool = False, objective: Callable | None = None):
        super().__init__()
        self.network = network.train()  # from_pretrained returns eval mode; Lightning keeps modes as found
        self.optimizer_factory = optimizer
        self.task = task
        self.collect_train_logits = collect_train_logits
        self.train_epoch_outputs: tuple[np.ndarray, np.ndarray] | None = None
        self._epoch_outputs: list[tuple[torch.Tensor, torch.Tensor]] = []
        self.loss = task.torch_loss()
        self.objective = objective  # a training loss other than the task's (pie.models.objectives), or None
        self.val_accuracy, self.val_macro_f1 = task.torch_metrics(num_classes)

    def forward(self, batch: dict) -> torch.Tensor:
        return self.network(batch["input_ids"], batch["attention_mask"])

    def on_train_epoch_start(self) -> None:
        self._epoch_outputs = []

    def training_step(self, batch, batch_idx):
        logits = self(batch)
        loss = self.objective(logits, batch) if self.objective is not None else self.loss(logits, batch["labels"])
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
        target = self.task.metric_target(batch["labels"])
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

