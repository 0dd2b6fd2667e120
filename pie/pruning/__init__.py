"""Pruning as pure functions (scores, masks, N:M masks, structured units, schedules, parameter
selection) plus thin Lightning callbacks that apply them during training."""

from pie.pruning.masks import MaskSet, prune_to_sparsity, sparsity_report
from pie.pruning.schedules import PruningStep, Schedule, per_step_rate

__all__ = [
    "MaskSet",
    "PruningStep",
    "Schedule",
    "per_step_rate",
    "prune_to_sparsity",
    "sparsity_report",
]
