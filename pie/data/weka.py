"""Reuters-21578 corn/grain (ModApte), multi-label with labels [corn, grain], from the ARFF
files shipped in Debian's `weka` package (1,554 train / 604 test documents)."""

from __future__ import annotations

import functools
import gzip
import os
from pathlib import Path

import datasets

from pie.data.sources import from_records

CATEGORIES = ("Corn", "Grain")
FILES = [f"Reuters{category}-{split}.arff" for split in ("train", "test") for category in CATEGORIES]
EXAMPLES = Path("usr/share/doc/weka/examples")
ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "'": "'", '"': '"', "\\": "\\", "%": "%"}
HOW_TO_GET = (
    'apt-get download weka && dpkg-deb -x weka_*.deb "$PIE_CACHE_DIR/weka" (no apt-get install: it '
    "pulls in a JRE), or `make weka-data`, or set PIE_WEKA_DIR to a directory holding the files"
)


def weka_dir(directory: str | None = None) -> Path:
    """The first of `directory`, $PIE_WEKA_DIR, /usr/share/doc/weka/examples and
    $PIE_CACHE_DIR/weka/usr/share/doc/weka/examples that holds the four ARFF files."""
    if directory or os.environ.get("PIE_WEKA_DIR"):
        candidates = [Path(directory or os.environ["PIE_WEKA_DIR"]).expanduser()]
    else:
        cache = Path(os.environ.get("PIE_CACHE_DIR", ".cache/pie")).expanduser()
        candidates = [Path("/") / EXAMPLES, cache / "weka" / EXAMPLES]
    for candidate in candidates:
        if all(_find(candidate, name) for name in FILES):
            return candidate.resolve()
    raise FileNotFoundError(
        f"the weka Reuters corn/grain files {FILES} are not in {[str(c) for c in candidates]}; get them "
        f"with: {HOW_TO_GET}"
    )


def _find(directory: Path, name: str) -> Path | None:
    for file in (directory / name, directory / f"{name}.gz"):
        if file.is_file():
            return file
    return None


def _unquote(value: str, where: str) -> tuple[str, str]:
    """The single-quoted, backslash-escaped string at the start of `value`, and the rest."""
    chars, i = [], 1
    while i < len(value):
        char = value[i]
        if char == "\\" and i + 1 < len(value):
            chars.append(ESCAPES.get(value[i + 1], value[i : i + 2]))
            i += 2
        elif char == "'":
            return "".join(chars), value[i + 1 :]
        else:
            chars.append(char)
            i += 1
    raise ValueError(f"{where}: unterminated quoted string")


def read_arff(file: Path) -> list[tuple[str, int]]:
    """(text, class) rows of an ARFF file whose data lines are `'<text>',<0|1>`."""
    opener = gzip.open if file.suffix == ".gz" else open
    with opener(file, "rt", encoding="utf-8") as handle:
        lines = handle.read().split("\n")
    start = next((i for i, line in enumerate(lines) if line.strip().lower() == "@data"), None)
    if start is None:
        raise ValueError(f"{file} has no @data line; is it an ARFF file?")
    rows = []
    for number, line in enumerate(lines[start + 1 :], start + 2):
        line = line.strip()
        if not line or line.startswith("%"):
            continue
        where = f"{file} line {number}"
        if line.startswith("'"):
            text, rest = _unquote(line, where)
            rest = rest.strip()
            value = rest[1:] if rest.startswith(",") else ""
        else:
            text, _, value = line.rpartition(",")
        value = value.strip().strip("'")
        if value not in ("0", "1"):
            raise ValueError(f"{where}: expected '<text>',<0|1>, got {line[:60]!r}...{line[-20:]!r}")
        rows.append((text, int(value)))
    return rows


@functools.lru_cache(maxsize=2)
def reuters_corn_grain(directory: str | None = None) -> datasets.DatasetDict:
    """Train/test from the Corn and Grain ARFF files, which hold the same documents in the same
    order, each with a 0/1 class; label lists over [corn, grain]. Ids `<split>-<row>`."""
    root = weka_dir(directory)
    result = {}
    for split in ("train", "test"):
        files = [_find(root, f"Reuters{category}-{split}.arff") for category in CATEGORIES]
        corn, grain = (read_arff(file) for file in files)
        if len(corn) != len(grain):
            raise ValueError(f"{files[0]} has {len(corn)} documents but {files[1]} has {len(grain)}; "
                             f"they must hold the same documents")
        for row, ((text, _), (other, _)) in enumerate(zip(corn, grain)):
            if text != other:
                raise ValueError(f"document {row} differs between {files[0]} and {files[1]}; they must "
                                 f"hold the same documents in the same order")
        labels = [[c for c, flag in enumerate((a, b)) if flag] for (_, a), (_, b) in zip(corn, grain)]
        result[split] = from_records([f"{split}-{i:04d}" for i in range(len(corn))], [text for text, _ in corn],
                                     labels, ["corn", "grain"], multi_label=True)
    return datasets.DatasetDict(result)
