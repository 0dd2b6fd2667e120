"""Content hashes shared by every layer (run keys, data fingerprints, file checksums)."""

from __future__ import annotations

import hashlib
import json
from typing import Any


def fingerprint_object(obj: Any) -> str:
    """sha256 of a JSON-serialisable object with sorted keys (first 16 hex digits)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]
