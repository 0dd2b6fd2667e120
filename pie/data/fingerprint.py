"""Content fingerprints: a population may only pool runs that saw exactly the same data."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import datasets


def fingerprint_splits(splits: datasets.DatasetDict) -> str:
    """sha256 over split names, example ids, texts and labels, in order (first 16 hex digits)."""
    digest = hashlib.sha256()
    for split in sorted(splits):
        digest.update(f"<split {split}>".encode())
        columns = splits[split].to_dict()
        for row in zip(*(columns[c] for c in sorted(columns))):
            digest.update(json.dumps(row, ensure_ascii=False).encode())
            digest.update(b"\n")
    return digest.hexdigest()[:16]


def fingerprint_object(obj: Any) -> str:
    """sha256 of a JSON-serialisable object with sorted keys (first 16 hex digits)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]
