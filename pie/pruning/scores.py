"""Importance scores per prunable weight (higher = more important = kept longer).

Every score function takes the prunable parameters and a ScoreInputs; each uses what it needs
(gradients are computed lazily, only for scores that ask for them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping

import torch


@dataclass
class ScoreInputs:
    """What a score may need beyond the weights: dL/dw (lazily) and the run's pruning RNG."""

    compute_gradients: Callable[[], Mapping[str, torch.Tensor]] | None = None
    generator: torch.Generator | None = None
    _gradients: Mapping[str, torch.Tensor] | None = field(default=None, repr=False)

    def gradients(self) -> Mapping[str, torch.Tensor]:
        if self._gradients is None:
            if self.compute_gradients is None:
                raise ValueError("this score needs gradients, but no gradient source was configured")
            self._gradients = self.compute_gradients()
        return self._gradients


def magnitude(params: Mapping[str, torch.Tensor], inputs: ScoreInputs | None = None) -> dict[str, torch.Tensor]:
    """|w|: magnitude pruning (IMP, MP-AI)."""
    return {name: p.detach().abs() for name, p in params.items()}


def impact(params: Mapping[str, torch.Tensor], inputs: ScoreInputs) -> dict[str, torch.Tensor]:
    """|w ⊙ ∂L/∂w|: impact-based pruning (IIBP, IBP-AI), a first-order estimate of the loss change."""
    gradients = inputs.gradients()
    return {name: (p.detach() * gradients[name].to(p.device)).abs_() for name, p in params.items()}


def random(params: Mapping[str, torch.Tensor], inputs: ScoreInputs) -> dict[str, torch.Tensor]:
    """Uniform random scores from the run's seeded generator (IRP, RP-AI): removing the lowest is a
    uniformly random choice among the kept weights."""
    if inputs is None or inputs.generator is None:
        raise ValueError("random pruning needs the run's seeded generator")
    return {name: torch.rand(p.shape, generator=inputs.generator).to(p.device) for name, p in params.items()}
