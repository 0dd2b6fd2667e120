"""Recovery of pruned models (recover.py): the objectives on hand-made batches, the PIE file's
checks, the comparison with the control on hand-made populations, and the pipeline end to end."""

import math

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import torch

from conftest import TINY, run_cli
from pie.analysis.recovery import Populations, compare, recovery_parts, verdict
from pie.atomic import sha256_file
from pie.errors import ConfigError
from pie.models.objectives import DistillLoss, WeightedLoss
from pie.pies.task import MultiLabel, SingleLabel
from pie.recovery import read_pies
from pie.runs.predictions import ids_sha256

SINGLE, MULTI = SingleLabel(), MultiLabel()


def test_weighted_loss_counts_a_pie_weight_times():
    """CE of logits [0, 0] vs class 0 is ln 2, of [ln 3, 0] vs class 1 is ln 4; the first example
    (training position 2) is a PIE of weight 5: (5 ln 2 + ln 4) / 6 = 0.80867."""
    loss = WeightedLoss(SINGLE, np.array([1.0, 1.0, 5.0, 1.0]))
    batch = {"labels": torch.tensor([0, 1]), "index": torch.tensor([2, 0])}
    value = loss(torch.tensor([[0.0, 0.0], [math.log(3), 0.0]]), batch)
    assert value.item() == pytest.approx((5 * math.log(2) + math.log(4)) / 6, abs=1e-6)
    assert value.item() == pytest.approx(0.80867, abs=1e-5)
    plain = WeightedLoss(SINGLE, np.ones(4))(torch.tensor([[0.0, 0.0], [math.log(3), 0.0]]), batch)
    assert plain.item() == pytest.approx((math.log(2) + math.log(4)) / 2, abs=1e-6)  # all ones: the task's mean loss


def test_soft_targets_are_the_teachers_mean_distribution():
    """Teachers [0, 0] and [ln 3, 0]: (0.5, 0.5) and (0.75, 0.25) at T = 1, mean (0.625, 0.375); at
    T = 2 the second is (sqrt 3, 1) / (sqrt 3 + 1) = (0.63397, 0.36603), mean (0.56699, 0.43301)."""
    teachers = np.array([[[0.0, 0.0]], [[math.log(3), 0.0]]])
    assert SINGLE.soft_targets(teachers, 1.0) == pytest.approx(np.array([[0.625, 0.375]]), abs=1e-6)
    assert SINGLE.soft_targets(teachers, 2.0) == pytest.approx(np.array([[0.566987, 0.433013]]), abs=1e-6)
    multi = np.array([[[0.0]], [[math.log(3)]]])  # one class: sigmoid 0.5 and 0.75
    assert MULTI.soft_targets(multi, 1.0) == pytest.approx(np.array([[0.625]]), abs=1e-6)


def test_distill_loss_is_kl_to_the_soft_targets_mixed_with_the_task_loss():
    """Student [0, 0], label 0, soft (0.625, 0.375) at T = 1, alpha = 1: KL = 0.625 ln 1.25 +
    0.375 ln 0.75 = 0.031583. At T = 2, alpha = 0.5, soft (0.56699, 0.43301): KL = 0.0090017,
    loss = 0.5 * 4 * 0.0090017 + 0.5 * ln 2 = 0.364577."""
    batch = {"labels": torch.tensor([0]), "index": torch.tensor([0])}
    student = torch.zeros(1, 2)
    kl = DistillLoss(SINGLE, np.array([[0.625, 0.375]]), temperature=1.0, alpha=1.0)(student, batch)
    assert kl.item() == pytest.approx(0.625 * math.log(1.25) + 0.375 * math.log(0.75), abs=1e-6)
    assert kl.item() == pytest.approx(0.031583, abs=1e-6)
    mixed = DistillLoss(SINGLE, np.array([[0.566987, 0.433013]]), temperature=2.0, alpha=0.5)(student, batch)
    assert mixed.item() == pytest.approx(0.364577, abs=1e-5)
    # multi-label: BCE of sigmoid(0) = 0.5 against the soft target 0.625 is ln 2 whatever the target
    ml = DistillLoss(MULTI, np.array([[0.625]]), temperature=1.0, alpha=1.0)(torch.zeros(1, 1), {"labels": torch.ones(1, 1),
                                                                                                "index": torch.tensor([0])})
    assert ml.item() == pytest.approx(math.log(2), abs=1e-6)
    with pytest.raises(ValueError, match="temperature"):
        DistillLoss(SINGLE, np.ones((1, 2)) / 2, temperature=0.0, alpha=0.5)


def _pies_file(path, ids, is_pie, method="mp_ai", sparsity=0.9, model_key="k1"):
    frame = pd.DataFrame({"dataset": "d", "model": "bilstm", "method": method, "sparsity": sparsity, "model_key": model_key,
                          "example_id": ids, "position": np.arange(len(ids)), "is_pie": is_pie, "robust": False})
    frame.sample(frac=1.0, random_state=0).to_parquet(path)  # row order must not matter: positions do
    return path


POPULATION = {"dataset": "d", "model_key": "k1", "method": "mp_ai", "sparsity": 0.9}


def test_pie_file_of_the_training_split_is_read_in_its_order(tmp_path):
    ids = [f"d-{i:03d}" for i in range(6)]
    path = _pies_file(tmp_path / "pies.parquet", ids, [False, True, False, False, True, False])
    train_hash = ids_sha256(pa.array(ids))
    assert read_pies(path, POPULATION, train_hash).tolist() == [False, True, False, False, True, False]
    assert not read_pies(path, POPULATION, train_hash, "robust").any()


def test_pie_file_from_other_data_is_refused(tmp_path):
    """A pies.parquet of the test split (other ids), of another subsample, of another population,
    or not a pies.parquet at all: one clear ConfigError each."""
    train = [f"d-{i:03d}" for i in range(6)]
    other = _pies_file(tmp_path / "test_pies.parquet", [f"d-{i:03d}" for i in range(100, 106)], [True] * 6)
    with pytest.raises(ConfigError, match="other data than the source runs' training split"):
        read_pies(other, POPULATION, ids_sha256(pa.array(train)))
    subsample = _pies_file(tmp_path / "sub.parquet", train[:5], [True] * 5)
    with pytest.raises(ConfigError, match="other data"):
        read_pies(subsample, POPULATION, ids_sha256(pa.array(train)))
    elsewhere = _pies_file(tmp_path / "imp.parquet", train, [True] * 6, method="imp_ft")
    with pytest.raises(ConfigError, match="no PIEs of the source population mp_ai@0.9 .* it holds imp_ft@0.9"):
        read_pies(elsewhere, POPULATION, ids_sha256(pa.array(train)))
    pd.DataFrame({"x": [1]}).to_parquet(tmp_path / "summary.parquet")
    with pytest.raises(ConfigError, match="lacks the columns"):
        read_pies(tmp_path / "summary.parquet", POPULATION, ids_sha256(pa.array(train)))
    with pytest.raises(ConfigError, match="no such file"):
        read_pies(tmp_path / "missing.parquet", POPULATION, ids_sha256(pa.array(train)))


def _populations(control_wrong, recovered_wrong, n=40, models=4):
    """Gold 0 everywhere; dense models always right; the control's and the recovered models'
    decisions are 1 (wrong) on the given examples."""
    labels = np.zeros(n, dtype=np.int64)

    def population(wrong):
        decisions = np.zeros((models, n), dtype=np.int64)
        decisions[:, list(wrong)] = 1
        return decisions

    return Populations(SINGLE, 2, labels, np.zeros((models, n), dtype=np.int64), population(control_wrong),
                       population(recovered_wrong))


def test_a_method_that_fixes_the_controls_pies_is_said_to_recover_them():
    """The control's 4 models err on examples 0..7 of 40 (8 PIEs = 20%, accuracy 0.8); the
    recovered models err nowhere (0 PIEs, accuracy 1). Cross-fitted, the PIEs of either half of the
    control are 0..7: the other half scores 0 there, the recovered models 1."""
    row = compare(_populations(range(8), []), np.random.default_rng(0), n_boot=200)
    assert row["pie_percent_control"] == pytest.approx(20.0) and row["pie_percent"] == 0.0
    assert row["delta_pie_percent"] == pytest.approx(-20.0) and row["delta_pie_percent_high"] < 0
    assert (row["score_control"], row["score"], row["delta_score"]) == pytest.approx((0.8, 1.0, 0.2))
    assert (row["control_pies_score_control"], row["control_pies_score"]) == (0.0, 1.0)
    assert row["delta_control_pies_score_low"] == pytest.approx(1.0) and row["control_pies"] == 8
    sentence = verdict({**row, "method": "mp_ai+pie_weight", "sparsity": 0.9, "metric": "accuracy"})
    assert sentence.startswith("mp_ai+pie_weight at sparsity 0.9: recovered PIEs and gained overall accuracy")


def test_a_method_no_different_from_the_control_recovers_nothing():
    row = compare(_populations(range(8), range(8)), np.random.default_rng(0), n_boot=200)
    assert row["delta_pie_percent"] == 0.0 and (row["delta_pie_percent_low"], row["delta_pie_percent_high"]) == (0.0, 0.0)
    assert row["delta_control_pies_score"] == 0.0 and row["delta_score"] == 0.0
    sentence = verdict({**row, "method": "mp_ai+distill", "sparsity": 0.9, "metric": "accuracy"})
    assert "did not measurably recover PIEs (overall accuracy unchanged within noise)" in sentence


def test_a_method_that_fixes_the_controls_pies_but_breaks_others_is_not_called_a_recovery():
    """The recovered models fix the control's PIEs 0..3 but err on 4..19: 16 PIEs (40%) against
    the control's 4 (10%), accuracy 0.6 against 0.9."""
    row = compare(_populations(range(4), range(4, 20)), np.random.default_rng(0), n_boot=200)
    assert row["delta_pie_percent"] == pytest.approx(30.0) and row["delta_score"] == pytest.approx(-0.3)
    assert row["delta_control_pies_score"] == pytest.approx(1.0)
    sentence = verdict({**row, "method": "m+pie_weight", "sparsity": 0.5, "metric": "accuracy"})
    assert "gave mixed signals on PIEs but lost overall accuracy" in sentence


def test_recovery_labels():
    assert recovery_parts("mp_ai+distill") == ("mp_ai", "distill")
    assert recovery_parts("imp_ft-branch+none") == ("imp_ft-branch", "none")
    assert recovery_parts("mp_ai") is None


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """2 seeds of dense and MP-AI 0.9 runs, identify_pies on their training split (and on the test
    split: a PIE file of other data), then the three recovery methods on both seeds."""
    root = tmp_path_factory.mktemp("recovery")
    trained = run_cli("train.py", "-m", "name=src", "seed=0,1", "sparsity=0,0.9", "pruning=mp_ai", *TINY, cwd=root)
    assert trained.returncode == 0, trained.stderr[-3000:]
    train_pies = run_cli("identify_pies.py", "multirun/src", "--split", "train", "--min-seeds", "2", "--no-texts", "--out",
                         "train_pies", cwd=root)
    assert train_pies.returncode == 0, train_pies.stderr[-3000:]
    marked = pd.read_parquet(root / "train_pies" / "pies.parquet")  # tiny models may find no PIEs: mark 10 by hand
    marked.loc[marked["position"] < 10, "is_pie"] = True
    marked.to_parquet(root / "train_pies" / "marked.parquet")
    test_pies = run_cli("identify_pies.py", "multirun/src", "--min-seeds", "2", "--no-texts", "--out", "test_pies", cwd=root)
    assert test_pies.returncode == 0, test_pies.stderr[-3000:]
    recovered = run_cli("recover.py", "-m", "name=rec", "source=multirun/src", "method=mp_ai", "sparsity=0.9", "seed=0,1",
                        "recovery=none,pie_weight,distill", "pies=train_pies/marked.parquet", "weight=3", cwd=root)
    assert recovered.returncode == 0, recovered.stderr[-3000:]
    return root


pipeline = pytest.mark.slow


@pipeline
def test_recovery_runs_hold_their_sources_masks_and_record_their_inputs(study):
    from pie.runs.discovery import discover
    from pie.runs.weights import read_final_weights

    runs = discover([str(study / "multirun" / "rec")]).complete
    assert sorted(r.manifest.pruning.method for r in runs) == sorted(["mp_ai+none", "mp_ai+pie_weight", "mp_ai+distill"] * 2)
    pies_file = study / "train_pies" / "marked.parquet"
    for run in runs:
        manifest = run.manifest
        source = discover([manifest.branch.source]).complete[0]
        assert manifest.keys.model == source.manifest.keys.model and manifest.epochs == 1
        state, masks = read_final_weights(run)
        source_state, source_masks = read_final_weights(source)
        assert masks.keys() == source_masks.keys() and all(torch.equal(masks[k], source_masks[k]) for k in masks)
        assert all(float(state[k][~masks[k]].abs().max()) == 0.0 for k in masks)  # pruned weights stay zero
        assert any(not torch.equal(state[k], source_state[k]) for k in masks)  # and the kept ones were fine-tuned
        recovery = manifest.config["pruning"]["recovery"]
        if recovery["name"] == "pie_weight":
            assert recovery["objective"]["pies_sha256"] == sha256_file(pies_file) and recovery["weight"] == 3
            assert recovery["objective"]["population"]["method"] == "mp_ai" and recovery["train_pies"] == 10
        if recovery["name"] == "distill":
            assert len(recovery["objective"]["teacher_runs"]) == 2
    assert len({r.manifest.keys.pruning for r in runs}) == 3  # three methods, three populations


@pipeline
def test_recover_refuses_pies_of_the_test_split_before_compute(study):
    refused = run_cli("recover.py", "name=bad", "source=multirun/src", "method=mp_ai", "sparsity=0.9", "recovery=pie_weight",
                      "pies=test_pies/pies.parquet", cwd=study)
    assert refused.returncode == 2 and "holds PIEs of other data than the source runs' training split" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    assert not (study / "runs" / "bad").exists() or not any((study / "runs" / "bad").iterdir())  # nothing written
    missing = run_cli("recover.py", "name=bad", "source=multirun/src", "method=imp_ft", "sparsity=0.9", cwd=study)
    assert missing.returncode == 2 and "no complete run of method=imp_ft sparsity=0.9 seed=0" in missing.stderr
    unnamed = run_cli("recover.py", "name=bad", "source=multirun/src", "method=mp_ai", "sparsity=0.9", "recovery=pie_weight",
                      cwd=study)
    assert unnamed.returncode == 2 and "recovery=pie_weight needs pies=" in unnamed.stderr
    same = run_cli("recover.py", "name=bad", "source=multirun/src", "method=mp_ai", "sparsity=0.9", "recovery=pie_weight",
                   "pies=train_pies/marked.parquet", "weight=1", cwd=study)
    assert same.returncode == 2 and "1 is the control" in same.stderr


@pipeline
def test_identify_pies_compares_each_recovery_method_with_its_control(study):
    result = run_cli("identify_pies.py", "multirun/src", "multirun/rec", "--min-seeds", "2", "--no-texts", "--out", "out",
                     cwd=study)
    assert result.returncode == 0, result.stderr[-3000:]
    table = pd.read_csv(study / "out" / "recovery.csv")
    assert sorted(table["method"]) == ["mp_ai+distill", "mp_ai+pie_weight"]
    assert (table["paired_seeds"] == 2).all() and table["verdict"].str.contains("for plain fine-tuning").all()
    for row in table.to_dict("records"):
        assert row["delta_pie_percent_low"] <= row["delta_pie_percent"] <= row["delta_pie_percent_high"]
        assert row["delta_score_low"] <= row["delta_score"] <= row["delta_score_high"]
    summary = pd.read_csv(study / "out" / "summary.csv")
    assert {"mp_ai", "mp_ai+none", "mp_ai+pie_weight", "mp_ai+distill"} <= set(summary["method"])
    report = (study / "out" / "report.html").read_text()
    assert "Recovery: PIE-aware fine-tuning against plain fine-tuning" in report and "Sparsity 0.9" in report
    assert "## Recovery" in (study / "out" / "summary.md").read_text()
    assert (study / "out" / "plots" / "recovery_rotten_tomatoes_bilstm.png").exists()
