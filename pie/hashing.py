"""Content hashes shared by every layer (run keys, data fingerprints, file checksums)."""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path
from typing import Any

PACKAGE = Path(__file__).resolve().parent


def fingerprint_object(obj: Any) -> str:
    """sha256 of a JSON-serialisable object with sorted keys (first 16 hex digits)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


@functools.cache
def code_version(parts: tuple[str, ...]) -> str:
    """The identity of the code in these parts of pie/ (folders, whose *.py files count, or single
    .py files): their sources, with NumPy's, pandas' and Matplotlib's versions (installed, not
    imported: the number is read from the package's metadata). Caches of what that code computes
    (pie.memo, pie.runs.discovery's manifest index) key on it, so that editing the code
    invalidates them."""
    from importlib.metadata import version

    digest = hashlib.sha256("|".join(version(p) for p in ("numpy", "pandas", "matplotlib")).encode())
    files = (p for part in parts for p in ([PACKAGE / part] if part.endswith(".py") else (PACKAGE / part).glob("*.py")))
    for path in sorted(files):
        digest.update(f"{path.parent.name}/{path.name}".encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()
