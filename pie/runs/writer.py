"""The callback that logs per-example logits: train split after the first epoch(s) (for EL2N),
train/validation/test splits at the end of training."""

from __future__ import annotations

import logging
from pathlib import Path

import lightning as L
import torch

from pie.runs.predictions import PREDICTIONS_DIR, write_predictions

log = logging.getLogger(__name__)


class PredictionWriter(L.Callback):
    """Writes `predictions/<split>_<when>.parquet` and keeps their manifest records.

    Prediction passes run in eval mode inside a forked RNG, so logging never changes training.
    """

    def __init__(self, run_dir: str | Path, datamodule, train_after_epochs=(1,), final_splits=("train", "validation", "test")):
        self.directory = Path(run_dir) / PREDICTIONS_DIR
        self.datamodule = datamodule
        self.train_after_epochs = tuple(int(e) for e in train_after_epochs)
        self.final_splits = tuple(final_splits)
        self.records: dict[str, dict] = {}
        self.final_logits: dict[str, object] = {}

    def _write(self, pl_module, split: str, when: str):
        with torch.random.fork_rng(devices=[]):
            logits = pl_module.predict_logits(self.datamodule.ordered_dataloader(split))
        ids = self.datamodule.data.splits[split]["id"]
        name = f"{split}_{when}"
        self.records[name] = write_predictions(self.directory / f"{name}.parquet", ids, self.datamodule.labels(split), logits)
        self.records[name].update(split=split, when=when)
        return logits

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        finished = trainer.current_epoch + 1
        if finished in self.train_after_epochs:
            self._write(pl_module, "train", f"epoch{finished}")

    def state_dict(self) -> dict:
        return {"records": self.records}

    def load_state_dict(self, state_dict: dict) -> None:
        """A resumed run keeps the records of the files it wrote before its checkpoint."""
        self.records = dict(state_dict["records"])

    def on_fit_end(self, trainer, pl_module) -> None:
        for split in self.final_splits:
            self.final_logits[split] = self._write(pl_module, split, "final")
