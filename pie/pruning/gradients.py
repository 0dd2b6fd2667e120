"""dL/dw for impact scores, without touching the model's .grad buffers or training RNG."""

from __future__ import annotations

from typing import Iterable, Mapping

import torch
from torch import nn

GRADIENT_MODES = ("eval", "reference")


def counted_batches(batches: Iterable[dict], mode: str) -> list[dict]:
    """The batches whose gradient counts: all of them (mode="eval"), or the last one only
    (mode="reference": the reference code zeroed the gradients before every batch)."""
    if mode not in GRADIENT_MODES:
        raise ValueError(f"gradient mode must be one of {GRADIENT_MODES}, got {mode!r}")
    batches = list(batches)
    return batches[-1:] if mode == "reference" else batches


def accumulate_gradients(
    module: nn.Module, params: Mapping[str, torch.Tensor], batches: Iterable[dict], mode: str = "eval"
) -> dict[str, torch.Tensor]:
    """Gradient of the mean loss over all examples of `batches` w.r.t. `params`.

    mode="eval": eval mode (no dropout), every batch counts, weighted by its size — the
    gradient of the mean loss over the n sampled examples.
    mode="reference": what the reference code effectively used — train mode (dropout on), and
    only the last batch counts (it zeroed the gradients before every batch). It also clipped that
    gradient's norm to 1, a uniform rescaling that changes no mask, so it is omitted here.
    `module` must map a batch dict to logits and have a `loss` attribute (the Classifier).
    """
    batches = counted_batches(batches, mode)
    names, tensors = list(params), list(params.values())
    total = sum(len(b["labels"]) for b in batches)
    if total == 0:
        raise ValueError("no examples to compute gradients on")
    was_training = module.training
    module.train(mode == "reference")
    sums = [torch.zeros_like(t) for t in tensors]
    try:
        with torch.random.fork_rng(devices=[]), torch.enable_grad():
            for batch in batches:
                batch = {k: v.to(tensors[0].device) for k, v in batch.items()}
                loss = module.loss(module(batch), batch["labels"]) * (len(batch["labels"]) / total)
                for acc, grad in zip(sums, torch.autograd.grad(loss, tensors)):
                    acc += grad
    finally:
        module.train(was_training)
    return dict(zip(names, sums))
