"""The Lightning callback for structured pruning: physically remove units (pie.pruning.structured)
at the scheduled steps, then fine-tune or rewind, with an optimizer rebuilt for the new shapes."""

from __future__ import annotations

import logging

from torch import nn

from pie.pruning.callback import ScheduledPruning, Selection, clone_state
from pie.pruning.schedules import PruningStep, Schedule
from pie.pruning.structured import (
    check_structured, counts, counts_for_ratio, counts_for_sparsity, importance, prune_units, structural_units, structure_of,
)

log = logging.getLogger(__name__)


def _size(parameters) -> int:
    return sum(p.numel() for p in parameters)


class StructuredPruningCallback(ScheduledPruning):
    """Remove units at each step of an epoch-boundary schedule (one-shot, iterative or at
    initialisation); nothing is masked, the removed units are gone from the weights.

    :param sparsity_of: "prunable": a step's sparsity is the fraction of the prunable parameters
        (`selection`, counted at the start) removed, one fraction of units per layer solved for
        it; "units": the fraction of units removed from every layer.
    :param importance: "magnitude" or "random" (the run's seeded generator).
    :param rewind_step: None fine-tunes after each prune with a fresh optimizer (Adam's moments
        have the old shapes); 0 or k rewinds the kept units to their weights at initialisation or
        at step k. `rewind_state` always has the network's current shapes: a prune loads it and
        removes the same units from it before the snapshot is taken again.
    """

    def __init__(self, schedule: Schedule, selection: Selection, importance: str = "magnitude", sparsity_of: str = "prunable",
                 rewind_step: int | None = None, rewind_state=None, random_seed: int = 0, measure=None):
        if any(s.after_step is not None for s in schedule.steps):
            raise ValueError("structured pruning prunes at epoch boundaries or before training, not after optimizer steps")
        check_structured(importance, sparsity_of)
        super().__init__(schedule, random_seed, rewind_step, rewind_state, measure)
        self.selection, self.importance, self.sparsity_of = selection, importance, sparsity_of
        self.original: dict[str, int] = {}
        self.prunable_before = self.parameters_before = 0

    def setup(self, trainer, pl_module, stage: str) -> None:
        """The unpruned sizes; a resumed run's come from its checkpoint (load_state_dict)."""
        network = pl_module.network
        self.original = counts(structural_units(network))
        self.prunable_before = _size(self.selection(network).values())
        self.parameters_before = _size(network.parameters())

    def _prune(self, step: PruningStep, trainer, pl_module) -> None:
        network = pl_module.network
        units = structural_units(network)
        before = _size(network.parameters())
        if self.sparsity_of == "units":
            target = counts_for_ratio(self.original, step.sparsity, counts(units))
        else:
            shapes = {name: p.shape for name, p in self.selection(network).items()}
            target = counts_for_sparsity(units, shapes, self.prunable_before, step.sparsity, self.original)
        scores = importance(units, self.importance, self.generator)
        if self.rewind_step is not None:
            self._rewind_weights(pl_module)
        prune_units(units, target, scores)
        if self.rewind_step is not None:
            self.rewind_state = clone_state(network)
        trainer.strategy.setup_optimizers(trainer)
        achieved = self.report(network)
        self.history.append({
            "after_epoch": step.after_epoch, "target": step.sparsity, "prunable": achieved["achieved_prunable"],
            "model": achieved["achieved_model"], "parameters_before": before, "parameters_after": achieved["model_parameters"],
            "structure": structure_of(network),
        })
        log.info("structured pruning: target %.4f, achieved %.4f of the prunable set; %d -> %d parameters%s", step.sparsity,
                 achieved["achieved_prunable"], before, achieved["model_parameters"], ", rewound" if self.rewind_step is not None else "")

    def on_save_checkpoint(self, trainer, pl_module, checkpoint: dict) -> None:
        """The pruned shape, so a resumed run can rebuild it before loading the weights."""
        if self.history:
            checkpoint["structure"] = structure_of(pl_module.network)

    def state_dict(self) -> dict:
        return {"history": self.history, "original": self.original, "prunable_before": self.prunable_before,
                "parameters_before": self.parameters_before, "generator": self.generator.get_state(),
                "rewind_state": self.rewind_state}

    def load_state_dict(self, state_dict: dict) -> None:
        self.history, self.original = list(state_dict["history"]), dict(state_dict["original"])
        self.prunable_before, self.parameters_before = int(state_dict["prunable_before"]), int(state_dict["parameters_before"])
        self.generator.set_state(state_dict["generator"])
        self.rewind_state = state_dict["rewind_state"]

    def report(self, network: nn.Module) -> dict:
        """Achieved sparsity of the prunable set and of the whole model, parameters left, shape."""
        after = _size(network.parameters())
        return {
            "achieved_prunable": 1 - _size(self.selection(network).values()) / self.prunable_before,
            "achieved_model": 1 - after / self.parameters_before,
            "prunable_parameters": self.prunable_before,
            "model_parameters": after,
            "rewind_step": self.rewind_step,
            "structure": structure_of(network) if self.history else None,
        }

