"""What a pair's PIEs are worth: the seed-noise null and the excess over it, each example's
confidence and the robust PIEs, agreement beyond PIEs with dense-vs-dense baselines, and whether
the populations are degenerate (pie.analysis.noise, agreement, degenerate), gathered into the
pair's summary columns and per-example columns."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pie.analysis.agreement import DenseBaselines, agreement_row, taxicab
from pie.analysis.degenerate import Degeneracy, degeneracy
from pie.analysis.noise import SeedDraws, confidence, excess
from pie.pies.task import Task

PIE_SETS = ("modal", "robust")


def degenerate_columns(found: Degeneracy) -> dict:
    return {"degenerate_models": int(found.degenerate.sum()), "degenerate": found.population_degenerate}


@dataclass(frozen=True)
class Trust:
    summary: dict  # the pair's summary columns
    confidence: np.ndarray  # float[N]: share of the seed draws in which the example is a PIE
    robust: np.ndarray  # bool[N]: confidence >= the robust level
    taxicab: np.ndarray  # float[N]: L1 distance of the two populations' label distributions


def trust(task: Task, baselines: DenseBaselines, pruned_logits: np.ndarray, dense: np.ndarray, pruned: np.ndarray,
          labels: np.ndarray, result, draws: SeedDraws | None, paired: int, rng: np.random.Generator, n_boot: int,
          robust_level: float, degenerate_share: float) -> Trust:
    """`dense`/`pruned` are per-model decisions, `baselines` the dense population's
    (pie.analysis.agreement), `result` the pair's verdicts, `draws` the seed draws (None when the
    dense population is too small for a null)."""
    examples = len(labels)
    cie = taxicab(result.dense_votes, result.pruned_votes, len(dense), len(pruned))
    if draws is None:
        scores, noise = np.full(examples, np.nan), {"noise_size": 0}
    else:
        scores, noise = confidence(draws), excess(draws, rng, n_boot)
    robust = scores >= robust_level
    summary = {
        "robust_level": robust_level, "robust_pies": int(robust.sum()), "robust_percent": 100.0 * robust.mean(), **noise,
        **agreement_row(task, baselines, pruned_logits, dense, pruned, paired),
        "taxicab_mean": float(cie.mean()),
        **({"taxicab_at_size": draws.pair_taxicab, "taxicab_null": draws.null_taxicab} if draws is not None else {}),
        **degenerate_columns(degeneracy(task, pruned, labels, degenerate_share)),
    }
    return Trust(summary, scores, robust, cie)


def top_examples(trust_: Trust, pies: pd.DataFrame, shown: dict, texts, count: int = 20) -> pd.DataFrame:
    """The `count` examples with the largest taxicab CIE scores (Hooker et al. 2020): what the two
    populations disagree on most, with their confidence as PIEs."""
    order = np.argsort(-trust_.taxicab, kind="stable")[:count]
    frame = pd.DataFrame({
        "example_id": pies["example_id"].to_numpy()[order], "position": order, "taxicab": trust_.taxicab[order],
        "confidence": trust_.confidence[order], "is_pie": pies["is_pie"].to_numpy()[order],
        **{name: np.asarray(values, dtype=object)[order] for name, values in shown.items()},
    })
    if texts is not None:
        frame["text"] = np.asarray(texts, dtype=object)[order]
    return frame
