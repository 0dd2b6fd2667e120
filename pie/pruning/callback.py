"""The Lightning callbacks that apply a pruning method on its schedule; the science lives in the
pure modules. `ScheduledPruning` steps the schedule (before training, at epoch ends, or after
optimizer steps), takes the rewind snapshot and reports what was achieved; `PruningCallback`
prunes with masks, `NMPruningCallback` with N:M masks (pie.pruning.structured_callback removes
units instead).

Masks are enforced without re-parametrisation: masked gradients are zeroed before clipping and
the optimizer step, and masked weights are re-zeroed after every step, so checkpoints hold plain
weights and the masks travel in the callback's own state (and in saved weight files).
After a pruning step the method either fine-tunes (optimizer state kept) or rewinds every
weight to a snapshot (initialisation, or step k for late rewinding) with a fresh optimizer.
Each prune records the test metrics of the model right before and right after it (`measure`),
from which the reference code's post-prune "stability" is computed.
"""

from __future__ import annotations

import logging
from typing import Callable, Mapping

import lightning as L
import numpy as np
import torch
from torch import nn

from pie.pruning.gradients import accumulate_gradients, counted_batches
from pie.pruning.masks import full_masks, prune_to_sparsity, sparsity_report
from pie.pruning.nm import linear_weights, nm_masks
from pie.pruning.schedules import BEFORE_TRAINING, PruningStep, Schedule
from pie.pruning.scores import ScoreInputs

log = logging.getLogger(__name__)

Selection = Callable[[nn.Module], Mapping[str, nn.Parameter]]
Measure = Callable[[L.LightningModule], dict]
Scorer = Callable[[Mapping[str, torch.Tensor], ScoreInputs], Mapping[str, torch.Tensor]]


def clone_state(network: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in network.state_dict().items()}


class ScheduledPruning(L.Callback):
    """Calls `_prune(step, trainer, pl_module)` at each step of the schedule that falls before
    training or at an epoch's end, once; `history` keeps one entry per prune (the manifest's
    per-step record). Subclasses add pruning after optimizer steps where they support it.

    :param rewind_step: None = fine-tune after each prune; 0 = rewind to the weights at the start
        of training; k > 0 = rewind to the weights after k optimizer steps (`rewind_state` is
        captured then, and `_rewind_weights` loads it).
    :param rewind_state: weights to rewind to, given explicitly (prune.py branches rewind to the
        dense run's initialisation, not to the weights they start from).
    :param measure: the model's test metrics as it is now (pie.runs.writer.PredictionWriter.measure),
        recorded in each prune's history entry as `test_before` and `test_after`.
    :param masks: the masks a run starts from (recover.py: the pruned run's), kept until a prune.
    """

    def __init__(self, schedule: Schedule, random_seed: int = 0, rewind_step: int | None = None,
                 rewind_state: Mapping[str, torch.Tensor] | None = None, measure: Measure | None = None,
                 masks: Mapping[str, torch.Tensor] | None = None):
        self.schedule = schedule
        self.measure = measure
        self.random_seed = int(random_seed)
        self.generator = torch.Generator().manual_seed(self.random_seed)
        self.history: list[dict] = []
        self.masks: dict[str, torch.Tensor] = dict(masks or {})
        self.rewind_step = rewind_step
        self.rewind_state = dict(rewind_state) if rewind_state is not None else None

    def on_train_start(self, trainer, pl_module) -> None:
        if self.rewind_step == 0 and self.rewind_state is None:
            self.rewind_state = clone_state(pl_module.network)
        step = self.schedule.step_after(BEFORE_TRAINING)
        if step is not None and not self.history:
            self._measured_prune(step, trainer, pl_module)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self.rewind_step and self.rewind_state is None and trainer.global_step == self.rewind_step:
            self.rewind_state = clone_state(pl_module.network)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        step = self.schedule.step_after(trainer.current_epoch)
        if step is not None:
            self._measured_prune(step, trainer, pl_module)

    def _measured_prune(self, step: PruningStep, trainer, pl_module) -> None:
        """Prune, and record the test metrics right before and right after in the step's entry."""
        before = self.measure(pl_module) if self.measure else None
        self._prune(step, trainer, pl_module)
        if self.measure:
            self.history[-1].update(test_before=before, test_after=self.measure(pl_module))

    def _prune(self, step: PruningStep, trainer, pl_module) -> None:
        raise NotImplementedError

    def _rewind_weights(self, pl_module) -> None:
        """Load the weights to rewind to (the optimizer is the caller's to rebuild)."""
        if self.rewind_state is None:
            raise RuntimeError(
                f"cannot rewind to step {self.rewind_step}: training has not reached it before the first prune"
            )
        pl_module.network.load_state_dict(self.rewind_state)

    def report(self, network: nn.Module) -> dict:
        """What the method achieved, for the manifest (besides target and steps)."""
        raise NotImplementedError

    def summary(self, network: nn.Module) -> dict:
        """Target and achieved sparsity and the per-step history, for the run manifest."""
        return {"target": self.schedule.final_sparsity, **self.report(network), "steps": self.history}


class PruningCallback(ScheduledPruning):
    """Prune `pl_module.network` on `schedule` with `score` over `selection`, in `scope`, fine-tuning
    or rewinding after each prune (`rewind_step`, `rewind_state`: see ScheduledPruning).

    :param gradients: for impact scores, `samples` (training examples whose mean-loss gradient
        scores the weights, default 100), `mode` (how it is taken, see pie.pruning.gradients) and
        `resample` (false: one sample reused at every prune; true: a fresh one per prune, as the
        reference code). Each prune records the train-split positions of the examples whose
        gradient counted (`gradient_examples`).
    """

    def __init__(
        self,
        schedule: Schedule,
        score: Scorer | None,
        selection: Selection,
        scope: str,
        rewind_step: int | None = None,
        rewind_state: Mapping[str, torch.Tensor] | None = None,
        gradients: Mapping | None = None,
        random_seed: int = 0,
        measure: Measure | None = None,
        masks: Mapping[str, torch.Tensor] | None = None,
    ):
        super().__init__(schedule, random_seed, rewind_step, rewind_state, measure, masks)
        self.score, self.selection, self.scope = score, selection, scope
        gradients = gradients or {}
        self.gradient_samples, self.gradient_mode = int(gradients.get("samples", 100)), gradients.get("mode", "eval")
        self.gradient_resample = bool(gradients.get("resample", False))
        self.gradient_examples: list[int] | None = None
        self.params: dict[str, nn.Parameter] = {}

    def setup(self, trainer, pl_module, stage: str) -> None:
        self.params = self._select(pl_module.network)
        if not self.masks:
            self.masks = full_masks(self.params)

    def on_train_start(self, trainer, pl_module) -> None:
        total = trainer.max_epochs * trainer.num_training_batches
        last = max((s.after_step for s in self.schedule.steps if s.after_step is not None), default=0)
        if last > total:
            raise ValueError(
                f"the pruning schedule prunes at optimizer step {last}, but this run takes only {total} "
                f"steps ({trainer.num_training_batches} per epoch x {trainer.max_epochs} epochs); lower "
                "pruning.schedule.end_step or train longer"
            )
        self.masks = {n: m.to(self.params[n].device) for n, m in self.masks.items()}
        super().on_train_start(trainer, pl_module)

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
        for name, param in self.params.items():
            if param.grad is not None:
                param.grad.mul_(self.masks[name])

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.apply_masks()
        super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)
        step = self.schedule.step_at(trainer.global_step)
        if step is not None and not any(h.get("after_step") == step.after_step for h in self.history):
            self._measured_prune(step, trainer, pl_module)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        super().on_train_epoch_end(trainer, pl_module)
        report = sparsity_report(self.masks, pl_module.network)
        pl_module.log_dict({"sparsity/prunable": report["prunable"], "sparsity/model": report["model"]})

    @torch.no_grad()
    def apply_masks(self) -> None:
        for name, param in self.params.items():
            param.mul_(self.masks[name])

    def _sample_seed(self) -> int:
        """The seed of this prune's gradient sample: the run's seed (one sample for every prune), or
        with `resample` one drawn from (seed, index of the prune): a fresh sample per prune,
        deterministic, and the same after a resume (the history holds the index)."""
        if not self.gradient_resample:
            return self.random_seed
        return int(np.random.SeedSequence([self.random_seed, len(self.history)]).generate_state(1)[0])

    def _score_inputs(self, trainer, pl_module) -> ScoreInputs:
        def gradients():
            batch_size = 10 if self.gradient_mode == "reference" else None
            loader = trainer.datamodule.sample_loader(self.gradient_samples, self._sample_seed(), batch_size)
            batches = counted_batches(loader, self.gradient_mode)
            self.gradient_examples = torch.cat([b["index"].reshape(-1) for b in batches]).tolist()
            return accumulate_gradients(pl_module, self.params, batches, self.gradient_mode)

        return ScoreInputs(compute_gradients=gradients, generator=self.generator)

    def _prune(self, step: PruningStep, trainer, pl_module) -> None:
        self.gradient_examples = None
        scores = self.score(self.params, self._score_inputs(trainer, pl_module))
        with torch.no_grad():
            self.masks = self._new_masks(scores, step.sparsity)
            if self.rewind_step is not None:
                self._rewind(trainer, pl_module)
            self.apply_masks()
        report = sparsity_report(self.masks, pl_module.network)
        self.history.append({"after_epoch": step.after_epoch, "after_step": step.after_step, "target": step.sparsity, **report,
                             **({"gradient_examples": self.gradient_examples} if self.gradient_examples is not None else {})})
        log.info(
            "pruned %s: target %.4f, achieved %.4f of the prunable set, %.4f of the model%s",
            f"after step {step.after_step}" if step.after_step
            else "before training" if step.after_epoch == BEFORE_TRAINING else f"after epoch {step.after_epoch}",
            step.sparsity, report["prunable"], report["model"], ", rewound" if self.rewind_step is not None else "",
        )

    def _select(self, network: nn.Module) -> dict[str, nn.Parameter]:
        """The parameters this method masks."""
        return dict(self.selection(network))

    def _new_masks(self, scores: Mapping[str, torch.Tensor], sparsity: float) -> dict[str, torch.Tensor]:
        """The masks of a prune to cumulative `sparsity`, from the current ones."""
        return prune_to_sparsity(scores, self.masks, sparsity, self.scope)

    def _rewind(self, trainer, pl_module) -> None:
        self._rewind_weights(pl_module)
        trainer.strategy.setup_optimizers(trainer)

    def report(self, network: nn.Module) -> dict:
        """Achieved sparsity of the prunable set, of the whole model and per tensor."""
        report = sparsity_report(self.masks, network)
        return {
            "achieved_prunable": report["prunable"],
            "achieved_model": report["model"],
            "prunable_parameters": report["prunable_parameters"],
            "model_parameters": report["model_parameters"],
            "rewind_step": self.rewind_step,
            "per_tensor": report["per_tensor"],
        }

    def state_dict(self) -> dict:
        return {
            "masks": {k: v.cpu() for k, v in self.masks.items()},
            "history": self.history,
            "generator": self.generator.get_state(),
            "rewind_state": self.rewind_state,
        }

    def load_state_dict(self, state_dict: dict) -> None:
        self.masks = dict(state_dict["masks"])
        self.history = list(state_dict["history"])
        self.generator.set_state(state_dict["generator"])
        self.rewind_state = state_dict["rewind_state"]


class NMPruningCallback(PruningCallback):
    """N:M semi-structured masks (pie.pruning.nm) on the prunable nn.Linear weights: each prune to
    sparsity s zeroes round(s * m) of every m consecutive inputs, with any score and schedule of
    PruningCallback (the pattern is per group, so there is no scope)."""

    def __init__(self, schedule: Schedule, score: Scorer, selection: Selection, m: int, **kwargs):
        super().__init__(schedule, score, selection, scope="layerwise", **kwargs)
        self.m = int(m)

    def _select(self, network: nn.Module) -> dict[str, nn.Parameter]:
        return linear_weights(network, super()._select(network), self.m)

    def _new_masks(self, scores: Mapping[str, torch.Tensor], sparsity: float) -> dict[str, torch.Tensor]:
        return nm_masks(scores, self.masks, sparsity, self.m)
