"""Training objectives beyond the task's plain loss, for recovering pruned models (recover.py):
up-weighting the training split's PIEs, or distilling toward the dense population's mean
predicted distribution (Hinton et al. 2015; the known way to reduce prediction churn between
models). Both read per-example data by each batch's `index` (its positions in the training split)."""

from __future__ import annotations

import numpy as np
import torch

from pie.pies.task import Task


class WeightedLoss:
    """The task's loss with a weight per training example: sum(w * loss) / sum(w) over a batch, so
    an example of weight w counts as w copies of itself (Hooker et al.'s PIEs, up-weighted)."""

    def __init__(self, task: Task, weights: np.ndarray):
        self.task, self.weights = task, torch.as_tensor(weights, dtype=torch.float32)

    def __call__(self, logits: torch.Tensor, batch: dict) -> torch.Tensor:
        weights = self.weights.to(logits.device)[batch["index"]]
        return (weights * self.task.example_losses(logits, batch["labels"])).sum() / weights.sum()


class DistillLoss:
    """alpha * T^2 * distillation term + (1 - alpha) * the task's loss, toward soft targets per
    training example (the dense population's mean distribution at temperature T)."""

    def __init__(self, task: Task, soft: np.ndarray, temperature: float, alpha: float):
        if temperature <= 0 or not 0 <= alpha <= 1:
            raise ValueError(f"distillation needs temperature > 0 and alpha in [0, 1], got {temperature}, {alpha}")
        self.task, self.soft = task, torch.as_tensor(soft, dtype=torch.float32)
        self.temperature, self.alpha = float(temperature), float(alpha)

    def __call__(self, logits: torch.Tensor, batch: dict) -> torch.Tensor:
        soft = self.soft.to(logits.device)[batch["index"]]
        distilled = self.task.soft_losses(logits, soft, self.temperature).mean() * self.temperature ** 2
        return self.alpha * distilled + (1 - self.alpha) * self.task.example_losses(logits, batch["labels"]).mean()
