"""The callback that logs per-example logits: train split after the first epoch(s) (for EL2N),
train/validation/test splits at the end of training; and the test metrics a pruning callback
records right before and after each prune."""

from __future__ import annotations

import dataclasses
import logging

import lightning as L
import torch

from pie.data.dataset import column
from pie.runs.manifest import PredictionRecord
from pie.runs.paths import RunPaths
from pie.runs.predictions import write_predictions

log = logging.getLogger(__name__)
# Multi-label decisions in the middle of training use τ = 0.5, as the validation metrics do (a
# run's own τ is tuned when training ends).
TRAINING_THRESHOLD = 0.5


class PredictionWriter(L.Callback):
    """Writes `predictions/<split>_<when>.parquet` and keeps their manifest records.

    Prediction passes run in eval mode inside a forked RNG, so logging never changes training.
    """

    def __init__(self, paths: RunPaths, datamodule, train_after_epochs=(1,), final_splits=("train", "validation", "test")):
        self.paths = paths
        self.datamodule = datamodule
        self.train_after_epochs = tuple(int(e) for e in train_after_epochs)
        self.final_splits = tuple(final_splits)
        self.records: dict[str, PredictionRecord] = {}
        self.final_logits: dict[str, object] = {}

    def _logits(self, pl_module, split: str):
        with torch.random.fork_rng(devices=[]):
            return pl_module.predict_logits(self.datamodule.ordered_dataloader(split))

    def _write(self, pl_module, split: str, when: str):
        logits = self._logits(pl_module, split)
        ids = column(self.datamodule.data.splits[split], "id")
        name = f"{split}_{when}"
        self.records[name] = write_predictions(self.paths.prediction(name), ids, self.datamodule.labels(split), logits, split, when)
        return logits

    def measure(self, pl_module, split: str = "test") -> dict[str, float]:
        """The task's run metrics (accuracy, macro-F1, ...) of the model as it is now on `split`."""
        return pl_module.task.run_metrics(self._logits(pl_module, split), self.datamodule.labels(split), TRAINING_THRESHOLD)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        finished = trainer.current_epoch + 1
        if finished in self.train_after_epochs:
            self._write(pl_module, "train", f"epoch{finished}")

    def state_dict(self) -> dict:
        return {"records": {name: dataclasses.asdict(record) for name, record in self.records.items()}}

    def load_state_dict(self, state_dict: dict) -> None:
        """A resumed run keeps the records of the files it wrote before its checkpoint."""
        self.records = {name: PredictionRecord(**record) for name, record in state_dict["records"].items()}

    def on_fit_end(self, trainer, pl_module) -> None:
        for split in self.final_splits:
            self.final_logits[split] = self._write(pl_module, split, "final")
