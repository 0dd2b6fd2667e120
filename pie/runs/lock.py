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
from pathlib import Path
from typing import Iterator

LOCK_FILE = ".lock"


class RunLocked(RuntimeError):
    """Another live process is writing this run directory."""


@contextlib.contextmanager
def run_lock(run_dir: str | os.PathLike) -> Iterator[None]:
    """Hold the run directory's lock for the duration of the block, or raise RunLocked."""
    path = Path(run_dir) / LOCK_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "a+")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            if error.errno not in (errno.EAGAIN, errno.EACCES):
                raise
            handle.seek(0)
            holder = handle.read().strip() or "unknown process"
            raise RunLocked(
                f"{run_dir} is being written by another process ({holder}). Two sweeps or jobs are "
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
