"""fidelity=reference: one switch sets every training-side behaviour of the reference code, with
every config it composes with, and a run records and uses each of them."""

import numpy as np
import pytest

from conftest import TINY, compose_train
from manifests import make_manifest
from pie.checks import build_schedule, check_fidelity
from pie.errors import ConfigError
from pie.pies.conventions import REFERENCE
from pie.pies.decisions import GRID
from pie.pruning import selection
from pie.runs.discovery import load_logits
from pie.runs.identity import config_keys
from pie.runs.manifest import DENSE, Run
from test_multi_label_pipeline import write_corpus

SWITCHED = {"fidelity": "reference", "pair_encoding": "reference", "threshold": {"tune_on": "train_epoch", "strict": True}}


@pytest.mark.parametrize("overrides", [[], ["model=bert"], ["experiment=paper", "dataset=reuters", "model=bilstm", "arm=iibp_ft_50"],
                                       ["experiment=demo_multilabel"], ["pruning=ibp_ai", "sparsity=0.9"]])
def test_fidelity_reference_sets_every_training_side_behaviour(overrides, tmp_path):
    cfg = compose_train([*overrides, "fidelity=reference"], tmp_path)
    default = compose_train(overrides, tmp_path)
    assert default.fidelity == "pie" and default.threshold.strict is False and default.selection._target_.endswith("by_patterns")
    assert {key: cfg[key] for key in SWITCHED} == SWITCHED
    assert cfg.selection._target_ == "pie.pruning.selection.reference"
    assert cfg.model.pad_to_max_length is True
    assert cfg.model.network.get("packed", False) is False  # the BiLSTM's padded readout; BERT has no such setting
    assert cfg.pruning.gradients.mode == "reference" and cfg.pruning.gradients.resample is True
    assert cfg.sparsity == default.sparsity and cfg.pruning.name == default.pruning.name
    dense = not build_schedule(cfg).steps
    assert config_keys(cfg, dense).run != config_keys(default, dense).run


@pytest.mark.slow
def test_a_fidelity_reference_run_records_and_uses_every_switched_behaviour(tmp_path):
    """A multi-label BiLSTM run with IIBP-FT 50% (three prunes): selection, a fresh gradient sample
    (the last batch of 10) at each prune, τ tuned on the training epoch deciding sigmoid > τ, the
    padded readout, and the test metrics right before and after each prune."""
    from pie.restore import restore
    from pie.training import train

    corpus = write_corpus(tmp_path / "aapd")
    cfg = compose_train([*TINY, "fidelity=reference", "dataset=aapd", f"dataset.source.path={corpus}", "pruning=iibp_ft",
                         "sparsity=0.5", "pruning.gradients.samples=30"], tmp_path)
    manifest = train(cfg)
    run = Run(tmp_path / "run", manifest)
    config = manifest.config
    assert config["fidelity"] == "reference" and config["selection"]["_target_"] == "pie.pruning.selection.reference"
    assert config["model"]["network"]["packed"] is False and config["model"]["pad_to_max_length"] is True

    steps = manifest.pruning.steps
    samples = [tuple(step["gradient_examples"]) for step in steps]
    assert len(samples) == 3 and len(set(samples)) == 3 and all(len(s) == 10 for s in samples)
    assert all({"macro_f1", "accuracy"} <= set(step["test_before"]) and step["test_after"] for step in steps)
    assert len(manifest.prune_measures) == 3 and manifest.prune_measures[0]["measure"] == "macro_f1"

    assert manifest.threshold.tuned_on == "train_epoch" and manifest.threshold.decision == ">"
    assert manifest.threshold.value in GRID

    parts, _ = restore(run, cache_dir=str(tmp_path / "cache"))
    network = parts.network
    assert network.packed is False
    assert sorted(manifest.pruning.per_tensor) == sorted(selection.reference(network))
    batch = next(iter(parts.datamodule.ordered_dataloader("test")))
    assert batch["input_ids"].shape[1] == parts.data.max_length  # padded to the max length, not to the batch
    logits = parts.module.predict_logits(parts.datamodule.ordered_dataloader("test"))
    stored = load_logits([run], "test_final")
    np.testing.assert_array_equal(logits, stored.logits[0])  # the padded readout made the logged logits
    task = parts.module.task
    assert task.conventions is REFERENCE
    assert manifest.metrics["test"] == pytest.approx(task.run_metrics(logits, stored.labels.copy(), manifest.threshold.value))


def test_a_branch_must_name_its_dense_runs_fidelity(tmp_path):
    """prune.py takes the selection and gradient settings from its own config, so it refuses a
    fidelity other than the dense run's (a run recorded before fidelity existed is fidelity=pie)."""
    older = Run(tmp_path, make_manifest(method=DENSE))
    check_fidelity(compose_train(["source=x"], config_name="prune"), older)
    with pytest.raises(ConfigError, match="trained with fidelity=pie: add fidelity=pie to the prune.py command"):
        check_fidelity(compose_train(["source=x", "fidelity=reference"], config_name="prune"), older)
    reference = make_manifest(method=DENSE)
    reference.config["fidelity"] = "reference"
    branch = compose_train(["source=x", "fidelity=reference"], config_name="prune")
    check_fidelity(branch, Run(tmp_path, reference))
    assert branch.selection._target_ == "pie.pruning.selection.reference" and branch.pruning.gradients.resample is True
