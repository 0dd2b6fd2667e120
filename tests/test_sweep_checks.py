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
    (["seed=0", "pruning=structured_ft", "sparsity=0.5", "pruning.rewind_step=0"], ["structured pruning cannot rewind"]),
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
        for name, check in (("train", "pie.checks.train_config"), ("prune", "pie.checks.prune_config")):
            cfg = compose(config_name=name, overrides=["source=x"] if name == "prune" else [], return_hydra_config=True)
            assert cfg.hydra.sweeper._target_.endswith("CheckedSweeper") and cfg.hydra.sweeper.check == check
