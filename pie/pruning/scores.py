"""Importance scores per prunable weight (higher = more important = kept longer)."""

from __future__ import annotations

from typing import Mapping

import torch


def magnitude(params: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """|w|: magnitude pruning (IMP, MP-AI)."""
    return {name: p.detach().abs() for name, p in params.items()}
