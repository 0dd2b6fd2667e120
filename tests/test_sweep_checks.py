"""A sweep with a bad job launches nothing: the checked sweeper composes every job and runs pie's
configuration checks on it first, and names each bad job with the key and the allowed values."""

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from conftest import CONF, TINY, run_cli

pytestmark = pytest.mark.slow


def _launched(root) -> list:
    return list(root.glob("multirun/*/*/manifest.json"))


@pytest.mark.parametrize("overrides, messages", [
    (["seed=0,1", "pruning=imp_ft", "sparsity=0.5,1.5"], ["2 of 4 jobs", "seed=0 pruning=imp_ft sparsity=1.5", "sparsity must be in [0, 1), got 1.5"]),
    (["seed=0", "threshold.tune_on=validation,last"], ["1 of 2 jobs", "threshold.tune_on must be one of validation, train_epoch, got 'last'"]),
    (["seed=0", "model=bert", "model.checkpoint=/no/such/bert"], ["1 of 1 jobs", "model.checkpoint=/no/such/bert: no such directory"]),
    (["seed=0", "pruning=structured_ft", "sparsity=0.5", "pruning.structured.importance=taylor"],
     ["pruning.structured.importance must be one of magnitude, random, got 'taylor'"]),
    (["seed=0", "pruning=nm_ft", "sparsity=0,0.5,0.9"], ["1 of 3 jobs", "pruning.nm.n=2, pruning.nm.m=4 keeps 2 of every 4 weights, so sparsity must be 0.5"]),
    (["seed=0", "pruning=structured_imp_ft", "sparsity=0.5", "pruning.scope=global"], ["pruning.scope must be layerwise, got 'global'"]),
])
def test_train_sweep_with_a_bad_job_launches_nothing(overrides, messages, tmp_path):
    result = run_cli("train.py", "-m", "name=bad", *overrides, *TINY, cwd=tmp_path)
    assert result.returncode != 0 and "nothing was launched" in result.stderr
    for message in messages:
        assert message in result.stderr
    assert not _launched(tmp_path)


def test_unknown_option_in_a_sweep_is_refused_before_launch(tmp_path):
    result = run_cli("train.py", "-m", "name=bad", "dataset=rotten_tomatoes,nope", *TINY, cwd=tmp_path)
    assert result.returncode != 0 and "Could not find 'dataset/nope'" in result.stderr and "Available options" in result.stderr
    assert not _launched(tmp_path)


def test_prune_sweep_without_its_dense_source_launches_nothing(tmp_path):
    result = run_cli("prune.py", "-m", "source=multirun/dense", "seed=0,1", cwd=tmp_path)
    assert result.returncode != 0 and "2 of 2 jobs" in result.stderr
    assert "no sweep directory matches 'multirun/dense'" in result.stderr and not _launched(tmp_path)


def test_both_entry_points_use_the_checked_sweeper():
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        for name, check in (("train", "pie.checks.train_job"), ("prune", "pie.checks.prune_job")):
            cfg = compose(config_name=name, overrides=["source=x"] if name == "prune" else [], return_hydra_config=True)
            assert cfg.hydra.sweeper._target_.endswith("CheckedSweeper") and cfg.hydra.sweeper.check == check


def test_a_sweep_over_methods_runs_and_analyses_the_dense_run_once(tmp_path):
    """`pruning=imp_ft,mp_ai sparsity=0,0.9`: the two sparsity-0 jobs of a seed are one dense run,
    trained once; identify_pies reads the whole sweep in one call (dense, imp_ft, mp_ai)."""
    import pandas as pd

    result = run_cli("train.py", "-m", "name=mm", "seed=0,1", "pruning=imp_ft,mp_ai", "sparsity=0,0.9", *TINY, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "2 of 8 jobs are runs of other jobs" in result.stdout and "6 distinct runs" in result.stdout
    assert len(_launched(tmp_path)) == 6
    identified = run_cli("identify_pies.py", "multirun/mm", "--min-seeds", "2", "--no-texts", "--out", "out", cwd=tmp_path)
    assert identified.returncode == 0, identified.stderr[-3000:]
    summary = pd.read_csv(tmp_path / "out" / "summary.csv")
    assert list(summary["method"]) == ["dense", "imp_ft", "mp_ai"] and list(summary["seeds"]) == [2, 2, 2]


def test_a_method_that_prunes_nothing_is_refused(tmp_path):
    """pruning=imp_ft with sparsity 0 everywhere would train dense models under a method's name:
    refused in a sweep and in a single run, with the fix, before anything runs."""
    sweep = run_cli("train.py", "-m", "name=bad", "seed=0,1", "pruning=imp_ft", *TINY, cwd=tmp_path)
    assert sweep.returncode != 0 and "pruning=imp_ft with sparsity=0 prunes nothing" in sweep.stderr
    single = run_cli("train.py", "name=bad", "pruning=mp_ai", *TINY, cwd=tmp_path)
    assert single.returncode != 0 and "pruning=mp_ai with sparsity=0 prunes nothing" in single.stderr
    assert "pruning=none" in single.stderr
    assert not _launched(tmp_path) and not list(tmp_path.glob("runs/bad/*/manifest.json"))
