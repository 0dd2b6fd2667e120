"""Every pruning preset runs through train.py's code path and through prune.py branches."""

import pytest

from conftest import TINY, compose_train
from test_bert import write_tiny_checkpoint

pytestmark = pytest.mark.slow
UNSTRUCTURED = ["imp_ft", "imp_wr", "mp_ai", "iibp_ft", "iibp_wr", "ibp_ai", "irp_ft", "irp_wr", "rp_ai", "omp_ft", "gmp"]
BERT_TINY = ["model=bert", "dataset.max_train_examples=32", "dataset.max_eval_examples=16", "dataset.max_length=32"]


@pytest.fixture(scope="module")
def dense_runs(tmp_path_factory):
    """One dense BiLSTM and one dense tiny-BERT run to branch from."""
    from pie.training import train

    root = tmp_path_factory.mktemp("dense")
    checkpoint = write_tiny_checkpoint(root / "ckpt")
    train(compose_train([*TINY, "model.batch_size=16"], root / "bilstm"))
    train(compose_train([*TINY, *BERT_TINY, f"model.checkpoint={checkpoint}"], root / "bert"))
    return root


def _branch(dense_dir, overrides, tmp_path):
    from pie.branching import branch

    return branch(compose_train([f"source={dense_dir}", "seed=0", "finetune_epochs=1", *overrides], tmp_path, "prune"))


@pytest.mark.parametrize("method", UNSTRUCTURED)
@pytest.mark.parametrize("scope", ["layerwise", "global"])
def test_in_training(method, scope, tmp_path):
    from pie.training import train

    extra = ["pruning.schedule.end_step=4", "pruning.schedule.frequency=2", "model.batch_size=16"] if method == "gmp" else []
    manifest = train(compose_train([*TINY, f"pruning={method}", "sparsity=0.8", f"pruning.scope={scope}", *extra], tmp_path))
    assert abs(manifest["pruning"]["achieved_prunable"] - 0.8) <= 0.001
    assert manifest["pruning"]["method"] == (method if scope == "layerwise" else f"{method}-global")


@pytest.mark.parametrize("method", UNSTRUCTURED)
def test_as_branch(method, dense_runs, tmp_path):
    extra = ["pruning.schedule.end_step=3", "pruning.schedule.frequency=1"] if method == "gmp" else []
    manifest = _branch(dense_runs / "bilstm" / "run", [f"pruning={method}", "sparsity=0.8", *extra], tmp_path)
    assert manifest["status"] == "complete" and manifest["pruning"]["method"] == f"{method}-branch"
    assert abs(manifest["pruning"]["achieved_prunable"] - 0.8) <= 0.001
    assert len(manifest["pruning"]["steps"]) == (3 if method == "gmp" else 1)


def test_structured_as_branch(dense_runs, tmp_path):
    manifest = _branch(dense_runs / "bert" / "run", ["pruning=structured_ft", "sparsity=0.5"], tmp_path)
    assert manifest["pruning"]["structure"] == {"heads": [1, 1], "ffn": [32, 32]}
    assert manifest["pruning"]["achieved_model"] > 0


def test_structured_bilstm_is_refused_clearly(dense_runs, tmp_path):
    with pytest.raises(NotImplementedError, match="BERT-family models only"):
        _branch(dense_runs / "bilstm" / "run", ["pruning=structured_ft", "sparsity=0.5"], tmp_path)


def test_gradual_schedule_longer_than_training_is_refused(tmp_path):
    from pie.training import train

    with pytest.raises(ValueError, match="prunes at optimizer step 100, but this run takes only 1 steps"):
        train(compose_train([*TINY, "pruning=gmp", "sparsity=0.5"], tmp_path))
