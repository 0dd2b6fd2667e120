"""Content fingerprints: a population may only pool runs that saw exactly the same data."""

from __future__ import annotations

import hashlib
import json

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
