"""What a run is, as three hashes of its resolved config: the run (everything that changes its
predictions), its model setup (the population it joins) and its pruning method.

A run whose schedule prunes nothing is the dense run whatever pruning preset it was composed
with: `pruning=imp_ft sparsity=0` and `pruning=mp_ai sparsity=0` train the same model, so they
have one run key and a sweep runs and analyses them once (open_lth's run description hash).

A setting added after runs were recorded enters no key at the value that reproduces the behaviour
before it, so the runs recorded before it keep their keys (rerunning their sweep skips them).
"""

from __future__ import annotations

from typing import Mapping

from omegaconf import DictConfig, OmegaConf

from pie.hashing import fingerprint_object
from pie.runs.manifest import DENSE, Keys, Manifest

# Config sections that decide a run's predictions (paths, names and loggers do not).
RESULT_KEYS = ("seed", "sparsity", "threads", "threshold", "dataset", "model", "pruning", "selection", "trainer", "predictions", "branch",
               "fidelity")
MODEL_KEYS = ("model", "trainer", "threads", "threshold", "fidelity")
# Settings added after runs were recorded, with the value that reproduces the behaviour before them.
ADDED_SETTINGS = {("fidelity",): "pie", ("threshold", "strict"): False, ("pruning", "gradients", "resample"): False}
# Sections of a pruning preset that name no computation of their own: how prune.py would branch
# the method, and which callback class applies it (its arguments interpolate the keyed sections).
IMPLEMENTATION = ("branch", "callback")


def _without_added_defaults(config: Mapping) -> dict:
    """The config without the ADDED_SETTINGS that hold their earlier behaviour; the sections on
    their paths are copied (the caller's config is left as it is), the rest shared."""
    config = dict(config)
    for (*parents, last), value in ADDED_SETTINGS.items():
        node = config
        for key in parents:
            child = node.get(key)
            if not isinstance(child, dict):
                node = None
                break
            node[key] = dict(child)
            node = node[key]
        if node is not None and last in node and node[last] == value:
            del node[last]
    return config


def _pruning(config: Mapping) -> dict:
    return {k: v for k, v in dict(config.get("pruning") or {}).items() if k not in IMPLEMENTATION}


def _run_description(config: Mapping, dense: bool) -> dict:
    """What the run key hashes: the sections that decide the run's predictions."""
    described = {k: config[k] for k in RESULT_KEYS if k in config}
    if dense:
        described.pop("selection", None)
        described["pruning"] = DENSE
        described["sparsity"] = 0.0  # `sparsity=0` on the command line is the integer 0
    else:
        described["pruning"] = _pruning(config)
    return described


def run_keys(config: Mapping, dense: bool) -> Keys:
    """The run, model and pruning hashes of a resolved config (plain containers).

    `dense`: the run's schedule has no pruning step; its pruning and selection sections then
    do not enter any key."""
    config = _without_added_defaults(config)
    method = {"pruning": _pruning(config), "selection": config.get("selection")}
    method["pruning"]["schedule"] = {k: v for k, v in dict(method["pruning"].get("schedule") or {}).items() if k != "sparsity"}
    return Keys(
        run=fingerprint_object(_run_description(config, dense)),
        model=fingerprint_object({k: config[k] for k in MODEL_KEYS if k in config}),
        pruning=DENSE if dense else fingerprint_object(method),
    )


def config_keys(cfg: DictConfig, dense: bool) -> Keys:
    """run_keys of a composed config (only the sections that enter a key are resolved)."""
    sections = {k: OmegaConf.to_container(cfg[k], resolve=True) if isinstance(cfg[k], DictConfig) else cfg[k]
                for k in RESULT_KEYS if k in cfg}
    return run_keys(sections, dense)


def stored_run_key(manifest: Manifest) -> str:
    """The run key of a stored run, recomputed from its recorded config with today's rules, so
    runs written before a rule changed still match (or deduplicate with) the runs of today."""
    return fingerprint_object(_run_description(_without_added_defaults(manifest.config), manifest.is_dense))


def method_label(config: Mapping, dense: bool) -> str:
    """The population label of a run's method: "dense", or the preset's name with "-global" for
    global scope and "-branch" for a prune.py branch; a recovery run's is its source's with
    "+<recovery method>"."""
    if dense:
        return DENSE
    pruning = config["pruning"]
    if pruning.get("recovery"):
        return f"{pruning['recovery']['source_method']}+{pruning['recovery']['name']}"
    label = pruning["name"] if pruning["scope"] == "layerwise" else f"{pruning['name']}-{pruning['scope']}"
    return f"{label}-branch" if config.get("branch") else label
