"""The Lightning callback for structured pruning: physically remove heads and FFN neurons at the
scheduled step(s), then rebuild the optimizer for the new parameter shapes."""

from __future__ import annotations

import logging

from torch import nn

from pie.models.bert import BertClassifier
from pie.pruning.callback import ScheduledPruning
from pie.pruning.schedules import PruningStep, Schedule
from pie.pruning.structured import prune_structured, structure_of

log = logging.getLogger(__name__)


class StructuredPruningCallback(ScheduledPruning):
    """Head and FFN ratio = the step's sparsity; importance "magnitude" or "random" (seeded).
    Nothing is masked: the removed units are gone from the weights."""

    def __init__(self, schedule: Schedule, importance: str = "magnitude", random_seed: int = 0, rewind_state=None):
        if len(schedule.steps) > 1 or any(s.after_step is not None for s in schedule.steps):
            raise ValueError("structured pruning supports one pruning step at an epoch boundary or before training")
        if rewind_state is not None:
            raise ValueError("structured pruning cannot rewind (the shapes change); set pruning.rewind_step=null")
        super().__init__(schedule, random_seed)
        self.importance = importance
        self.parameters_before = 0

    def setup(self, trainer, pl_module, stage: str) -> None:
        if not isinstance(pl_module.network, BertClassifier):
            prune_structured(pl_module.network)  # raises the explanation for unsupported models
        self.parameters_before = sum(p.numel() for p in pl_module.network.parameters())

    def _prune(self, step: PruningStep, trainer, pl_module) -> None:
        report = prune_structured(
            pl_module.network, head_ratio=step.sparsity, ffn_ratio=step.sparsity,
            importance=self.importance, generator=self.generator,
        )
        self.history.append(report)
        trainer.strategy.setup_optimizers(trainer)
        log.info("structured pruning: %d -> %d parameters", report["parameters_before"], report["parameters_after"])

    def on_save_checkpoint(self, trainer, pl_module, checkpoint: dict) -> None:
        """The pruned shape, so a resumed run can rebuild it before loading the weights."""
        if self.history:
            checkpoint["structure"] = structure_of(pl_module.network)

    def state_dict(self) -> dict:
        return {"history": self.history, "parameters_before": self.parameters_before, "generator": self.generator.get_state()}

    def load_state_dict(self, state_dict: dict) -> None:
        history = state_dict.get("history", [state_dict["report"]] if state_dict.get("report") else [])  # older checkpoints
        self.history, self.parameters_before = list(history), int(state_dict["parameters_before"])
        self.generator.set_state(state_dict["generator"])

    def report(self, network: nn.Module) -> dict:
        after = sum(p.numel() for p in network.parameters())
        return {
            "achieved_model": 1 - after / self.parameters_before,
            "model_parameters": after,
            "structure": structure_of(network) if self.history else None,
        }
