"""The recovery study (recover.py), beyond the paper: does a recovery method hurt fewer examples
than plain fine-tuning at the same budget (its control, <source>+none), without losing overall
accuracy?

Each recovery population R is compared with its control C, both of the same source method and
sparsity; the runs of seed s of R and of C start from the same pruned run, so R and C are paired
by seed. Three differences R - C, each with a paired bootstrap interval:

- % PIEs against the dense population;
- the task's score (accuracy, or macro-F1 for multi-label data) on the control's PIEs,
  cross-fitted: the control's seeds split into two halves by seed order; the PIEs of one half
  (against the dense population) score the other half of C and the same seeds of R, and the
  two folds are averaged. Scoring C on PIEs its own models selected would understate its score
  (regression to the mean) and favour any other population;
- the overall score (mean over models).

A bootstrap draw resamples the test examples, the dense models, and the paired seeds (within each
half for the cross-fit): the spirit of MultiBERTs' multi-bootstrap (arXiv 2106.16163).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pie.pies.task import Task

CONTROL = "none"


def recovery_parts(method: str) -> tuple[str, str] | None:
    """(source method, recovery method) of a recovery population's label (mp_ai+distill), else None."""
    if "+" not in method:
        return None
    source, recovery = method.rsplit("+", 1)
    return source, recovery


@dataclass(frozen=True)
class Populations:
    """Decisions of the dense, control and recovered populations on one split; `control` and
    `recovered` rows are paired (the same seeds in the same order)."""

    task: Task
    num_classes: int
    labels: np.ndarray
    dense: np.ndarray
    control: np.ndarray
    recovered: np.ndarray
    tie: str = "lowest"


def _pie_share(p: Populations, dense_votes: np.ndarray, votes: np.ndarray, models: int) -> tuple[np.ndarray, np.ndarray]:
    """(is_pie, considered) bool[N] of a population's votes against the dense votes."""
    return p.task.pie_masks(dense_votes, votes, len(p.dense), models, p.tie)


def _measures(p: Populations, examples: np.ndarray, dense: np.ndarray, paired: np.ndarray, halves: tuple[np.ndarray, np.ndarray],
              indicators: tuple[np.ndarray, np.ndarray, np.ndarray]) -> np.ndarray:
    """[% PIEs of C, of R, overall score of C, of R, score on C's PIEs of C, of R] on one draw."""
    task, labels = p.task, p.labels[examples]
    ind_dense, ind_control, ind_recovered = (ind[:, examples] for ind in indicators)
    dense_votes = ind_dense[dense].sum(axis=0)
    values = []
    for ind in (ind_control, ind_recovered):
        pies, considered = _pie_share(p, dense_votes, ind[paired].sum(axis=0), len(paired))
        values.append(100.0 * pies.sum() / max(int(considered.sum()), 1))
    control, recovered = p.control[:, examples], p.recovered[:, examples]
    values += [task.mean_score(control[paired], labels), task.mean_score(recovered[paired], labels)]
    folds = {"control": [], "recovered": []}
    for select, score in ((halves[0], halves[1]), (halves[1], halves[0])):
        pies, _ = _pie_share(p, dense_votes, ind_control[select].sum(axis=0), len(select))
        if pies.any():
            folds["control"].append(task.mean_score(control[score], labels, pies))
            folds["recovered"].append(task.mean_score(recovered[score], labels, pies))
    values += [float(np.nanmean(folds[k])) if folds[k] else np.nan for k in ("control", "recovered")]
    return np.array(values, dtype=float)


NAMES = ("pie_percent_control", "pie_percent", "score_control", "score", "control_pies_score_control", "control_pies_score")


def compare(p: Populations, rng: np.random.Generator, n_boot: int = 1000, level: float = 0.95) -> dict:
    """The recovery population against its control: the six measures (NAMES), the three
    differences R - C (delta_pie_percent, delta_score, delta_control_pies_score) with paired
    bootstrap intervals (_low, _high), and the control's PIE count."""
    models, n = len(p.control), len(p.labels)
    if models < 2 or len(p.recovered) != models:
        raise ValueError(f"a recovery comparison needs the same >= 2 seeds in the control and the recovered population, "
                         f"got {models} and {len(p.recovered)}")
    indicators = tuple(p.task.indicators(d, p.num_classes) for d in (p.dense, p.control, p.recovered))
    first, second = np.arange(models // 2), np.arange(models // 2, models)
    point = _measures(p, np.arange(n), np.arange(len(p.dense)), np.arange(models), (first, second), indicators)
    draws = np.array([
        _measures(p, rng.integers(0, n, n), rng.integers(0, len(p.dense), len(p.dense)), rng.integers(0, models, models),
                  (rng.choice(first, len(first)), rng.choice(second, len(second))), indicators)
        for _ in range(n_boot)
    ])
    row = dict(zip(NAMES, point))
    tail = 100 * (1 - level) / 2
    for name, (control, recovered) in {"pie_percent": (0, 1), "score": (2, 3), "control_pies_score": (4, 5)}.items():
        differences = draws[:, recovered] - draws[:, control]
        low, high = np.nanpercentile(differences, [tail, 100 - tail]) if np.isfinite(differences).any() else (np.nan, np.nan)
        row |= {f"delta_{name}": point[recovered] - point[control], f"delta_{name}_low": low, f"delta_{name}_high": high}
    dense_votes = indicators[0].sum(axis=0)
    row["control_pies"] = int(_pie_share(p, dense_votes, indicators[1].sum(axis=0), models)[0].sum())
    row["paired_seeds"], row["boot"] = models, n_boot
    return row


def _direction(row: dict, name: str) -> int:
    """+1 / -1 when the interval of delta_<name> lies above / below zero, else 0."""
    low, high = row.get(f"delta_{name}_low"), row.get(f"delta_{name}_high")
    if low is None or high is None or not np.isfinite(low) or not np.isfinite(high):
        return 0
    return 1 if low > 0 else -1 if high < 0 else 0


def verdict(row: dict) -> str:
    """One sentence: did the method recover the control's PIEs without losing overall score?"""
    metric = row.get("metric", "accuracy")
    fewer, on_pies, overall = -_direction(row, "pie_percent"), _direction(row, "control_pies_score"), _direction(row, "score")
    if fewer > 0 or on_pies > 0:
        pies = "recovered PIEs" if fewer >= 0 and on_pies >= 0 else "gave mixed signals on PIEs"
    elif fewer < 0 or on_pies < 0:
        pies = "hurt more examples than plain fine-tuning"
    else:
        pies = "did not measurably recover PIEs"
    loss = {1: f"and gained overall {metric}", 0: f"without a measurable loss of overall {metric}",
            -1: f"but lost overall {metric}"}[overall]
    if pies.startswith("did not") or pies.startswith("hurt"):
        loss = {1: f"though it gained overall {metric}", 0: f"(overall {metric} unchanged within noise)",
                -1: f"and lost overall {metric}"}[overall]

    def delta(name: str, digits: int, scale: float = 1.0) -> str:
        return (f"{row[f'delta_{name}'] * scale:+.{digits}f} [{row[f'delta_{name}_low'] * scale:+.{digits}f}, "
                f"{row[f'delta_{name}_high'] * scale:+.{digits}f}]")

    on_control = (f"{metric} on the control's {row['control_pies']} PIEs {row['control_pies_score']:.3f} vs "
                  f"{row['control_pies_score_control']:.3f} ({delta('control_pies_score', 3)})" if row["control_pies"]
                  else "the control has no PIEs")
    collapsed = row.get("degenerate") in (True,) or row.get("degenerate_control") in (True,)
    warning = "DEGENERATE populations, not findings: " if collapsed else ""
    return (f"{warning}{row['method']} at sparsity {row['sparsity']:g}: {pies} {loss}. % PIEs {row['pie_percent']:.2f} vs "
            f"{row['pie_percent_control']:.2f} for plain fine-tuning ({delta('pie_percent', 2)} points); {on_control}; overall {metric} {delta('score', 4)} (R - C, paired 95% intervals).")


# Columns of the summary rows (pie.analysis.pair) the recovery table repeats beside the comparison.
FROM_SUMMARY = ("seeds", "metric", "degenerate", "pie_percent_low", "pie_percent_high", "null_percent", "excess_percent", "excess_low",
                "excess_high", "churn", "churn_dense")


def recovery_row(identity: dict, compared: dict, summary: dict, control_summary: dict, source_summary: dict | None) -> dict:
    """One row of the recovery table: the population's identity, its comparison with the control,
    the summary's interval, null and churn of both, and the source population's % PIEs (before
    any fine-tuning), with the verdict sentence."""
    source, recovery = recovery_parts(identity["method"])
    row = {**identity, "source_method": source, "recovery": recovery, **compared,
           **{k: summary.get(k) for k in FROM_SUMMARY},
           **{f"{k}_control": control_summary.get(k) for k in ("pie_percent_low", "pie_percent_high", "excess_percent", "churn", "degenerate")},
           "pie_percent_source": source_summary.get("pie_percent") if source_summary else np.nan}
    row["verdict"] = verdict(row)
    return row
