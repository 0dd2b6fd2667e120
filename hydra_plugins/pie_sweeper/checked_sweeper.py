"""Hydra's basic sweeper, plus what a sweep of pie runs needs before anything starts:

- `key=a..b` (integers, both included) is accepted as `range(a,b+1)`: `seed=0..29` needs no
  quoting in bash, where `seed=range(0,30)` does;
- every job is composed and checked by pie (a bad value in job 900 of a 1,230-job SLURM array is
  refused at submission, not hours in); one message lists every bad job, exit code 2;
- jobs that compose to the same run (`pruning=imp_ft,mp_ai sparsity=0,0.9` holds the dense run
  twice) run once;
- the plan (runs complete, to resume, new; an ETA from the complete runs' wall times) is printed,
  and with `hydra.sweeper.dry_run=true` (train.py/prune.py `--dry-run`) nothing else happens;
- with `hydra.launcher.runs_per_task=K` (hydra_plugins/pie_launcher), K must be a positive integer
  and each array task's CPUs must hold its K runs' threads;
- a job that fails with a user's mistake (a run locked by another process...) ends the sweep
  with its one line and exit code 2.
"""

from __future__ import annotations

import logging
import re
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import CompactHydraException
from hydra.utils import get_method
from omegaconf import OmegaConf

log = logging.getLogger(__name__)
INTEGER_RANGE = re.compile(r"^([\w.+~/@-]+)=(-?\d+)\.\.(-?\d+)$")


def expand_ranges(arguments: Sequence[str]) -> list[str]:
    """`key=a..b` as Hydra's `key=range(a,b+1)`; every other argument as it is."""
    expanded = []
    for argument in arguments:
        match = INTEGER_RANGE.match(argument)
        expanded.append(f"{match[1]}=range({match[2]},{int(match[3]) + 1})" if match else argument)
    return expanded


def fail(message: str) -> None:
    print(message, file=sys.stderr)
    sys.exit(2)


class CheckedSweeper(BasicSweeper):
    """`check` names a function of a job's composed config that raises pie.errors.UserError on a
    bad one and returns the job's pie.checks.Job (pie.checks.train_job, pie.checks.prune_job)."""

    def __init__(self, check: str, max_batch_size: Optional[int] = None, params: Optional[Dict[str, str]] = None,
                 dry_run: bool = False):
        super().__init__(max_batch_size=max_batch_size, params=params)
        self.check = get_method(check)
        self.dry_run = dry_run
        self.threads = 1  # the most torch threads of any job of the sweep

    def _plan(self, batch: Sequence[Sequence[str]], launched: dict) -> tuple[list[list[str]], list]:
        """The batch's distinct runs (overrides, planned run); fails with every bad job listed."""
        from pie.checks import presets_pruning_nothing, prunes_nothing_message
        from pie.errors import UserError
        from pie.runs.sweeps import PlannedRun

        problems, jobs, kept, planned = [], [], [], []
        for overrides in batch:
            cfg = self.hydra_context.config_loader.load_sweep_config(master_config=self.config, sweep_overrides=list(overrides))
            try:
                job = self.check(cfg)
            except UserError as error:
                problems.append(f"  {' '.join(overrides)}: {error}")
                continue
            jobs.append(job)
            self.threads = max(self.threads, int(OmegaConf.select(cfg, "threads", default=1) or 1))
            if job.run_key in launched:
                log.info("%s is the same run as %s; it runs once", " ".join(overrides), launched[job.run_key])
                continue
            launched[job.run_key] = " ".join(overrides)
            kept.append(list(overrides))
            directory = Path(cfg.hydra.sweep.dir) / str(cfg.hydra.sweep.subdir)
            planned.append(PlannedRun(directory.resolve(), job.run_key, " ".join(overrides)))
        if problems:
            fail(f"{len(problems)} of {len(batch)} jobs of this sweep have a bad configuration; nothing was launched. "
                 "Fix these values and rerun:\n" + "\n".join(problems[:20])
                 + (f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""))
        unpruned = presets_pruning_nothing(jobs)
        if unpruned:
            fail("no job of this sweep prunes; nothing was launched:\n" + "\n".join(f"  {prunes_nothing_message(p)}" for p in unpruned))
        if len(kept) < len(batch):
            log.info("%d of %d jobs are runs of other jobs (e.g. the dense run at sparsity=0 under several methods); "
                     "%d distinct runs", len(batch) - len(kept), len(batch), len(kept))
        return kept, planned

    def _runs_per_task(self) -> int:
        """hydra.launcher.runs_per_task (1 for launchers without it), checked against the task's CPUs:
        K runs of `threads` threads each on fewer CPUs would fight over them and lose the gain."""
        launcher = self.config.hydra.launcher
        k = OmegaConf.select(launcher, "runs_per_task", default=1)
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            fail(f"hydra.launcher.runs_per_task must be a positive integer, got {k!r}")
        cpus = OmegaConf.select(launcher, "cpus_per_task", default=None)
        if k > 1 and cpus is not None and k * self.threads > cpus:
            fail(f"hydra.launcher.runs_per_task={k} runs of threads={self.threads} need {k * self.threads} CPUs per task, but "
                 f"hydra.launcher.cpus_per_task={cpus}: set hydra.launcher.cpus_per_task={k * self.threads}, or lower threads "
                 "or runs_per_task")
        return k

    def _parallel(self) -> int:
        """Runs at a time: local processes, or array tasks times the runs of each task."""
        launcher = self.config.hydra.launcher
        tasks = OmegaConf.select(launcher, "n_jobs", default=None) or OmegaConf.select(launcher, "array_parallelism", default=1) or 1
        return int(tasks) * self._runs_per_task()

    def sweep(self, arguments: List[str]) -> Any:
        from pie.runs.sweeps import summary, write_plan

        parser = OverridesParser.create(config_loader=self.hydra_context.config_loader)
        overrides = parser.parse_overrides(expand_ranges([*self._parse_config(), *arguments]))
        self.overrides = self.split_arguments(overrides, self.max_batch_size)
        sweep_dir = Path(self.config.hydra.sweep.dir)
        launched: dict[str, str] = {}
        batches = []
        while not self.is_done():
            batches.append(self._plan(self.get_job_batch(), launched))
        planned = [run for _, runs in batches for run in runs]
        line, rows = summary(planned, self._parallel())
        if self.dry_run:
            print(f"dry run of {sweep_dir}: {line}\n" + "\n".join(rows))
            return []
        log.info("sweep %s: %s", sweep_dir, line)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")
        write_plan(sweep_dir, planned)
        returns, index = [], 0
        for batch, _ in batches:
            results = self.launcher.launch(batch, initial_job_idx=index)
            for result in results:
                try:
                    _ = result.return_value
                except CompactHydraException as error:
                    fail(str(error))
            index += len(batch)
            returns.append(results)
        return returns
