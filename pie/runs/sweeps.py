"""A sweep's plan: which run directories it will fill, which of them are complete already, and
how long the rest should take (from the wall times its complete runs recorded). The checked
sweeper prints it (`--dry-run`) and writes it next to the runs; each run that completes logs
the sweep's progress and an ETA from it."""

from __future__ import annotations

import json
import logging
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

from pie.atomic import write_json
from pie.runs.identity import stored_run_key
from pie.runs.manifest import RESUMABLE, BadRun, read_manifest
from pie.runs.paths import RunPaths

log = logging.getLogger("pie.progress")
PLAN = "sweep_plan.json"
COMPLETE, RESUMES, NEW, OTHER = "complete", "resumes", "new", "refused"  # refused: the directory holds another configuration


@dataclass(frozen=True)
class PlannedRun:
    directory: Path
    run_key: str
    overrides: str

    def status(self) -> tuple[str, float | None]:
        """(what rerunning would do with it, its recorded wall time when complete)."""
        paths = RunPaths.of(self.directory)
        try:
            manifest = read_manifest(self.directory)
        except BadRun:
            return NEW, None
        if stored_run_key(manifest) != self.run_key:
            return OTHER, None
        if manifest.complete:
            return COMPLETE, manifest.wall_time_s
        return (RESUMES if manifest.status in RESUMABLE and paths.last_checkpoint.exists() else NEW), None


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min" if seconds < 7200 else f"{seconds / 3600:.1f} h"


def summary(runs: list[PlannedRun], parallel: int) -> tuple[str, list[str]]:
    """(a one-line summary with an ETA, one line per run) of a sweep about to start."""
    statuses = [run.status() for run in runs]
    times = [t for s, t in statuses if s == COMPLETE and t]
    todo = sum(s in (NEW, RESUMES) for s, _ in statuses)
    counts = {kind: sum(s == kind for s, _ in statuses) for kind in (COMPLETE, RESUMES, NEW, OTHER)}
    eta = (f"about {_duration(todo * statistics.median(times) / max(parallel, 1))} at {parallel} at a time (median of "
           f"{len(times)} complete runs)") if times and todo else "no estimate yet (no complete run to time)" if todo else "nothing to run"
    line = (f"{len(runs)} runs: {counts[COMPLETE]} complete (skipped), {counts[RESUMES]} resume from a checkpoint, "
            f"{counts[NEW]} new" + (f", {counts[OTHER]} directories hold another configuration (refused)" if counts[OTHER] else "")
            + f"; {eta}")
    return line, [f"  {status:<8} {run.directory.name}" for run, (status, _) in zip(runs, statuses)]


def write_plan(sweep_dir: Path, runs: list[PlannedRun]) -> None:
    """The plan each run reads when it completes, to log the sweep's progress."""
    complete = sum(run.status()[0] == COMPLETE for run in runs)
    write_json(Path(sweep_dir) / PLAN, {"started": time.time(), "complete_at_start": complete,
                                        "runs": [{"directory": str(r.directory), "run_key": r.run_key} for r in runs]})


def log_progress(run_dir: Path) -> None:
    """After a run completes: "sweep: k of n runs complete, ETA ..." when its sweep has a plan."""
    path = Path(run_dir).resolve().parent / PLAN
    try:
        plan = json.loads(path.read_text())
    except (OSError, ValueError):
        return
    runs = [PlannedRun(Path(r["directory"]), r["run_key"], "") for r in plan["runs"]]
    done = sum(run.status()[0] == COMPLETE for run in runs)
    done_here, left = done - plan["complete_at_start"], len(runs) - done
    eta = f", ETA {_duration((time.time() - plan['started']) / done_here * left)} at this sweep's pace" if done_here > 0 and left else ""
    log.info("sweep %s: %d of %d runs complete%s", path.parent.name, done, len(runs), eta)
