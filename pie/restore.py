"""Rebuild a finished run's network from its manifest and saved weights (masks and structured
shapes included), e.g. to predict with it again or to branch from it."""

from __future__ import annotations

from omegaconf import OmegaConf, open_dict

from pie.pruning.structured import reshape_to
from pie.runs.discovery import Run
from pie.runs.weights import read_final_weights
from pie.training import Components, build_components


def restore(run: Run, cache_dir: str | None = None) -> tuple[Components, dict]:
    """(components with the run's final weights loaded, masks) for a complete run."""
    state, masks = read_final_weights(run.directory, run.manifest)
    cfg = OmegaConf.create(run.manifest["config"])
    if cache_dir is not None:
        with open_dict(cfg):
            cfg.paths.cache_dir = cache_dir
    parts = build_components(cfg)
    structure = run.manifest["pruning"].get("structure")
    if structure:
        reshape_to(parts.network, structure)
    parts.network.load_state_dict(state)
    return parts, masks
