"""One log line per epoch, so long sweeps show progress without per-batch bars."""

from __future__ import annotations

import logging
import time

import lightning as L

log = logging.getLogger("pie.progress")


class EpochProgress(L.Callback):
    def __init__(self, label: str):
        self.label = label
        self.started = time.perf_counter()

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
        names = {"train/loss": "train_loss", "val/acc": "val_acc", "sparsity/prunable": "sparsity"}
        parts = [f"{short}={metrics[key]:.4f}" for key, short in names.items() if key in metrics]
        log.info(
            "%s epoch %d/%d %s (%.1fs)",
            self.label, trainer.current_epoch + 1, trainer.max_epochs, " ".join(parts),
            time.perf_counter() - self.started,
        )
