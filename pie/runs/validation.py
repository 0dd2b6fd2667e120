"""Check every prediction file an analysis will read against its run's manifest before anything
is computed, collecting every problem (not only the first) so that one message names them all."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from pie.errors import UserError
from pie.runs.manifest import Run
from pie.runs.predictions import BadPredictionFile, check_predictions, locate


RERUN = "rerun those runs (rerunning their sweep command reruns runs with damaged files and resumes interrupted ones)"


@dataclass(frozen=True)
class BadFile:
    run: Path  # the run directory
    file: str  # the prediction file, relative to the run directory
    reason: str  # what is wrong with it


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_size, stat.st_mtime_ns


@dataclass(frozen=True)
class Checked:
    bad: list[BadFile]
    passed: dict[Path, tuple[int, int] | None]  # file -> (size, mtime_ns) taken before it was checked

    @property
    def bad_runs(self) -> list[Path]:
        return sorted({b.run for b in self.bad})

    def listing(self) -> str:
        """One line per bad file: its path and what is wrong."""
        return "\n".join(f"  {b.run / b.file}: {b.reason}" for b in self.bad)

    def unchanged(self, path: Path) -> bool:
        """The file passed and has not been touched since, so reading it need not hash it again."""
        stamp = self.passed.get(Path(path))
        return stamp is not None and _stamp(Path(path)) == stamp


def _check(run: Run, name: str) -> tuple[Path, tuple[int, int] | None] | BadFile:
    try:
        path, record = locate(run, name)
        stamp = _stamp(path)
        check_predictions(path, record)
    except BadPredictionFile as error:
        return BadFile(Path(run.directory), str(error.path.relative_to(run.directory)), error.reason)
    return path, stamp


def check_files(reads: Iterable[tuple[Run, str]], workers: int = 4) -> Checked:
    """Check the `name` prediction file of each (run, name): a manifest record, the file, its
    checksum, shape and example ids. Threads overlap the reads and hashes (both release the GIL)."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        outcomes = list(pool.map(lambda read: _check(*read), reads))
    bad = sorted((o for o in outcomes if isinstance(o, BadFile)), key=lambda b: (str(b.run), b.file))
    passed = dict(o for o in outcomes if not isinstance(o, BadFile))
    return Checked(bad, passed)


class BadPredictionFiles(UserError, ValueError):
    """Runs whose prediction files failed their checks, all named in one message with the fixes."""

    def __init__(self, checked: Checked):
        self.bad = checked.bad
        super().__init__(
            f"{len(checked.bad_runs)} run(s) have bad prediction files ({len(checked.bad)} file(s)); nothing was "
            f"computed:\n{checked.listing()}\nFix: {RERUN} or pass --skip-bad to exclude them."
        )
