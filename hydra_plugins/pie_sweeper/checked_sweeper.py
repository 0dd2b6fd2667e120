"""Hydra's basic sweeper, plus pie's configuration checks on every job before the first launches:
a bad value in job 900 of a 1,230-job SLURM array is refused at submission, not hours in."""

from __future__ import annotations

from typing import Dict, Optional, Sequence

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.errors import CompactHydraException
from hydra.utils import get_method


class BadSweep(CompactHydraException, ValueError):
    """Jobs of a sweep whose configuration fails pie's checks (Hydra prints just this message)."""


class CheckedSweeper(BasicSweeper):
    """`check` names a function of a job's composed config that raises on a bad one
    (pie.checks.train_config, pie.checks.prune_config)."""

    def __init__(self, check: str, max_batch_size: Optional[int] = None, params: Optional[Dict[str, str]] = None):
        super().__init__(max_batch_size=max_batch_size, params=params)
        self.check = get_method(check)

    def validate_batch_is_legal(self, batch: Sequence[Sequence[str]]) -> None:
        """Compose every job (Hydra's own check), then run pie's checks; one error lists each bad job."""
        super().validate_batch_is_legal(batch)
        problems = []
        for overrides in batch:
            cfg = self.hydra_context.config_loader.load_sweep_config(master_config=self.config, sweep_overrides=list(overrides))
            try:
                self.check(cfg)
            except (ValueError, FileNotFoundError, ModuleNotFoundError) as error:
                problems.append(f"  {' '.join(overrides)}: {error}")
        if problems:
            raise BadSweep(
                f"{len(problems)} of {len(batch)} jobs of this sweep have a bad configuration; nothing was "
                "launched. Fix these values and rerun:\n" + "\n".join(problems[:20])
                + (f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else "")
            )
