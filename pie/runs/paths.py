"""Every file of a run directory, each named once (open_lth's foundations/paths.py): no other
module builds a path inside a run directory.

    <run>/manifest.json                       what the run is and produced (complete written last)
    <run>/.lock                               held while a process writes the run
    <run>/predictions/<split>_<when>.parquet  per-example logits
    <run>/checkpoints/final.safetensors       final weights and masks
    <run>/checkpoints/last.ckpt               the epoch checkpoint a rerun resumes from (while training)
    <run>/logs/                               the loggers' files (metrics.csv; wandb/)
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

MANIFEST = "manifest.json"
PREDICTIONS = "predictions"
CHECKPOINTS = "checkpoints"
LOGS = "logs"
RUN_FOLDERS = (PREDICTIONS, CHECKPOINTS, LOGS)  # a run directory's own folders, which hold no other run


@dataclass(frozen=True)
class RunPaths:
    root: Path

    @classmethod
    def of(cls, directory: str | os.PathLike) -> "RunPaths":
        return cls(Path(directory))

    @property
    def manifest(self) -> Path:
        return self.root / MANIFEST

    @property
    def lock(self) -> Path:
        return self.root / ".lock"

    @functools.cached_property
    def predictions(self) -> Path:
        return self.root / PREDICTIONS

    def prediction_file(self, file: str) -> Path:
        """A prediction file by the file name its manifest record gives."""
        return self.predictions / file

    def prediction(self, name: str) -> Path:
        """Where predictions `name` (e.g. "test_final") are written."""
        return self.predictions / f"{name}.parquet"

    @property
    def checkpoints(self) -> Path:
        return self.root / CHECKPOINTS

    @property
    def final_weights(self) -> Path:
        return self.checkpoints / "final.safetensors"

    def weights_file(self, file: str) -> Path:
        return self.checkpoints / file

    @property
    def last_checkpoint(self) -> Path:
        return self.checkpoints / "last.ckpt"

    @property
    def logs(self) -> Path:
        return self.root / LOGS

    @property
    def metrics_log(self) -> Path:
        """The CSV logger's per-epoch metrics (conf/logger/csv.yaml writes into `logs`)."""
        return self.logs / "metrics.csv"

    @property
    def outputs(self) -> tuple[Path, ...]:
        """What a fresh attempt clears before it starts (a failed earlier attempt's files)."""
        return self.predictions, self.checkpoints, self.logs
