"""Every pruning preset runs through train.py's code path and through prune.py branches."""

import numpy as np
import pytest

from conftest import CONF, TINY, compose_train
from test_bert import write_tiny_checkpoint

pytestmark = pytest.mark.slow
UNSTRUCTURED = ["imp_ft", "imp_wr", "mp_ai", "iibp_ft", "iibp_wr", "ibp_ai", "irp_ft", "irp_wr", "rp_ai", "omp_ft", "gmp"]
NM = {"nm_imp_ft": 3, "nm_iibp_ft": 3, "nm_irp_ft": 3, "nm_mp_ai": 1, "nm_ibp_ai": 1, "nm_rp_ai": 1, "nm_ft": 1}  # prunes in training
STRUCTURED = {"structured_ft": 1, "structured_imp_ft": 3, "structured_imp_wr": 3}
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


@pytest.mark.parametrize("method", NM)
def test_nm_in_training(method, tmp_path):
    """2:4 on the BiLSTM's MLP Linear weights: every group of 4 inputs ends with exactly 2 zeros."""
    from pie.runs.discovery import Run
    from pie.runs.weights import read_final_weights
    from pie.training import train

    manifest = train(compose_train([*TINY, f"pruning={method}", "sparsity=0.5"], tmp_path))
    pruning = manifest.pruning
    assert pruning.achieved_prunable == 0.5 and set(pruning.per_tensor) == {"mlp.0.weight", "mlp.2.weight"}
    assert len(pruning.steps) == NM[method] and pruning.steps[-1]["prunable"] == 0.5
    state, masks = read_final_weights(Run(tmp_path / "run", manifest))
    for name, mask in masks.items():
        assert ((~mask).reshape(mask.shape[0], -1, 4).sum(dim=-1) == 2).all()
        assert not state[name][~mask].any()


@pytest.mark.parametrize("method", STRUCTURED)
@pytest.mark.parametrize("model", ["bilstm", "bert"])
def test_structured_in_training(method, model, dense_runs, tmp_path):
    """Whole units removed at each step, never regrown; the achieved fraction of the prunable
    parameters is recorded per step. One fraction of units per layer is the closest it can get:
    tiny BERT's two heads make the first iterative step 0.1176 (16 neurons per layer; 17 would
    also take a head, 0.3603) for 0.2063; the last lands on 0.5."""
    from pie.training import train

    extra = [*BERT_TINY, f"model.checkpoint={dense_runs / 'ckpt'}"] if model == "bert" else []
    manifest = train(compose_train([*TINY, *extra, f"pruning={method}", "sparsity=0.5"], tmp_path))
    pruning = manifest.pruning
    assert len(pruning.steps) == STRUCTURED[method] and pruning.rewind_step == (0 if method.endswith("_wr") else None)
    assert [round(step["target"], 4) for step in pruning.steps] == ([0.5] if len(pruning.steps) == 1 else [0.2063, 0.37, 0.5])
    achieved = [step["prunable"] for step in pruning.steps]
    assert achieved == sorted(achieved) and abs(achieved[-1] - 0.5) <= 0.02
    assert all(step["structure"] and step["parameters_after"] < step["parameters_before"] for step in pruning.steps)
    assert pruning.achieved_prunable == pruning.steps[-1]["prunable"] and manifest.model.parameters == pruning.model_parameters
    assert set(pruning.structure) == ({"heads", "ffn"} if model == "bert" else {"lstm", "mlp"})


# prune.py: each method's branch schedule (conf/pruning/<method>.yaml: branch) and its prunes.
BRANCH_STEPS = {"imp_ft": 3, "imp_wr": 3, "iibp_ft": 3, "iibp_wr": 3, "irp_ft": 3, "irp_wr": 3, "omp_ft": 1, "gmp": 3,
                "structured_ft": 1, "structured_imp_ft": 3, "structured_imp_wr": 3,
                "nm_imp_ft": 3, "nm_iibp_ft": 3, "nm_irp_ft": 3, "nm_ft": 1}
REFUSED = {**{m: "prunes at initialisation" for m in ("mp_ai", "ibp_ai", "rp_ai", "nm_mp_ai", "nm_ibp_ai", "nm_rp_ai")},
           "none": "prunes nothing"}


def test_every_preset_branches_to_its_own_computation_or_is_refused(dense_runs, tmp_path):
    """Every preset of conf/pruning through prune.py: an iterative method prunes the trained weights
    as many times as in training, a one-shot one once; no two methods give the same logits; the
    at-initialisation methods and `none` are refused before any compute, with the reason. N:M
    branches go to 2:4 (sparsity 0.5), the others to 0.8; structured ones land within one unit's
    share of it."""
    from pie.training import branch
    from pie.checks import prune_config
    from pie.runs.discovery import Run, load_logits

    presets = sorted(p.stem for p in (CONF / "pruning").glob("*.yaml"))
    assert set(presets) == set(BRANCH_STEPS) | set(REFUSED)
    logits = {}
    for method in presets:
        extra = ["pruning.schedule.end_step=3", "pruning.schedule.frequency=1"] if method == "gmp" else []
        sparsity = 0.5 if method.startswith("nm_") else 0.8
        cfg = compose_train([f"source={dense_runs / 'bilstm' / 'run'}", "seed=0", "finetune_epochs=1",
                             f"pruning={method}", f"sparsity={sparsity}", *extra], tmp_path / method, "prune")
        if method in REFUSED:
            with pytest.raises(ValueError, match=REFUSED[method]):
                prune_config(cfg)
            assert not (tmp_path / method / "run").exists()
            continue
        manifest = branch(cfg)
        pruning = manifest.pruning
        assert manifest.complete and pruning.method == f"{method}-branch"
        assert abs(pruning.achieved_prunable - sparsity) <= (0.02 if method.startswith("structured") else 0.001)
        assert len(pruning.steps) == BRANCH_STEPS[method]
        assert manifest.epochs == (1 if method == "gmp" else BRANCH_STEPS[method])
        logits[method] = load_logits([Run(tmp_path / method / "run", manifest)], "test_final").logits[0]
    same = [(a, b) for i, a in enumerate(logits) for b in list(logits)[i + 1:] if np.array_equal(logits[a], logits[b])]
    assert not same, f"prune.py methods with identical test logits: {same}"


def test_structured_as_branch(dense_runs, tmp_path):
    """Tiny BERT (2 layers, 2 heads of 16, FFN 64, pooler): of 17,408 prunable weights half go with
    one head (2 x 2,048) and 36 neurons (2 x 2,304) removed per layer."""
    manifest = _branch(dense_runs / "bert" / "run", ["pruning=structured_ft", "sparsity=0.5"], tmp_path)
    assert manifest.pruning.structure == {"heads": [1, 1], "ffn": [28, 28]}
    assert manifest.pruning.achieved_prunable == 0.5 and manifest.pruning.achieved_model > 0


def test_structured_bilstm_branch_removes_lstm_units_and_mlp_channels(dense_runs, tmp_path):
    manifest = _branch(dense_runs / "bilstm" / "run", ["pruning=structured_ft", "sparsity=0.5"], tmp_path)
    structure = manifest.pruning.structure
    assert structure["lstm"][0] < 100 and all(c < full for c, full in zip(structure["mlp"], (256, 128)))
    assert abs(manifest.pruning.achieved_prunable - 0.5) <= 0.02


def test_gradual_schedule_longer_than_training_is_refused(tmp_path):
    from pie.training import train

    with pytest.raises(ValueError, match="prunes at optimizer step 100, but this run takes only 1 steps"):
        train(compose_train([*TINY, "pruning=gmp", "sparsity=0.5"], tmp_path))
