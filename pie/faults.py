"""Fail points for crash tests: with PIE_FAULT=<point>@<n> in the environment, the process kills
itself with SIGKILL the n-th time it reaches `fault_point("<point>")` (n defaults to 1).

Points: `train_batch` (after each optimizer step), `write:<file name>` (an atomic write whose
temporary file is complete but not yet renamed, e.g. `write:manifest.json`,
`write:test_final.parquet`). Without the variable every point is a no-op.
"""

from __future__ import annotations

import os
import signal
from collections import Counter

ENV = "PIE_FAULT"
_hits: Counter = Counter()


def _target() -> tuple[str, int] | None:
    spec = os.environ.get(ENV, "").strip()
    if not spec:
        return None
    point, _, count = spec.partition("@")
    try:
        return point, int(count or 1)
    except ValueError:
        raise ValueError(f"{ENV}={spec!r}: expected <point>@<n>, e.g. train_batch@3") from None




def fault_point(name: str) -> None:
    """SIGKILL this process if PIE_FAULT names this point and this is its n-th hit."""
    target = _target()
    if target is None or target[0] != name:
        return
    _hits[name] += 1
    if _hits[name] == target[1]:
        os.kill(os.getpid(), signal.SIGKILL)

