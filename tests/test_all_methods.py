"""Every pruning preset runs through train.py's code path and through prune.py branches."""

import numpy as np
import pytest

from conftest import CONF, TINY, compose_train
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
    from pie.training import branch

    return branch(compose_train([f"source={dense_dir}", "seed=0", "finetune_epochs=1", *overrides], tmp_path, "prune"))


@pytest.mark.parametrize("method", UNSTRUCTURED)
@pytest.mark.parametrize("scope", ["layerwise", "global"])
def test_in_training(method, scope, tmp_path):
    from pie.training import train

    extra = ["pruning.schedule.end_step=4", "pruning.schedule.frequency=2", "model.batch_size=16"] if method == "gmp" else []
    manifest = train(compose_train([*TINY, f"pruning={method}", "sparsity=0.8", f"pruning.scope={scope}", *extra], tmp_path))
    assert abs(manifest.pruning.achieved_prunable - 0.8) <= 0.001
    assert manifest.pruning.method == (method if scope == "layerwise" else f"{method}-global")


# prune.py: each method's branch schedule (conf/pruning/<method>.yaml: branch) and its prunes.
BRANCH_STEPS = {"imp_ft": 3, "imp_wr": 3, "iibp_ft": 3, "iibp_wr": 3, "irp_ft": 3, "irp_wr": 3, "omp_ft": 1, "gmp": 3}
REFUSED = {"mp_ai": "prunes at initialisation", "ibp_ai": "prunes at initialisation", "rp_ai": "prunes at initialisation",
           "none": "prunes nothing"}


def test_every_preset_branches_to_its_own_computation_or_is_refused(dense_runs, tmp_path):
    """Every preset of conf/pruning through prune.py: an iterative method prunes the trained weights
    as many times as in training, a one-shot one once; no two methods give the same logits; the
    at-initialisation methods and `none` are refused before any compute, with the reason."""
    from pie.training import branch
    from pie.checks import prune_config
    from pie.runs.discovery import Run, load_logits

    presets = sorted(p.stem for p in (CONF / "pruning").glob("*.yaml") if p.stem != "structured_ft")
    assert set(presets) == set(BRANCH_STEPS) | set(REFUSED)
    logits = {}
    for method in presets:
        extra = ["pruning.schedule.end_step=3", "pruning.schedule.frequency=1"] if method == "gmp" else []
        cfg = compose_train([f"source={dense_runs / 'bilstm' / 'run'}", "seed=0", "finetune_epochs=1",
                             f"pruning={method}", "sparsity=0.8", *extra], tmp_path / method, "prune")
        if method in REFUSED:
            with pytest.raises(ValueError, match=REFUSED[method]):
                prune_config(cfg)
            assert not (tmp_path / method / "run").exists()
            continue
        manifest = branch(cfg)
        pruning = manifest.pruning
        assert manifest.complete and pruning.method == f"{method}-branch"
        assert abs(pruning.achieved_prunable - 0.8) <= 0.001
        assert len(pruning.steps) == BRANCH_STEPS[method]
        assert manifest.epochs == (1 if method == "gmp" else BRANCH_STEPS[method])
        logits[method] = load_logits([Run(tmp_path / method / "run", manifest)], "test_final").logits[0]
    same = [(a, b) for i, a in enumerate(logits) for b in list(logits)[i + 1:] if np.array_equal(logits[a], logits[b])]
    assert not same, f"prune.py methods with identical test logits: {same}"


def test_structured_as_branch(dense_runs, tmp_path):
    manifest = _branch(dense_runs / "bert" / "run", ["pruning=structured_ft", "sparsity=0.5"], tmp_path)
    assert manifest.pruning.structure == {"heads": [1, 1], "ffn": [32, 32]}
    assert manifest.pruning.achieved_model > 0


def test_structured_bilstm_is_refused_clearly(dense_runs, tmp_path):
    with pytest.raises(ValueError, match="BERT-family models only"):
        _branch(dense_runs / "bilstm" / "run", ["pruning=structured_ft", "sparsity=0.5"], tmp_path)
    assert not (tmp_path / "run").exists()


def test_gradual_schedule_longer_than_training_is_refused(tmp_path):
    from pie.training import train

    with pytest.raises(ValueError, match="prunes at optimizer step 100, but this run takes only 1 steps"):
        train(compose_train([*TINY, "pruning=gmp", "sparsity=0.5"], tmp_path))
