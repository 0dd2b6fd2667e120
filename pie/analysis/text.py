"""A6: are PIEs longer or harder to read? Text length and textstat readability measures, and the
ratio of their mean on a subset (the PIEs) to their mean on all examples with a bootstrap interval
(Tropeano et al. 2025)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from pie.analysis.resampling import gathered_draws


def _tokens(text: str) -> int:
    """Number of whitespace-separated tokens."""
    return len(text.split())


MEASURES = ("tokens", "flesch_reading_ease", "flesch_kincaid_grade", "gunning_fog", "smog_index", "coleman_liau_index",
            "automated_readability_index", "dale_chall_readability_score", "difficult_words")


def _measure(name: str) -> Callable[[str], float]:
    """The function of a measure: _tokens, or textstat's function of that name (imported here, as
    only computing measures needs it: it loads NLTK's pronouncing dictionary)."""
    if name == "tokens":
        return _tokens
    import textstat

    return getattr(textstat, name)


def text_measures(texts: list[str]) -> pd.DataFrame:
    """One row per text, one float column per measure in MEASURES (textstat works text by text)."""
    columns = {name: [_measure(name)(text) for text in texts] for name in MEASURES}
    return pd.DataFrame(columns, columns=list(MEASURES), dtype=float)


def _bootstrap_means(values: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """[n_boot, K]: column means of resamples (with replacement) of the rows of values [N, K],
    one resample shared by all columns, a few resamples at a time (gathered_draws); each column is
    gathered from a contiguous copy (the same numbers as gathering it from values, several times
    faster), summed as np.mean sums and divided by N at the end, as np.mean divides (the same
    bytes, ~12% faster)."""
    columns, sums, done = np.ascontiguousarray(values.T), np.empty((values.shape[1], n_boot)), 0
    for rows in gathered_draws(len(values), n_boot, rng):
        for k, column in enumerate(columns):
            np.add.reduce(np.take(column, rows), axis=1, out=sums[k, done:done + len(rows)])
        done += len(rows)
    return (sums / len(values)).T


def _ratios(values: np.ndarray, subset: np.ndarray, rng: np.random.Generator, n_boot: int, level: float) -> list[dict]:
    """Per column of values [N, K]: mean over the subset / mean over all, with a percentile
    bootstrap interval (each repeat resamples the subset and all examples independently)."""
    n_subset = int(subset.sum())
    if n_subset == 0:
        return [{"ratio": float("nan"), "low": float("nan"), "high": float("nan"), "n_subset": 0}] * values.shape[1]
    ratios = _bootstrap_means(values[subset], n_boot, rng) / _bootstrap_means(values, n_boot, rng)
    low, high = np.percentile(ratios, [50 * (1 - level), 50 * (1 + level)], axis=0)
    point = values[subset].mean(axis=0) / values.mean(axis=0)
    return [{"ratio": float(point[k]), "low": float(low[k]), "high": float(high[k]), "n_subset": n_subset}
            for k in range(values.shape[1])]




def text_ratios(
    measures: pd.DataFrame, subset: np.ndarray, rng: np.random.Generator, n_boot: int = 1000
) -> pd.DataFrame:
    """One row per measure (column of `measures`): subset mean / overall mean, with interval; one
    bootstrap resample serves all measures."""
    values = measures.to_numpy(dtype=float)
    rows = _ratios(values, np.asarray(subset, dtype=bool), rng, n_boot, 0.95)
    return pd.DataFrame([{"measure": name, **row} for name, row in zip(measures.columns, rows)],
                        columns=["measure", "ratio", "low", "high", "n_subset"])
