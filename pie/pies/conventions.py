"""The analysis conventions on which the reference code of Tropeano et al. (2025) and pie differ,
as one object chosen once (identify_pies --conventions) and carried by the task (pie.pies.task),
so that every analysis reads the same choice:

- decision: a multi-label model predicts class c when sigmoid(z_c) > τ (the reference) or >= τ
  (pie: the threshold itself counts as reached);
- empty_class_f1: macro-F1 on a subset, for a class with no gold and no predicted positive there:
  "zero" scores it 0 (scikit-learn, the reference) and "omit" leaves it out of the mean (pie: on
  a small subset such as the PIEs most classes are absent, and zeros would say nothing about them);
- loss_ratio: the multi-label A5 loss ratio of a model pair, "per_class" = mean over the classes
  of BCE_pruned / BCE_dense (the reference) or "class_mean" = mean BCE_pruned / mean BCE_dense
  (pie: one near-zero class loss cannot dominate the ratio);
- error_bars: A5 error bars per EL2N bin, "model_std" = the bin mean of the across-model standard
  deviation divided by √n (the reference) or "sem" = the standard error of the per-example ratios
  across the bin's examples (pie: the spread of the quantity plotted).
"""

from __future__ import annotations

from dataclasses import dataclass

from pie.errors import ConfigError


@dataclass(frozen=True)
class Conventions:
    name: str
    decision: str  # ">" or ">="
    empty_class_f1: str  # "zero" or "omit"
    loss_ratio: str  # "per_class" or "class_mean"
    error_bars: str  # "model_std" or "sem"

    @property
    def strict(self) -> bool:
        """Multi-label decisions need sigmoid(z) strictly above τ."""
        return self.decision == ">"

    def describe(self) -> str:
        """One line for the report and the summary."""
        f1 = "a class absent from the subset scores 0" if self.empty_class_f1 == "zero" else "classes absent from the subset left out"
        ratio = "mean of per-class BCE ratios" if self.loss_ratio == "per_class" else "ratio of class-mean BCE"
        bars = "bin mean of the across-model std / √n" if self.error_bars == "model_std" else "SEM across the bin's examples"
        return (f"Analysis conventions: {self.name} (multi-label decision sigmoid(z) {self.decision} τ; subset macro-F1: {f1}; "
                f"multi-label loss ratio: {ratio}; A5 error bars: {bars})")


PIE = Conventions("pie", decision=">=", empty_class_f1="omit", loss_ratio="class_mean", error_bars="sem")
REFERENCE = Conventions("reference", decision=">", empty_class_f1="zero", loss_ratio="per_class", error_bars="model_std")
CONVENTIONS = {c.name: c for c in (PIE, REFERENCE)}


def conventions_named(name: str) -> Conventions:
    if name not in CONVENTIONS:
        raise ConfigError(f"conventions must be one of {', '.join(CONVENTIONS)}, got {name!r}")
    return CONVENTIONS[name]


def deciding(strict: bool) -> Conventions:
    """The conventions of a training run, which uses only their decision rule (threshold.strict)."""
    return REFERENCE if strict else PIE
