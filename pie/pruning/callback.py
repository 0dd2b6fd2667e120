"""The Lightning callback that applies a pruning schedule; the science lives in the pure modules.

Masks are enforced without re-parametrisation: masked gradients are zeroed before clipping and
the optimizer step, and masked weights are re-zeroed after every step, so checkpoints hold plain
weights and the masks travel in the callback's own state.
"""

from __future__ import annotations

import logging
from typing import Callable, Mapping

import lightning as L
import torch
from torch import nn

from pie.pruning.masks import full_masks, prune_to_sparsity, sparsity_report
from pie.pruning.schedules import BEFORE_TRAINING, PruningStep, Schedule

log = logging.getLogger(__name__)

Selection = Callable[[nn.Module], Mapping[str, nn.Parameter]]
Scorer = Callable[[Mapping[str, torch.Tensor]], Mapping[str, torch.Tensor]]


class PruningCallback(L.Callback):
    """Prune `pl_module.network` on `schedule` with `score` over `selection`, in `scope`."""

    def __init__(self, schedule: Schedule, score: Scorer, selection: Selection, scope: str):
        self.schedule = schedule
        self.score = score
        self.selection = selection
        self.scope = scope
        self.params: dict[str, nn.Parameter] = {}
        self.masks: dict[str, torch.Tensor] = {}
        self.history: list[dict] = []

    def setup(self, trainer, pl_module, stage: str) -> None:
        self.params = dict(self.selection(pl_module.network))
        if not self.masks:
            self.masks = full_masks(self.params)

    def on_train_start(self, trainer, pl_module) -> None:
        self.masks = {n: m.to(self.params[n].device) for n, m in self.masks.items()}
        step = self.schedule.step_after(BEFORE_TRAINING)
        if step is not None and not self.history:
            self._prune(step, pl_module)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        step = self.schedule.step_after(trainer.current_epoch)
        if step is not None:
            self._prune(step, pl_module)
        report = sparsity_report(self.masks, pl_module.network)
        pl_module.log_dict({"sparsity/prunable": report["prunable"], "sparsity/model": report["model"]})

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
        for name, param in self.params.items():
            if param.grad is not None:
                param.grad.mul_(self.masks[name])

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.apply_masks()

    @torch.no_grad()
    def apply_masks(self) -> None:
        for name, param in self.params.items():
            param.mul_(self.masks[name])

    @torch.no_grad()
    def _prune(self, step: PruningStep, pl_module) -> None:
        scores = self.score(self.params)
        self.masks = prune_to_sparsity(scores, self.masks, step.sparsity, self.scope)
        self.apply_masks()
        report = sparsity_report(self.masks, pl_module.network)
        self.history.append({"after_epoch": step.after_epoch, "target": step.sparsity, **report})
        log.info(
            "pruned after epoch %d: target %.4f, achieved %.4f of the prunable set, %.4f of the model",
            step.after_epoch, step.sparsity, report["prunable"], report["model"],
        )

    def summary(self, network: nn.Module) -> dict:
        """Target and achieved sparsity for the run manifest."""
        report = sparsity_report(self.masks, network)
        return {
            "target": self.schedule.final_sparsity,
            "achieved_prunable": report["prunable"],
            "achieved_model": report["model"],
            "prunable_parameters": report["prunable_parameters"],
            "model_parameters": report["model_parameters"],
            "steps": [{k: v for k, v in h.items() if k != "per_tensor"} for h in self.history],
            "per_tensor": report["per_tensor"],
        }

    def state_dict(self) -> dict:
        return {"masks": {k: v.cpu() for k, v in self.masks.items()}, "history": self.history}

    def load_state_dict(self, state_dict: dict) -> None:
        self.masks = dict(state_dict["masks"])
        self.history = list(state_dict["history"])
