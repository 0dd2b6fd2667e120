"""In-process training runs: determinism, achieved sparsity, the manifest and prediction files."""

import numpy as np
import pytest

from conftest import TINY, compose_train
from pie.runs.discovery import Run, load_logits
from pie.runs.manifest import read_manifest

pytestmark = pytest.mark.slow


def _train(overrides, tmp_path):
    from pie.training import train

    cfg = compose_train([*TINY, *overrides], tmp_path)
    manifest = train(cfg)
    return manifest, tmp_path / "run"


def test_same_seed_twice_gives_bit_identical_logits(tmp_path):
    """BiLSTM, pruned during training: two runs with one seed agree bit for bit; another seed does not."""
    runs = [_train(["seed=3", "pruning=imp_ft", "sparsity=0.5"], tmp_path / name) for name in ("a", "b")]
    other = _train(["seed=4", "pruning=imp_ft", "sparsity=0.5"], tmp_path / "c")
    a, b, c = (load_logits([Run(d, m)], "test_final").logits for m, d in [*runs, other])
    assert a.dtype == np.float32 and a.shape == (1, 40, 2)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("scope", ["layerwise", "global"])
@pytest.mark.parametrize("method", ["imp_ft", "mp_ai"])
def test_achieved_sparsity_equals_target(scope, method, tmp_path):
    """The prunable set ends at the target sparsity within 0.1%, and the masked weights are zero."""
    manifest, run_dir = _train([f"pruning={method}", "sparsity=0.9", f"pruning.scope={scope}"], tmp_path)
    pruning = manifest.pruning
    assert abs(pruning.achieved_prunable - 0.9) <= 0.001
    assert 0 < pruning.achieved_model < pruning.achieved_prunable
    assert len(pruning.steps) == (3 if method == "imp_ft" else 1)
    if scope == "layerwise":
        assert all(abs(s - 0.9) <= 0.001 for s in pruning.per_tensor.values())
    assert pruning.method == (method if scope == "layerwise" else f"{method}-global")


def test_manifest_and_prediction_files(tmp_path):
    """A complete run records config, data fingerprint, sparsity, metrics, versions and four prediction files."""
    manifest, run_dir = _train(["pruning=imp_ft", "sparsity=0.7", "seed=1"], tmp_path)
    on_disk = read_manifest(run_dir)
    assert on_disk == manifest and on_disk.complete
    assert on_disk.seed == 1 and on_disk.config["seed"] == 1
    assert on_disk.dataset.name == "rotten_tomatoes" and len(on_disk.dataset.fingerprint) == 16
    assert on_disk.dataset.sizes == {"train": 64, "validation": 40, "test": 40}
    assert on_disk.pruning.target == pytest.approx(0.7)
    assert set(on_disk.predictions) == {"train_epoch1", "train_final", "validation_final", "test_final"}
    assert on_disk.predictions["train_epoch1"].rows == 64
    assert 0.0 <= on_disk.metrics["test"]["accuracy"] <= 1.0
    assert on_disk.versions["torch"].startswith("2.")
    test = load_logits([Run(run_dir, on_disk)], "test_final")
    accuracy = float((test.logits[0].argmax(1) == test.labels).mean())
    assert accuracy == pytest.approx(on_disk.metrics["test"]["accuracy"])


def test_out_of_range_sparsity_fails_before_any_compute(tmp_path):
    """sparsity=1.0 is refused with a message naming sparsity, and no run directory is created."""
    from pie.training import train

    with pytest.raises(ValueError, match="sparsity must be in"):
        train(compose_train(["pruning=imp_ft", "sparsity=1.0"], tmp_path))
    with pytest.raises(ValueError, match="pruning=none"):
        train(compose_train(["pruning=none", "sparsity=0.5"], tmp_path))
    assert not (tmp_path / "run").exists()
