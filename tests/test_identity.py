"""Run identity: the hashes that name a run, its population's model setup and its pruning method."""

from omegaconf import OmegaConf

from conftest import TINY, compose_train
from pie.checks import Job, build_schedule, presets_pruning_nothing
from pie.runs.identity import DENSE, config_keys, run_keys, stored_run_key
from pie.runs.manifest import Keys, Manifest


def keys(overrides, tmp_path):
    cfg = compose_train([*TINY, *overrides], tmp_path)
    return config_keys(cfg, dense=not build_schedule(cfg).steps)


def test_a_method_at_sparsity_zero_is_the_dense_run(tmp_path):
    """pruning=imp_ft/mp_ai/none (with any selection) at sparsity 0 train the same model: one run key."""
    dense = [keys(o, tmp_path) for o in (["pruning=none"], ["pruning=imp_ft", "sparsity=0"],
                                          ["pruning=mp_ai", "sparsity=0", "selection=reference"])]
    assert dense[0] == dense[1] == dense[2] and dense[0].pruning == DENSE
    pruned = [keys(["pruning=imp_ft", "sparsity=0.5"], tmp_path), keys(["pruning=mp_ai", "sparsity=0.5"], tmp_path)]
    assert len({dense[0].run, pruned[0].run, pruned[1].run}) == 3
    assert pruned[0].model == pruned[1].model == dense[0].model  # one model setup: one dense population
    assert pruned[0].pruning != pruned[1].pruning


def test_the_run_key_ignores_how_prune_py_would_branch_a_method(tmp_path):
    """pruning.branch is unused by a train.py run and pruning.callback only names the class that
    applies the keyed settings, so neither changes a key."""
    base = keys(["pruning=imp_ft", "sparsity=0.5"], tmp_path)
    assert keys(["pruning=imp_ft", "sparsity=0.5", "pruning.branch.n_steps=1"], tmp_path) == base
    assert keys(["pruning=imp_ft", "sparsity=0.5", "pruning/branch=once"], tmp_path) == base
    assert keys(["pruning=imp_ft", "sparsity=0.5", "pruning.schedule.n_steps=2"], tmp_path) != base


def test_stored_run_key_recomputes_from_the_recorded_config(tmp_path):
    """A manifest's key string written by an older formula does not matter: the config decides."""
    cfg = compose_train([*TINY, "pruning=mp_ai", "sparsity=0"], tmp_path)
    config = OmegaConf.to_container(OmegaConf.create({k: cfg[k] for k in cfg if k != "paths"}), resolve=True)
    manifest = Manifest("complete", 0, Keys(run="written-by-an-older-pie", model="m", pruning=DENSE), config, {})
    assert stored_run_key(manifest) == config_keys(cfg, dense=True).run


def test_a_preset_that_never_prunes_in_a_sweep_is_named():
    jobs = [Job("k0", "imp_ft", False), Job("k1", "imp_ft", False), Job("k2", "mp_ai", False), Job("k3", "mp_ai", True),
            Job("k4", DENSE, False)]
    assert presets_pruning_nothing(jobs) == ["imp_ft"]


def test_settings_added_later_keep_the_keys_of_runs_recorded_before_them(tmp_path):
    """fidelity, threshold.strict and pruning.gradients.resample at the values that reproduce the
    behaviour before them enter no key: a config recorded without them has the same keys. Any
    other value does, and fidelity=reference is another run and another model setup."""
    cfg = compose_train([*TINY, "pruning=iibp_ft", "sparsity=0.5"], tmp_path)
    config = OmegaConf.to_container(OmegaConf.create({k: cfg[k] for k in cfg if k != "paths"}), resolve=True)
    before = {**config, "threshold": {"tune_on": "validation"}}
    before.pop("fidelity")
    before["pruning"] = {**config["pruning"], "gradients": {"samples": 100, "mode": "eval"}}
    assert run_keys(before, dense=False) == run_keys(config, dense=False) == config_keys(cfg, dense=False)
    fresh = keys(["pruning=iibp_ft", "sparsity=0.5", "pruning.gradients.resample=true"], tmp_path)
    strict = keys(["pruning=iibp_ft", "sparsity=0.5", "threshold.strict=true"], tmp_path)
    assert fresh.run != config_keys(cfg, dense=False).run and fresh.model == config_keys(cfg, dense=False).model
    assert strict.model != config_keys(cfg, dense=False).model
    reference = keys(["pruning=iibp_ft", "sparsity=0.5", "fidelity=reference"], tmp_path)
    assert reference.run != fresh.run and reference.model not in {strict.model, config_keys(cfg, dense=False).model}
