"""A run directory's life: claim it (its lock), skip it when a complete run of the same
configuration with sound files is there, else begin it afresh or resume it from its epoch
checkpoint, and finally complete it (manifest written last, checkpoint removed).

Only this module creates and deletes a run's files besides the writers it hands out.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import shutil
import secrets
import socket
import time
from dataclasses import dataclass
from typing import Iterator, Mapping

import torch

from pie.atomic import remove_temporaries
from pie.errors import UserError
from pie.runs.identity import stored_run_key
from pie.runs.lock import run_lock
from pie.runs.manifest import (
    COMPLETE, FAILED, INTERRUPTED, RUNNING, Attempt, BadRun, Branch, Keys, Manifest, Run, WeightsRecord, package_versions,
    read_manifest, write_manifest,
)
from pie.runs.paths import RunPaths
from pie.runs.resume import ResumePoint, find_resume_point
from pie.runs.validation import check_files
from pie.runs.weights import save_weights

log = logging.getLogger(__name__)


class RunConflict(UserError, RuntimeError):
    """The directory holds a complete run of another configuration."""


@dataclass
class Claim:
    """A run directory this process holds: already complete (`skipped`), or to be trained from
    `resume` (None: from scratch) under the running `manifest`."""

    paths: RunPaths
    manifest: Manifest
    resume: ResumePoint | None = None
    skipped: bool = False

    def save_weights(self, state: Mapping[str, torch.Tensor], masks: Mapping[str, torch.Tensor]) -> WeightsRecord:
        """The final weights and masks, safetensors (loadable without pickle)."""
        return save_weights(self.paths.final_weights, state, masks)

    def end(self, status: str, error: BaseException) -> None:
        """Record that this attempt failed or was interrupted (the run resumes when rerun)."""
        attempt = dataclasses.replace(self.manifest.attempts[-1], error=f"{type(error).__name__}: {error}")
        self.manifest = dataclasses.replace(self.manifest, status=status, attempts=[*self.manifest.attempts[:-1], attempt])
        write_manifest(self.paths.root, self.manifest)

    def complete(self, **facts) -> Manifest:
        """Record what the run produced, then status complete (written last), and drop the checkpoint."""
        self.manifest = dataclasses.replace(self.manifest, status=COMPLETE, **facts)
        write_manifest(self.paths.root, self.manifest)
        self.paths.last_checkpoint.unlink(missing_ok=True)
        return self.manifest


def _complete_run(paths: RunPaths, run_key: str) -> Manifest | None:
    """The manifest of a complete run of this configuration whose prediction files all pass their
    checks, or None: then the run is (re)run, from scratch when its files were damaged."""
    if not paths.manifest.exists():
        return None
    try:
        manifest = read_manifest(paths.root)
    except BadRun as error:
        log.warning("rerunning %s from scratch: %s", paths.root, error)
        return None
    if not manifest.complete:
        return None
    if stored_run_key(manifest) != run_key:
        raise RunConflict(
            f"{paths.root} already holds a complete run of another configuration (run key "
            f"{stored_run_key(manifest)}, this one {run_key}). Use another name=... for this sweep, or delete that "
            "directory to rerun it."
        )
    checked = check_files([(Run(paths.root, manifest), name) for name in manifest.predictions])
    if checked.bad:
        log.warning("rerunning %s: it is complete but its prediction files fail their checks:\n%s", paths.root, checked.listing())
        return None
    log.info("skip %s: complete (%s)", paths.root, manifest.metrics["test"])
    return manifest


def _attempt(resume: ResumePoint | None) -> Attempt:
    """Where and from what point this attempt at the run started (kept in the manifest)."""
    return Attempt(
        started=time.strftime("%Y-%m-%dT%H:%M:%S"), host=socket.gethostname(), pid=os.getpid(),
        slurm_job_id=os.environ.get("SLURM_JOB_ID"), slurm_restart_count=os.environ.get("SLURM_RESTART_COUNT"),
        resumed_from=None if resume is None else {"epochs_done": resume.epochs_done, "global_step": resume.global_step},
    )


def _begin(paths: RunPaths, keys: Keys, config: dict, seed: int, branch: Branch | None) -> Claim:
    """The running manifest of this attempt: a fresh run's (its old files removed), or the
    interrupted run's with one more attempt when its checkpoint can be resumed."""
    remove_temporaries(paths.root)
    resume = find_resume_point(paths.root, keys.run)
    if resume is None:
        for stale in paths.outputs:
            shutil.rmtree(stale, ignore_errors=True)
        manifest = Manifest(status=RUNNING, seed=seed, keys=keys, config=config, versions=package_versions(), branch=branch,
                            log_id=secrets.token_hex(8))
    else:
        manifest = dataclasses.replace(read_manifest(paths.root), status=RUNNING)
        log.info("resuming %s after %d epoch(s) from %s", paths.root, resume.epochs_done, resume.path)
    manifest.attempts.append(_attempt(resume))
    write_manifest(paths.root, manifest)
    return Claim(paths, manifest, resume)


@contextlib.contextmanager
def claim(directory: str | os.PathLike, keys: Keys, config: dict, seed: int, branch: Branch | None = None,
          wait_s: float = 0.0) -> Iterator[Claim]:
    """Hold the run directory's lock for the block; the claim says whether the run is complete
    already (skip it) or where to train it from. A block that raises marks the run failed (or
    interrupted, on Ctrl-C or a kill signal turned into an exception) with the error, and its
    traceback goes to the run's log; rerunning resumes it from its last checkpoint."""
    paths = RunPaths.of(directory)
    with run_lock(paths.root, wait_s=wait_s):
        done = _complete_run(paths, keys.run)
        if done is not None:
            paths.last_checkpoint.unlink(missing_ok=True)
            yield Claim(paths, done, skipped=True)
            return
        run = _begin(paths, keys, config, seed, branch)
        try:
            yield run
        except (KeyboardInterrupt, SystemExit) as error:
            run.end(INTERRUPTED, error)
            raise
        except Exception as error:
            log.exception("run %s failed; rerunning its command resumes it from its last checkpoint", paths.root)
            run.end(FAILED, error)
            raise
