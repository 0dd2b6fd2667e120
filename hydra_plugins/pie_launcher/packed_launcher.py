"""hydra-submitit-launcher's SLURM launcher, plus `runs_per_task`: one array task (one GPU, or a
set of CPUs) trains K runs of the sweep at once, so a small model does not leave its device idle.

The sweep's jobs are cut into chunks of K in order; each array task forks one process per job of
its chunk and runs it exactly as a task of one job would (the launcher's own per-job call: its
config, Hydra job id, logs and run directory, torch threads as its `threads` says), so every run
keeps its lock, its epoch checkpoints and its resume. On USR2 (time limit or preemption) only the
task's own process checkpoints and requeues, as submitit does for a task of one job: its runs
ignore USR2, and are ended when it exits; the requeued task runs its whole chunk again, where
complete runs are skipped and interrupted ones resume from their last checkpoint. The checked
sweeper refuses K x threads above cpus_per_task before anything is submitted.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
from typing import Any, Sequence

from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, filter_overrides
from hydra_plugins.hydra_submitit_launcher.submitit_launcher import SlurmLauncher

log = logging.getLogger(__name__)


def _run(launcher: SlurmLauncher, job: tuple, connection) -> None:
    """A forked run: one job of the chunk, its JobReturn (or what it raised) sent back. USR2 is the
    task's to handle, and SIGTERM ends the run (submitit's handler in the task only logs it).
    cloudpickle, as submitit's own results: a JobReturn holds the launcher's config, whose class
    Hydra's plugin scan created outside the module registry, which the standard pickle refuses."""
    signal.signal(signal.SIGUSR2, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGUSR2})  # blocked by the task across the fork
    import cloudpickle

    try:
        result = launcher(*job)
    except BaseException as error:  # sent back and raised by the task, as a task of one job would raise it
        result = error
    try:
        payload = cloudpickle.dumps(result)
    except Exception as error:
        payload = cloudpickle.dumps(RuntimeError(f"the result of job {job[2]} cannot be sent back ({error}): {result!r}"))
    connection.send_bytes(payload)


class RunsOfOneTask:
    """The callable of one array task: its chunk's runs in parallel processes; `checkpoint` lets
    submitit requeue the task with the same chunk."""

    def __init__(self, launcher: SlurmLauncher):
        self.launcher = launcher

    def __call__(self, chunk: Sequence[tuple]) -> list[Any]:
        import cloudpickle

        if len(chunk) == 1:
            return [self.launcher(*chunk[0])]
        context = multiprocessing.get_context("fork")
        running = []
        try:
            for job in chunk:
                receive, send = context.Pipe(duplex=False)
                # not a daemon: a run may start processes of its own (data loader workers)
                process = context.Process(target=_run, args=(self.launcher, job, send))
                signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR2})  # a USR2 now is the task's, after the fork
                try:
                    process.start()
                finally:
                    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGUSR2})
                send.close()
                running.append((process, receive))
            results = []
            for (process, receive), job in zip(running, chunk):
                try:
                    results.append(cloudpickle.loads(receive.recv_bytes()))
                except EOFError:
                    process.join()
                    results.append(RuntimeError(f"the run of job {job[2]} ({' '.join(job[0])}) died without a result "
                                                f"(exit code {process.exitcode})"))
        finally:  # also on the requeue's SystemExit: no run outlives its task
            for process, _ in running:
                if process.is_alive():
                    process.terminate()
                process.join()
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return results

    def checkpoint(self, *args: Any, **kwargs: Any) -> Any:
        import submitit

        return submitit.helpers.DelayedSubmission(self, *args, **kwargs)


class PackedSlurmLauncher(SlurmLauncher):
    """SlurmLauncher with `runs_per_task` (K): ceil(jobs / K) array tasks of K runs each; with K = 1
    it is SlurmLauncher itself."""

    def __init__(self, runs_per_task: int = 1, **params: Any) -> None:
        super().__init__(**params)
        self.runs_per_task = runs_per_task

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        if self.runs_per_task == 1:
            return super().launch(job_overrides, initial_job_idx)
        import submitit

        executor = submitit.AutoExecutor(cluster="slurm", folder=self.params["submitit_folder"],
                                         slurm_max_num_timeout=self.params.get("max_num_timeout", 0))
        executor.update_parameters(**self._executor_parameters())
        jobs = []
        for index, overrides in enumerate(job_overrides, start=initial_job_idx):
            log.info(f"\t#{index} : {' '.join(filter_overrides(overrides))}")
            jobs.append((list(overrides), "hydra.sweep.dir", index, f"job_id_for_{index}", Singleton.get_state()))
        chunks = [jobs[i:i + self.runs_per_task] for i in range(0, len(jobs), self.runs_per_task)]
        log.info("%d runs in %d array tasks of up to %d runs each", len(jobs), len(chunks), self.runs_per_task)
        tasks = executor.map_array(RunsOfOneTask(self), chunks)
        return [result for task in tasks for result in task.results()[0]]

    def _executor_parameters(self) -> dict:
        """The launcher's settings as submitit's SLURM executor names them (as SlurmLauncher.launch)."""
        from omegaconf import OmegaConf

        from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf

        shared = set(OmegaConf.structured(BaseQueueConf).keys())
        return {key if key in shared else f"slurm_{key}": value for key, value in self.params.items()
                if key not in ("submitit_folder", "max_num_timeout")}
