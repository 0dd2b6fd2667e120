"""Shared helpers: compose the project's Hydra config and run its command-line entry points."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

# Offline before any Hugging Face library is imported (they read these at import time).
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "disabled")

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"
# A run that takes seconds: 64 training examples, 40 per evaluation split, one epoch per phase.
TINY = ["dataset.max_train_examples=64", "dataset.max_eval_examples=40", "model.epochs=1", "threads=1"]


def compose_train(overrides: list[str], tmp_path: Path | None = None, config_name: str = "train"):
    """The config as train.py (or prune.py) would see it, with run and cache dirs under tmp_path."""
    GlobalHydra.instance().clear()
    extra = []
    if tmp_path is not None:
        extra = [
            f"paths.root={ROOT}", f"paths.output_dir={tmp_path / 'run'}",
            f"paths.cache_dir={tmp_path / 'cache'}", "~logger",
        ]
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(config_name=config_name, overrides=[*overrides, *extra])


def run_cli(*args: str, cwd: Path, timeout: int = 600, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run `python <script> args...` from the repository, in cwd, with a private cache."""
    env = {**os.environ, "PIE_CACHE_DIR": str(cwd / "cache"), "PYTHONUNBUFFERED": "1", **(env or {})}
    return subprocess.run(
        [sys.executable, str(ROOT / args[0]), *args[1:]],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout,
    )



def lock_holder(run_dir, hold_s: float) -> subprocess.Popen:
    """Another process that holds the run lock of `run_dir` for hold_s seconds (returns once it holds it)."""
    holder = subprocess.Popen(
        [sys.executable, "-c", "import time; from pie.runs.lock import run_lock\n"
         f"with run_lock({str(run_dir)!r}):\n    print('locked', flush=True); time.sleep({hold_s})"],
        stdout=subprocess.PIPE, text=True, cwd=ROOT,
    )
    assert holder.stdout.readline().strip() == "locked"
    return holder
