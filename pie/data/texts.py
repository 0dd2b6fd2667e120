"""The texts of a run's dataset split, for reading PIEs and measuring them (A6, A7): rebuilt from
the run's dataset config and checked against its fingerprint, with their length and readability
measures computed once per dataset and cached by fingerprint (textstat is slow)."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
from pie.analysis.text import text_measures
from pie.data.pronunciations import install_cmudict_for_nltk
from pie.errors import UserError
from pie.parallel import available_cpus
from pie.atomic import atomic_path


def dataset_texts(config: dict, fingerprint: str, split: str, cache_dir: Path) -> tuple[list[str], tuple[str, ...], pd.DataFrame]:
    """(texts, label names, text measures) of a split of the dataset a run's config describes."""
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    data = instantiate(OmegaConf.create(config))
    if data.fingerprint != fingerprint:
        raise UserError(
            f"the dataset {data.name} no longer matches the runs' fingerprint (the installed data changed); "
            "the texts cannot be joined to the predictions (rerun with --no-texts to skip A6/A7)"
        )
    texts = data.display_texts(split)
    path = Path(cache_dir) / "text_measures" / f"{data.name}-{data.fingerprint}-{split}.parquet"
    if path.exists():
        measures = pd.read_parquet(path)
    else:
        measures = _parallel_text_measures(texts, Path(cache_dir))
        with atomic_path(path) as tmp:
            measures.to_parquet(tmp, index=False)
    return texts, data.label_names, measures


def _parallel_text_measures(texts: list[str], cache_dir: Path) -> pd.DataFrame:
    """text_measures on all the CPUs this process may use (textstat is pure Python, text by text)."""
    workers = min(available_cpus(), max(1, len(texts) // 500))
    install_cmudict_for_nltk(cache_dir)
    if workers == 1:
        return text_measures(texts)
    chunks = [texts[i::workers] for i in range(workers)]
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(workers, mp_context=context, initializer=install_cmudict_for_nltk, initargs=(cache_dir,)) as pool:
        parts = list(pool.map(text_measures, chunks))
    order = np.argsort(np.concatenate([np.arange(i, len(texts), workers) for i in range(workers)]), kind="stable")
    return pd.concat(parts, ignore_index=True).iloc[order].reset_index(drop=True)
