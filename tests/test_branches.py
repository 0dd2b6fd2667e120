"""prune.py branches from dense runs, and reloading saved (pruned, structured) runs."""

import numpy as np
import pandas as pd
import pytest

from conftest import TINY, compose_train, run_cli
from pie.restore import restore
from pie.runs.discovery import Run, discover, load_logits
from pie.runs.manifest import read_manifest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def dense_sweep(tmp_path_factory):
    root = tmp_path_factory.mktemp("branches")
    result = run_cli("train.py", "-m", "name=dense", "seed=0,1", *TINY, cwd=root)
    assert result.returncode == 0, result.stderr[-3000:]
    return root


def test_branch_sweep_feeds_identify_pies(dense_sweep):
    """2 seeds x 2 sparsities of IMP-FT branches: same format as train.py, paired with the dense runs."""
    root = dense_sweep
    result = run_cli("prune.py", "-m", "name=br", "source=multirun/dense", "seed=0,1", "sparsity=0.5,0.9",
                     "pruning=imp_ft", "finetune_epochs=1", cwd=root)
    assert result.returncode == 0, result.stderr[-3000:]
    runs = discover([str(root / "multirun" / "br")]).complete
    assert len(runs) == 4
    for run in runs:
        manifest = run.manifest
        assert manifest.pruning.method == "imp_ft-branch" and manifest.epochs == 3  # 3 prunes, 1 epoch after each
        assert abs(manifest.pruning.achieved_prunable - manifest.pruning.target) <= 0.001
        assert manifest.branch.source.endswith(f"seed={manifest.seed},threads=1")
        source = read_manifest(manifest.branch.source)
        assert manifest.keys.model == source.keys.model
        assert manifest.dataset.fingerprint == source.dataset.fingerprint
    identified = run_cli("identify_pies.py", "multirun/dense", "multirun/br", "--min-seeds", "2", "--out", "out", cwd=root)
    assert identified.returncode == 0, identified.stderr[-3000:]
    summary = pd.read_csv(root / "out" / "summary.csv")
    assert list(summary["method"]) == ["dense", "imp_ft-branch", "imp_ft-branch"]
    assert list(summary["sparsity"]) == [0.0, 0.5, 0.9] and list(summary["seeds"]) == [2, 2, 2]


def test_branch_from_missing_or_incomplete_dense_run_is_refused(dense_sweep, tmp_path):
    root = dense_sweep
    missing = run_cli("prune.py", "name=x", "source=multirun/dense", "seed=7", "sparsity=0.5", cwd=root)
    assert missing.returncode != 0 and "no complete dense run with seed=7" in missing.stderr
    nowhere = run_cli("prune.py", "name=x", f"source={tmp_path / 'nothing'}", "sparsity=0.5", cwd=root)
    assert nowhere.returncode != 0 and "no sweep directory matches" in nowhere.stderr


def test_rewinding_branch_starts_from_the_dense_initialisation(dense_sweep):
    """IMP-WR branch: after the prune the kept weights are the dense run's initial weights."""
    root = dense_sweep
    result = run_cli("prune.py", "name=wr", "source=multirun/dense", "seed=1", "sparsity=0.5",
                     "pruning=imp_wr", "finetune_epochs=1", cwd=root)
    assert result.returncode == 0, result.stderr[-3000:]
    manifest = discover([str(root / "runs" / "wr")]).complete[0].manifest
    assert manifest.pruning.rewind_step == 0 and manifest.pruning.method == "imp_wr-branch"


@pytest.mark.parametrize("pruning, sparsity", [("imp_ft", 0.7), ("iibp_ft", 0.7), ("rp_ai", 0.7), ("nm_imp_ft", 0.5)])
def test_pruned_checkpoint_reloads_bit_identical(pruning, sparsity, tmp_path):
    """Weights + masks saved at the end reload into a rebuilt network and reproduce the test logits."""
    from pie.training import train

    manifest = train(compose_train([*TINY, f"pruning={pruning}", f"sparsity={sparsity}"], tmp_path))
    run = Run(tmp_path / "run", manifest)
    parts, masks = restore(run)
    assert masks and all(abs((~m).float().mean().item() - sparsity) <= 0.01 for m in masks.values())
    logits = parts.module.predict_logits(parts.datamodule.ordered_dataloader("test"))
    assert np.array_equal(logits, load_logits([run], "test_final").logits[0])


@pytest.mark.parametrize("model, pruning", [("bert", "structured_ft"), ("bilstm", "structured_imp_wr")])
def test_structured_run_reloads_bit_identical(model, pruning, tmp_path):
    """Structured pruning through train.py: fewer parameters, and the saved run reloads (the
    manifest's structure reshapes a freshly built network before its weights load)."""
    from test_bert import write_tiny_checkpoint

    from pie.training import train

    extra = ["model=bert", f"model.checkpoint={write_tiny_checkpoint(tmp_path / 'ckpt')}", "dataset.max_train_examples=32",
             "dataset.max_eval_examples=16", "dataset.max_length=32"] if model == "bert" else []
    manifest = train(compose_train([*TINY, *extra, f"pruning={pruning}", "sparsity=0.5"], tmp_path))
    pruning_info = manifest.pruning
    if model == "bert":  # 17,408 prunable weights: one head of two and 36 of 64 neurons per layer are half
        assert pruning_info.structure == {"heads": [1, 1], "ffn": [28, 28]} and pruning_info.achieved_prunable == 0.5
    assert pruning_info.steps[-1]["parameters_after"] < pruning_info.steps[0]["parameters_before"]
    run = Run(tmp_path / "run", manifest)
    parts, _ = restore(run)
    assert sum(p.numel() for p in parts.network.parameters()) == pruning_info.model_parameters
    logits = parts.module.predict_logits(parts.datamodule.ordered_dataloader("test"))
    assert np.array_equal(logits, load_logits([run], "test_final").logits[0])
