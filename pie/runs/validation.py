"""Check every prediction file an analysis will read against its run's manifest before anything
is computed, collecting every problem (not only the first) so that one message names them all."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from pie.errors import UserError
from pie.parallel import in_order, shared
from pie.runs.manifest import Run
from pie.runs.predictions import BadPredictionFile, check_predictions, locate


RERUN = "rerun those runs (rerunning their sweep command reruns runs with damaged files and resumes interrupted ones)"


@dataclass(frozen=True)
class BadFile:
    run: Path  # the run directory
    file: str  # the prediction file, relative to the run directory
    reason: str  # what is wrong with it


@dataclass(frozen=True)
class Checked:
    bad: list[BadFile]

    @property
    def bad_runs(self) -> list[Path]:
        return sorted({b.run for b in self.bad})

    def listing(self) -> str:
        """One line per bad file: its path and what is wrong."""
        return "\n".join(f"  {b.run / b.file}: {b.reason}" for b in self.bad)


def _check(run: Run, name: str, check) -> BadFile | None:
    try:
        check(run, name, *locate(run, name))
    except BadPredictionFile as error:
        return BadFile(Path(run.directory), str(error.path.relative_to(run.directory)), error.reason)
    return None


def _check_predictions(run: Run, name: str, path: Path, record) -> None:
    check_predictions(path, record)


def _known(run: Run, name: str, known) -> bool:
    try:
        return known(run, name, *locate(run, name))
    except BadPredictionFile:
        return False


def check_files(reads: Iterable[tuple[Run, str]], workers: int = 4, check=_check_predictions, known=None,
                processes: int = 1, batch: int = 16, settle=None) -> Checked:
    """Check the `name` prediction file of each (run, name): a manifest record, the file, its
    checksum, shape and example ids. Threads overlap the reads and hashes (both release the GIL).
    `check(run, name, path, record)` raises BadPredictionFile; pie.runs.derived's also derives
    and caches what the analyses need of the file while its bytes are in memory. Files that
    `known(run, name, path, record)` says passed before are skipped in this thread: for files
    that need no reading, a pool's hand-offs cost more than the check (6.0 s vs 1.8 s for 20k).
    With `processes` > 1 the files are checked in that many forked processes (pie.parallel), in
    batches of `batch` files (~0.1 s of work at the paper's shape), each process with its share of
    the `workers` threads: a derivation is partly Python and NumPy that hold the GIL, so the threads
    of one process kept 2 CPUs only ~80% busy (one dataset of the paper's grid, 5,040 files: 15.2
    s in 4 threads, 12.9 s in 2 processes of 2 threads, medians of 3). `settle()`, when given, runs
    in the checking process after each batch of checks (pie.runs.derived's RunArrays.settle)."""
    reads = [read for read in reads if known is None or not _known(*read, known)]
    if processes > 1 and len(reads) > batch:
        jobs = ((start, (start, batch)) for start in range(0, len(reads), batch))
        shared_ = (reads, check, max(1, workers // processes), settle)
        outcomes = [outcome for _, done in in_order(jobs, _checked_batch, processes, shared=shared_, ahead=4 * processes)
                    for outcome in done]
    else:
        outcomes = _checked(reads, check, workers, settle)
    return Checked(sorted((o for o in outcomes if o is not None), key=lambda b: (str(b.run), b.file)))


def _checked(reads: list[tuple[Run, str]], check, threads: int, settle=None) -> list[BadFile | None]:
    with ThreadPoolExecutor(max_workers=threads) as pool:
        outcomes = list(pool.map(lambda read: _check(*read, check), reads))
    if settle is not None:
        settle()
    return outcomes


def _checked_batch(start: int, size: int) -> list[BadFile | None]:
    """The outcomes of `size` files from `start` of the running check_files call's reads."""
    reads, check, threads, settle = shared()
    return _checked(reads[start:start + size], check, threads, settle)


class BadPredictionFiles(UserError, ValueError):
    """Runs whose prediction files failed their checks, all named in one message with the fixes."""

    def __init__(self, checked: Checked):
        self.bad = checked.bad
        super().__init__(
            f"{len(checked.bad_runs)} run(s) have bad prediction files ({len(checked.bad)} file(s)); nothing was "
            f"computed:\n{checked.listing()}\nFix: {RERUN} or pass --skip-bad to exclude them."
        )
