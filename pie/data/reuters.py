"""Reuters-21578, ModApte split, 90 topic categories, multi-label (7,769 train / 3,019 test).

Reads either the original SGML distribution or NLTK's `reuters` corpus; both give the same ids
(`training/<NEWID>`, `test/<NEWID>`), labels (sorted category names) and texts (title, newline,
body; lines stripped of surrounding whitespace, empty lines dropped).
"""

from __future__ import annotations

import functools
import html
import re
from pathlib import Path

import datasets

from pie.data.sources import from_records

LAYOUTS = (
    "(a) the original distribution: a directory with reut2-000.sgm ... reut2-021.sgm; or "
    "(b) NLTK's `reuters` corpus: a directory with cats.txt and the files training/<id>, test/<id>"
)
MODAPTE = {"TRAIN": "training", "TEST": "test"}
DOCUMENT = re.compile(r"<REUTERS([^>]*)>(.*?)</REUTERS>", re.DOTALL)
ATTRIBUTE = re.compile(r'(\w+)="([^"]*)"')


@functools.lru_cache(maxsize=2)
def reuters(path: str) -> datasets.DatasetDict:
    """ModApte train/test from `path` in either layout; categories with at least one train and one
    test document are kept (90 on the real data), documents with none of them are dropped."""
    root = Path(path).expanduser()
    if root.is_dir() and sorted(root.glob("reut2-*.sgm")):
        documents = list(_sgml_documents(sorted(root.glob("reut2-*.sgm"))))
    elif (root / "cats.txt").is_file():
        documents = list(_nltk_documents(root))
    else:
        state = "does not exist" if not root.exists() else "holds neither layout"
        raise FileNotFoundError(f"Reuters-21578 path {path} {state}; expected {LAYOUTS} (set dataset.source.path)")
    in_split = {split: {c for doc_split, _, _, cats in documents if doc_split == split for c in cats}
                for split in MODAPTE.values()}
    label_names = sorted(in_split["training"] & in_split["test"])
    index = {name: i for i, name in enumerate(label_names)}
    result = {}
    for split, ours in (("training", "train"), ("test", "test")):
        kept = sorted((int(newid), text, [index[c] for c in cats if c in index])
                      for doc_split, newid, text, cats in documents if doc_split == split)
        kept = [doc for doc in kept if doc[2]]
        result[ours] = from_records([f"{split}/{newid}" for newid, _, _ in kept], [text for _, text, _ in kept],
                                    [labels for _, _, labels in kept], label_names, multi_label=True)
    return datasets.DatasetDict(result)


def _clean(text: str) -> str:
    text = re.sub(r"[\x00-\x08\x0b-\x1f]", "", text)  # the SGML's &#2; &#3; ... markers
    return "\n".join(line.strip() for line in text.split("\n") if line.strip())


def _tag(name: str, document: str) -> str | None:
    match = re.search(rf"<{name}[^>]*>(.*?)</{name}>", document, re.DOTALL)
    return match.group(1) if match else None


def _sgml_documents(files):
    """(split, NEWID, text, categories) of the ModApte documents (TOPICS="YES", LEWISSPLIT
    TRAIN or TEST) in the SGML files."""
    for file in files:
        for attributes, body in DOCUMENT.findall(file.read_text(encoding="latin-1")):
            attrs = dict(ATTRIBUTE.findall(attributes))
            if attrs.get("TOPICS") != "YES" or attrs.get("LEWISSPLIT") not in MODAPTE:
                continue
            topics = re.findall(r"<D>(.*?)</D>", _tag("TOPICS", body) or "")
            text = _tag("TEXT", body) or ""
            title, main = _tag("TITLE", text), _tag("BODY", text)
            if title is None and main is None:  # TYPE="UNPROC": untagged text
                main = re.sub(r"<[^>]+>", "", text)
            text = _clean(html.unescape("\n".join(part for part in (title, main) if part)))
            yield MODAPTE[attrs["LEWISSPLIT"]], attrs["NEWID"], text, topics


def _nltk_documents(root: Path):
    """(split, id, text, categories) from cats.txt and the files it names."""
    for number, line in enumerate((root / "cats.txt").read_text(encoding="latin-1").splitlines(), 1):
        if not line.strip():
            continue
        file_id, *categories = line.split()
        split, _, newid = file_id.partition("/")
        if split not in MODAPTE.values() or not newid.isdigit():
            raise ValueError(f"{root / 'cats.txt'} line {number}: expected 'training/<id> <category> ...' "
                             f"or 'test/<id> ...', got {line!r}")
        file = root / split / newid
        if not file.is_file():
            raise FileNotFoundError(f"{file} (named in {root / 'cats.txt'} line {number}) does not exist")
        yield split, newid, _clean(file.read_text(encoding="latin-1")), categories
