"""The Lightning callback for structured pruning: physically remove heads and FFN neurons at the
scheduled step(s), then rebuild the optimizer for the new parameter shapes."""

from __future__ import annotations

import logging

import lightning as L
import torch
from torch import nn

from pie.models.bert import BertClassifier
from pie.pruning.schedules import BEFORE_TRAINING, PruningStep, Schedule
from pie.pruning.structured import prune_structured, structure_of

log = logging.getLogger(__name__)


class StructuredPruningCallback(L.Callback):
    """Head and FFN ratio = the step's sparsity; importance "magnitude" or "random" (seeded)."""

    def __init__(self, schedule: Schedule, importance: str = "magnitude", random_seed: int = 0):
        if len(schedule.steps) > 1 or any(s.after_step is not None for s in schedule.steps):
            raise ValueError("structured pruning supports one pruning step at an epoch boundary or before training")
        self.schedule, self.importance = schedule, importance
        self.masks: dict = {}  # nothing is masked: removed units are gone from the weights
        self.generator = torch.Generator().manual_seed(int(random_seed))
        self.report: dict = {}
        self.parameters_before = 0

    def setup(self, trainer, pl_module, stage: str) -> None:
        if not isinstance(pl_module.network, BertClassifier):
            prune_structured(pl_module.network)  # raises the explanation for unsupported models
        self.parameters_before = sum(p.numel() for p in pl_module.network.parameters())

    def on_train_start(self, trainer, pl_module) -> None:
        step = self.schedule.step_after(BEFORE_TRAINING)
        if step is not None and not self.report:
            self._prune(step, trainer, pl_module)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        step = self.schedule.step_after(trainer.current_epoch)
        if step is not None:
            self._prune(step, trainer, pl_module)

    def _prune(self, step: PruningStep, trainer, pl_module) -> None:
        self.report = prune_structured(
            pl_module.network, head_ratio=step.sparsity, ffn_ratio=step.sparsity,
            importance=self.importance, generator=self.generator,
        )
        trainer.strategy.setup_optimizers(trainer)
        log.info("structured pruning: %d -> %d parameters", self.report["parameters_before"], self.report["parameters_after"])

    def on_save_checkpoint(self, trainer, pl_module, checkpoint: dict) -> None:
        """The pruned shape, so a resumed run can rebuild it before loading the weights."""
        if self.report:
            checkpoint["structure"] = structure_of(pl_module.network)

    def state_dict(self) -> dict:
        return {"report": self.report, "parameters_before": self.parameters_before, "generator": self.generator.get_state()}

    def load_state_dict(self, state_dict: dict) -> None:
        self.report, self.parameters_before = dict(state_dict["report"]), int(state_dict["parameters_before"])
        self.generator.set_state(state_dict["generator"])

    def summary(self, network: nn.Module) -> dict:
        after = sum(p.numel() for p in network.parameters())
        return {
            "target": self.schedule.final_sparsity,
            "achieved_model": 1 - after / self.parameters_before,
            "model_parameters": after,
            "structure": structure_of(network) if self.report else None,
            "steps": [self.report] if self.report else [],
        }
