"""Hydra's basic sweeper, plus pie's configuration checks on every job before the first launches
(a bad value in job 900 of a 1,230-job SLURM array is refused at submission, not hours in), and
one launch per run: jobs that compose to the same run (`pruning=imp_ft,mp_ai sparsity=0,0.9`
holds the dense run twice) run once."""

from __future__ import annotations

import logging
from typing import Dict, Optional, Sequence

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.errors import CompactHydraException
from hydra.utils import get_method

log = logging.getLogger(__name__)


class BadSweep(CompactHydraException, ValueError):
    """Jobs of a sweep whose configuration fails pie's checks (Hydra prints just this message)."""


class CheckedSweeper(BasicSweeper):
    """`check` names a function of a job's composed config that raises on a bad one and returns
    the job's pie.checks.Job (pie.checks.train_job, pie.checks.prune_job)."""

    def __init__(self, check: str, max_batch_size: Optional[int] = None, params: Optional[Dict[str, str]] = None):
        super().__init__(max_batch_size=max_batch_size, params=params)
        self.check = get_method(check)
        self.launched: dict[str, str] = {}  # run key -> overrides of the job that runs it

    def validate_batch_is_legal(self, batch: Sequence[Sequence[str]]) -> None:
        """Nothing left to do: get_job_batch composed and checked every job of the batch."""

    def get_job_batch(self) -> Sequence[Sequence[str]]:
        """The next batch, every job composed (Hydra's own check) and checked by pie; one error
        lists each bad job. Jobs that are the same run as an earlier job are left out."""
        from pie.checks import presets_pruning_nothing, prunes_nothing_message

        batch = super().get_job_batch()
        problems, jobs, kept = [], [], []
        for overrides in batch:
            cfg = self.hydra_context.config_loader.load_sweep_config(master_config=self.config, sweep_overrides=list(overrides))
            try:
                job = self.check(cfg)
            except (ValueError, FileNotFoundError, ModuleNotFoundError) as error:
                problems.append(f"  {' '.join(overrides)}: {error}")
                continue
            jobs.append(job)
            if job.run_key in self.launched:
                log.info("%s is the same run as %s; it runs once", " ".join(overrides), self.launched[job.run_key])
            else:
                self.launched[job.run_key] = " ".join(overrides)
                kept.append(list(overrides))
        if problems:
            raise BadSweep(
                f"{len(problems)} of {len(batch)} jobs of this sweep have a bad configuration; nothing was launched. "
                "Fix these values and rerun:\n" + "\n".join(problems[:20])
                + (f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else "")
            )
        unpruned = presets_pruning_nothing(jobs)
        if unpruned:
            raise BadSweep("no job of this sweep prunes; nothing was launched:\n" + "\n".join(f"  {prunes_nothing_message(p)}" for p in unpruned))
        if len(kept) < len(batch):
            log.info("%d of %d jobs are runs of other jobs (e.g. the dense run at sparsity=0 under several methods); "
                     "%d distinct runs", len(batch) - len(kept), len(batch), len(kept))
        return kept
