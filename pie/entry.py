"""Shared set-up for the command-line entry points: offline defaults, quiet libraries, and the
rule that a user's mistake is one line on stderr (what, why, how to fix) with exit code 2, an
interrupt one line with exit code 130, and only a bug a traceback."""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import shutil
import sys
import warnings
from pathlib import Path
from typing import Iterator

from pie.errors import UserError

log = logging.getLogger("pie")
INTERRUPTED = "interrupted; rerun the same command to resume (complete runs are skipped, interrupted ones resume from their last epoch)"


def offline_defaults() -> None:
    """Nothing downloads and W&B stays offline and silent unless the environment says otherwise.
    Called before Hydra composes anything, so the sweeper's checks see the same settings."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("WANDB_MODE", "offline")
    os.environ.setdefault("WANDB_SILENT", "true")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def quiet_libraries(lightning: bool = True) -> None:
    """No library chatter that hides pie's own progress lines. `lightning=False` (identify_pies,
    which trains nothing) spares the seconds of importing Lightning."""
    if lightning:
        importlib.import_module("lightning")  # its import sets its loggers to INFO; lower them afterwards

    for name in ("lightning", "lightning.pytorch", "lightning.fabric", "pytorch_lightning", "matplotlib"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", category=UserWarning, module="lightning")
    warnings.filterwarnings("ignore", category=FutureWarning)


def dry_run_flag(argv: list[str]) -> None:
    """`--dry-run`: plan the sweep (or the single run) without running it (the checked sweeper
    prints which runs are complete, which resume, which are new, and an ETA)."""
    if "--dry-run" in argv:
        argv.remove("--dry-run")
        argv += [*([] if {"-m", "--multirun"} & set(argv) else ["-m"]), "hydra.sweeper.dry_run=true"]


def _options(conf: Path, group: str) -> str:
    return ", ".join(sorted(p.stem for p in (conf / group).glob("*.yaml")))


def app_help(argv: list[str], conf: Path, text: str, groups: tuple[str, ...]) -> None:
    """`-h`/`--help`: the app's own usage and the options of the groups it uses (read from conf/),
    instead of Hydra's dump of every group; Hydra's flags stay under --hydra-help."""
    if not {"-h", "--help"} & set(argv):
        return
    choices = "\n".join(f"  {group + ':':<16} {_options(conf, group)}" for group in groups)
    print(f"{text.strip()}\n\nChoices (group=option):\n{choices}\n\nRerunning a command skips the complete runs and resumes "
          "interrupted ones. The composed config: --cfg job; Hydra's own flags: --hydra-help; more: README.md.")
    sys.exit(0)


def prepare(argv: list[str], conf: Path, text: str, groups: tuple[str, ...]) -> None:
    """What an entry point does before Hydra composes: offline defaults, --help, --dry-run."""
    offline_defaults()
    app_help(argv, conf, text, groups)
    dry_run_flag(argv)


def run_job(app: str, job: str, cfg) -> float:
    """The body of an entry point's Hydra task: pie.training.<job> (train, branch or recover) on
    the composed config, a user's mistake as one line, W&B closed; returns the test accuracy (what
    a Hydra sweeper would optimise)."""
    import importlib

    quiet_libraries()
    from pie.reporting.wandb import finish

    with hydra_job(app):
        try:
            return getattr(importlib.import_module("pie.training"), job)(cfg).metrics["test"]["accuracy"]
        finally:
            finish()


def fail(app: str, message: str, code: int = 2) -> None:
    print(f"{app}: error: {message}", file=sys.stderr)
    sys.exit(code)


@contextlib.contextmanager
def interrupts(app: str) -> Iterator[None]:
    """Ctrl-C anywhere in the process: one line, exit code 130 (128 + SIGINT, what shells and
    schedulers read as an interrupt)."""
    try:
        yield
    except KeyboardInterrupt:
        print(f"{app}: {INTERRUPTED}", file=sys.stderr)
        sys.exit(130)


@contextlib.contextmanager
def hydra_job(app: str) -> Iterator[None]:
    """Inside a Hydra task function: a UserError is one line. A single run exits with code 2 and
    removes the run directory Hydra made for it when pie wrote nothing there yet; in a sweep the
    job logs the line to its log and fails with it (the checked sweeper exits with code 2)."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.errors import CompactHydraException
    from hydra.types import RunMode

    try:
        with interrupts(app):
            yield
    except UserError as error:
        config = HydraConfig.get()
        if config.mode == RunMode.RUN:
            output = config.runtime.output_dir
            if output and set(os.listdir(output)) <= {".hydra", f"{config.job.name}.log"}:  # only Hydra's own files
                logging.shutdown()
                shutil.rmtree(output, ignore_errors=True)
            fail(app, str(error))
        log.error("%s", error)
        raise CompactHydraException(f"{app}: error: {error}") from None
