"""prune.py: branch a pruned run from a complete dense run (open_lth's trunk and branches).

The branch rebuilds the dense run's data, model and initialisation from its manifest (checked
against the recorded hash), loads its final weights, and trains with the chosen method on the
branch schedule; its config is the dense run's with the pruning part replaced, so it joins the
dense population's model setup in identify_pies.
"""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf, open_dict

from pie.checks import schedule_from
from pie.runs.discovery import Run, discover
from pie.runs.weights import read_final_weights
from pie.training import StartFrom, train


def find_dense_run(source: str, seed: int) -> Run:
    """The complete dense run with this seed under `source`; a clear error otherwise."""
    found = discover([source])
    dense = [r for r in found.complete if r.manifest["pruning"]["target"] == 0 and r.seed == seed]
    if len(dense) == 1:
        return dense[0]
    if not dense:
        waiting = [str(d) for d in found.incomplete]
        hint = f"; incomplete runs there: {', '.join(waiting[:3])}" if waiting else ""
        raise FileNotFoundError(f"no complete dense run with seed={seed} under {source}{hint}")
    raise ValueError(f"{len(dense)} complete dense runs with seed={seed} under {source}: {[str(r.directory) for r in dense]}")


def branch_schedule(cfg: DictConfig, finetune_epochs: int) -> dict:
    """The branch's schedule: the method's own `branch` block (conf/pruning/<method>.yaml) at the
    branch's sparsity and fine-tuning epochs; a method without a branch refuses with its reason."""
    schedule = {**OmegaConf.to_container(cfg.pruning.branch, resolve=True), "sparsity": "${sparsity}", "finetune_epochs": int(finetune_epochs)}
    schedule_from({**schedule, "sparsity": float(cfg.sparsity)})  # raises the method's refusal before any compute
    return schedule


def branch_config(cfg: DictConfig, dense: Run) -> DictConfig:
    """The dense run's config with pruning (on its branch schedule), selection, sparsity and outputs from the branch."""
    merged = OmegaConf.create(dense.manifest["config"])
    finetune_epochs = cfg.finetune_epochs if cfg.finetune_epochs is not None else merged.model.epochs
    with open_dict(merged):
        merged.pruning = OmegaConf.to_container(cfg.pruning)
        merged.pruning.schedule = branch_schedule(cfg, finetune_epochs)
        merged.selection = cfg.selection
        merged.sparsity = cfg.sparsity
        merged.name = cfg.name
        merged.predictions = cfg.predictions
        merged.paths = OmegaConf.to_container(cfg.paths)  # unresolved: the sweeper composes jobs before Hydra's runtime exists
        merged.logger = cfg.get("logger")
        merged.branch = {"source": str(dense.directory), "source_run_key": dense.manifest["keys"]["run"]}
    return merged


def rewinds_to_init(merged: DictConfig) -> bool:
    """Rewinding in a branch goes to the dense run's weights at initialisation (step 0) only."""
    step = merged.pruning.get("rewind_step")
    if step is not None and step != 0:
        raise ValueError(
            f"pruning.rewind_step={step}: branches rewind to initialisation only (step 0); late "
            "rewinding needs the in-training schedule (train.py)"
        )
    return step == 0


def branch(cfg: DictConfig) -> dict:
    """Run one branch; returns its manifest (skips it when already complete)."""
    dense = find_dense_run(str(cfg.source), int(cfg.seed))
    merged = branch_config(cfg, dense)
    state, _ = read_final_weights(dense.directory, dense.manifest)
    start = StartFrom(
        weights=state, init_sha256=dense.manifest["weights"]["init_sha256"], rewind_to_init=rewinds_to_init(merged),
    )
    return train(merged, start=start)
