"""Write-then-rename, so a reader never sees a half-written file."""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import json
import os
import threading
from pathlib import Path
from typing import Iterator

from pie.faults import fault_point

TEMPORARY = ".*.tmp"
_LIBC = ctypes.CDLL(None, use_errno=True)  # the C library this process links (syncfs)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, durable: bool = True) -> Iterator[Path]:
    """Yield a temporary sibling path, private to this process and thread; on success fsync it and
    rename it over `path`. durable=False skips the fsync: readers still never see half a file,
    but after a power loss the file may hold zeros, so nothing may vouch for it before a
    sync_filesystem (pie.runs.derived's markers)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{threading.get_ident()}.tmp")
    try:
        yield tmp
        if durable:
            with open(tmp, "rb") as handle:
                os.fsync(handle.fileno())
        fault_point(f"write:{path.name}")
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def sync_filesystem(path: str | os.PathLike) -> None:
    """Make every write to the filesystem that holds `path` durable, renames included: syncfs(2)
    where the C library has it (Linux), else sync(2) of every filesystem. One call for a batch
    of files costs less than an fsync each (pie.runs.derived)."""
    syncfs = getattr(_LIBC, "syncfs", None)
    if syncfs is None:
        os.sync()
        return
    descriptor = os.open(path, os.O_RDONLY)
    try:
        if syncfs(descriptor) != 0:
            error = ctypes.get_errno()
            raise OSError(error, f"syncfs: {os.strerror(error)}", os.fspath(path))
    finally:
        os.close(descriptor)


def remove_temporaries(directory: str | os.PathLike) -> int:
    """Delete the temporary files that writes killed before their rename left under `directory`."""
    leftovers = list(Path(directory).rglob(TEMPORARY)) if Path(directory).is_dir() else []
    for path in leftovers:
        path.unlink(missing_ok=True)
    return len(leftovers)


def write_json(path: str | os.PathLike, obj) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")


def sha256_file(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
