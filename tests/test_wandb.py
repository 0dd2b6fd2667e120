"""W&B, offline: one run per multirun job with metrics and a per-example prediction table, and
identify_pies' own run with its tables and plots."""

import pytest

from conftest import TINY, run_cli

pytestmark = pytest.mark.slow
OFFLINE = {"WANDB_MODE": "offline", "WANDB_SILENT": "true"}


def test_train_and_identify_log_offline_runs(tmp_path):
    trained = run_cli("train.py", "-m", "name=w", "logger=wandb", "seed=0,1", "pruning=imp_ft", "sparsity=0,0.5",
                      "validate_every_epoch=true", *TINY, cwd=tmp_path, env=OFFLINE)
    assert trained.returncode == 0, trained.stderr[-3000:]
    runs = sorted(tmp_path.glob("multirun/w/*/logs/wandb/offline-run-*"))
    assert len(runs) == 4 and len({r.parent.parent.parent for r in runs}) == 4  # one W&B run per job
    for run in runs:
        log = next(run.glob("run-*.wandb")).read_bytes()
        assert b"predictions/test" in log and b"sparsity/prunable" in log and b"val/acc" in log

    identified = run_cli("identify_pies.py", "multirun/w", "--min-seeds", "2", "--out", "out", "--bootstrap", "20",
                         "--wandb", cwd=tmp_path, env=OFFLINE)
    assert identified.returncode == 0, identified.stderr[-3000:]
    own = list((tmp_path / "out" / "wandb").glob("offline-run-*/run-*.wandb"))
    assert len(own) == 1
    log = own[0].read_bytes()
    assert b"tables/summary" in log and b"plots/influence_rotten_tomatoes_bilstm" in log
