"""How identify_pies analyses each population pair: its command-line choices, checked once."""

from __future__ import annotations

from dataclasses import dataclass

from pie.errors import ConfigError
from pie.pies.conventions import CONVENTIONS
from pie.pies.modal import TIE_RULES

PIE_SETS = ("modal", "robust")


@dataclass(frozen=True)
class AnalysisOptions:
    tie: str = "lowest"  # modal-label ties: lowest, highest, pie, exclude
    n_boot: int = 200  # bootstrap repeats of every interval
    overlap_repeats: int = 20  # PIE-set overlap draws per population size (A8)
    examples_per_group: int = 15  # A7 examples shown per group
    pie_set: str = "modal"  # the PIEs A3, A4, A6, A7 study: modal (the paper's) or robust
    robust_level: float = 0.9  # confidence of a robust PIE (share of the seed draws in which it is a PIE)
    noise_repeats: int = 200  # seed draws of the null model and of the confidence
    degenerate_share: float = 0.99  # a model giving one decision to this share of the examples is degenerate
    conventions: str = "pie"  # analysis conventions (pie.pies.conventions): pie's or the reference code's

    def check(self) -> "AnalysisOptions":
        """Raises ConfigError naming the first bad option and its allowed values."""
        problems = [
            (self.tie not in TIE_RULES, f"tie must be one of {', '.join(TIE_RULES)}, got {self.tie!r}"),
            (self.conventions not in CONVENTIONS, f"conventions must be one of {', '.join(CONVENTIONS)}, got {self.conventions!r}"),
            (self.pie_set not in PIE_SETS, f"pie set must be one of {', '.join(PIE_SETS)}, got {self.pie_set!r}"),
            (not 0 < self.robust_level <= 1, f"the robust level must lie in (0, 1], got {self.robust_level}"),
            (not 0 < self.degenerate_share <= 1, f"the degenerate share must lie in (0, 1], got {self.degenerate_share}"),
            (min(self.n_boot, self.noise_repeats, self.overlap_repeats) < 1, "bootstrap, noise and overlap repeats must be >= 1"),
        ]
        for bad, message in problems:
            if bad:
                raise ConfigError(message)
        return self
