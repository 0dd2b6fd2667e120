"""One writer per run directory: an exclusive, non-blocking flock on `<run>/.lock`.

The kernel drops the lock when its holder dies (even by SIGKILL), so a crashed run never leaves a
stale lock behind; a second process that tries to write the same run gets a clear error instead
of interleaving its files with the first one's. On a cluster file system the lock holds across
nodes where flock is supported (Lustre mounted with `flock`, NFSv4).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import socket
import time
from typing import Iterator

from pie.errors import UserError
from pie.runs.paths import RunPaths

class RunLocked(UserError, RuntimeError):
    """Another live process is writing this run directory."""


def _acquire(handle, wait_s: float) -> bool:
    deadline = time.monotonic() + wait_s
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except OSError as error:
            if error.errno not in (errno.EAGAIN, errno.EACCES):
                raise
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.5)


@contextlib.contextmanager
def run_lock(run_dir: str | os.PathLike, wait_s: float = 0.0) -> Iterator[None]:
    """Hold the run directory's lock for the duration of the block, or raise RunLocked. `wait_s`
    gives a holder that is shutting down (a requeued job's previous attempt) time to exit."""
    path = RunPaths.of(run_dir).lock
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "a+")
    try:
        if not _acquire(handle, wait_s):
            handle.seek(0)
            holder = handle.read().strip() or "unknown process"
            waited = f", waited {wait_s:g} s" if wait_s else ""
            raise RunLocked(
                f"{run_dir} is being written by another process ({holder}{waited}). Two sweeps or jobs are "
                "running the same run: wait for that one to finish (or stop it), then rerun this "
                "command; complete runs are skipped and interrupted ones resume."
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} on {socket.gethostname()} since {time.strftime('%Y-%m-%d %H:%M:%S')}\n")
        handle.flush()
        yield
    finally:
        handle.close()
