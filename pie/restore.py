"""Rebuild a finished run's network from its manifest and saved weights (masks and structured
shapes included), e.g. to predict with it again or to branch from it."""

from __future__ import annotations

from omegaconf import OmegaConf, open_dict

from pie import build
from pie.pruning.structured import reshape_to
from pie.runs.manifest import Run
from pie.runs.weights import read_final_weights


def restore(run: Run, cache_dir: str | None = None) -> tuple[build.Components, dict]:
    """(components with the run's final weights loaded, masks) for a complete run."""
    state, masks = read_final_weights(run)
    cfg = OmegaConf.create(run.manifest.config)
    if cache_dir is not None:
        with open_dict(cfg):
            cfg.paths.cache_dir = cache_dir
    parts = build.components(cfg)
    if run.manifest.pruning.structure:
        reshape_to(parts.network, run.manifest.pruning.structure)
    parts.network.load_state_dict(state)
    return parts, masks
