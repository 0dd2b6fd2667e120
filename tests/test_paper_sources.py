"""The paper's data sources, each loaded offline from small files written here in its format."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import datasets
import pytest
from datasets.packaged_modules.parquet.parquet import Parquet

from pie.data import hub, weka
from pie.data.aapd import aapd
from pie.data.hub import hub_dataset
from pie.data.reuters import reuters
from pie.data.weka import read_arff, reuters_corn_grain

ROOT = Path(__file__).resolve().parents[1]
SNLI_LABELS = ["entailment", "neutral", "contradiction"]


@pytest.fixture(autouse=True)
def hf_cache(tmp_path, monkeypatch):
    """HF datasets' cache under tmp_path; no loader answers from an earlier test's lru_cache."""
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "hf-cache"))
    for cached in (hub._hub_dataset, reuters, weka.reuters_corn_grain):
        cached.cache_clear()
    return tmp_path / "hf-cache"


def write_parquet_layout(root: Path, splits: dict[str, dict], features: datasets.Features) -> Path:
    """Data files as in a hub repository: <root>/plain_text/<split>-00000-of-00001.parquet."""
    (root / "plain_text").mkdir(parents=True)
    for split, columns in splits.items():
        datasets.Dataset.from_dict(columns, features=features).to_parquet(
            root / "plain_text" / f"{split}-00000-of-00001.parquet"
        )
    return root


@pytest.fixture
def snli_dir(tmp_path) -> Path:
    features = datasets.Features({
        "premise": datasets.Value("string"), "hypothesis": datasets.Value("string"),
        "label": datasets.ClassLabel(names=SNLI_LABELS),
    })

    def rows(n, labels):
        return {"premise": [f"p{i}" for i in range(n)], "hypothesis": [f"h{i}" for i in range(n)], "label": labels}

    splits = {"train": rows(4, [0, -1, 2, 1]), "validation": rows(2, [1, -1]), "test": rows(3, [2, 0, 1])}
    return write_parquet_layout(tmp_path / "snli", splits, features)


def check_snli(data: datasets.DatasetDict) -> None:
    assert list(data) == ["train", "validation", "test"]
    train = data["train"]
    assert train["id"] == ["train-000000", "train-000002", "train-000003"]  # the -1 row is gone
    assert train["text"] == ["p0", "p2", "p3"] and train["text_pair"] == ["h0", "h2", "h3"]
    assert train["label"] == [0, 2, 1]
    assert train.features["label"].names == SNLI_LABELS
    assert data["validation"]["id"] == ["validation-000000"]
    assert data["test"]["id"] == ["test-000000", "test-000001", "test-000002"]


def test_hub_snli_from_local_dir(snli_dir):
    data = hub_dataset("stanfordnlp/snli", "plain_text", text_column="premise", pair_column="hypothesis",
                       local_dir=str(snli_dir))
    check_snli(data)


def test_hub_snli_from_a_fake_hf_cache(snli_dir, hf_cache):
    """The path a cached hub download takes offline: load_dataset("stanfordnlp/snli") finds the
    prepared Arrow files under HF_DATASETS_CACHE/stanfordnlp___snli/<config>/<version>/<hash>."""
    files = {s: [str(f)] for s in ("train", "validation", "test") for f in (snli_dir / "plain_text").glob(f"{s}-*")}
    builder = Parquet(cache_dir=str(hf_cache.parent / "build"), dataset_name="snli", config_name="plain_text",
                      data_files=files, hash="0123abcd")
    builder.download_and_prepare()
    shutil.copytree(builder.cache_dir, hf_cache / "stanfordnlp___snli" / "plain_text" / "0.0.0" / "0123abcd")
    check_snli(hub_dataset("stanfordnlp/snli", "plain_text", text_column="premise", pair_column="hypothesis"))


def test_hub_imdb_layout_ignores_unsupervised_and_has_no_validation(tmp_path):
    features = datasets.Features({"text": datasets.Value("string"), "label": datasets.ClassLabel(names=["neg", "pos"])})
    splits = {
        "train": {"text": ["bad", "good", "fine"], "label": [0, 1, 1]},
        "test": {"text": ["awful", "great"], "label": [0, 1]},
        "unsupervised": {"text": ["??", "!!"], "label": [-1, -1]},
    }
    root = write_parquet_layout(tmp_path / "imdb", splits, features)
    data = hub_dataset("stanfordnlp/imdb", "plain_text", local_dir=str(root))
    assert list(data) == ["train", "test"]
    assert data["train"]["id"] == ["train-000000", "train-000001", "train-000002"]
    assert data["train"]["text"] == ["bad", "good", "fine"] and data["train"]["label"] == [0, 1, 1]
    assert data["test"]["text"] == ["awful", "great"]
    assert data["test"].features["label"].names == ["neg", "pos"]
    assert "text_pair" not in data["train"].column_names


def test_hub_save_to_disk_dir_with_split_mapping(tmp_path):
    features = datasets.Features({"sentence": datasets.Value("string"),
                                  "label": datasets.ClassLabel(names=["a", "b"])})
    source = datasets.DatasetDict({
        "train": datasets.Dataset.from_dict({"sentence": ["x", "y"], "label": [0, 1]}, features=features),
        "validation": datasets.Dataset.from_dict({"sentence": ["z"], "label": [1]}, features=features),
    })
    source.save_to_disk(str(tmp_path / "saved"))
    data = hub_dataset("glue", "sst2", text_column="sentence", local_dir=str(tmp_path / "saved"),
                       splits={"train": "train", "test": "validation"})
    assert list(data) == ["train", "test"]
    assert data["test"]["id"] == ["validation-000000"] and data["test"]["text"] == ["z"]
    assert data["train"]["label"] == [0, 1] and data["train"].features["label"].names == ["a", "b"]


def test_hub_errors(snli_dir, tmp_path):
    with pytest.raises(FileNotFoundError) as error:
        hub_dataset("stanfordnlp/snli")
    message = str(error.value)
    assert "stanfordnlp/snli" in message and "datasets.load_dataset('stanfordnlp/snli')" in message
    assert "dataset.source.local_dir=" in message
    columns = r"lacks the column\(s\) \['text'\]; it has \['premise', 'hypothesis', 'label'\]"
    with pytest.raises(ValueError, match=columns):
        hub_dataset("stanfordnlp/snli", "plain_text", local_dir=str(snli_dir))
    with pytest.raises(ValueError, match=r"the source lacks \['dev'\]; it has \['train', 'validation', 'test'\]"):
        hub_dataset("stanfordnlp/snli", "plain_text", text_column="premise", local_dir=str(snli_dir),
                    splits={"train": "train", "test": "dev"})
    with pytest.raises(FileNotFoundError, match="is not a directory"):
        hub_dataset("stanfordnlp/snli", local_dir=str(tmp_path / "nowhere"))


# Reuters-21578: (NEWID, LEWISSPLIT, TOPICS attribute, topics, title, body). `jet` occurs in train
# and only in non-ModApte test documents, so it is dropped, and with it document 3.
REUTERS_DOCS = [
    (1, "TRAIN", "YES", ["cocoa"], "BAHIA COCOA REVIEW", "Showers &lt;in&gt; the\n    Bahia zone.\n Reuter\n&#3;"),
    (2, "TRAIN", "YES", ["grain", "jet"], "GRAIN SHIPS", "Ships &amp; grain.\n Reuter\n&#3;"),
    (3, "TRAIN", "YES", ["jet"], "JET FUEL", "Only jet.\n&#3;"),
    (4, "TEST", "NO", ["jet"], "NOT MODAPTE", "Topics no.\n&#3;"),
    (5, "NOT-USED", "YES", ["jet", "grain"], "UNUSED", "Not used.\n&#3;"),
    (6, "TEST", "YES", ["cocoa", "grain"], "COCOA AND GRAIN", "Both of them.\n&#3;"),
    (7, "TEST", "YES", ["grain"], "GRAIN BRIEF", None),
    (8, "TRAIN", "YES", [], "NO TOPIC", "Nothing.\n&#3;"),
    (10, "TRAIN", "YES", ["cocoa"], "LATER COCOA", "Ten.\n&#3;"),
]


def sgml_document(newid, lewis, topics_flag, topics, title, body):
    text_type = "" if body else ' TYPE="BRIEF"'
    body_part = f'<DATELINE>    SALVADOR, Feb 26 - </DATELINE><BODY>{body}</BODY>' if body else ""
    return (
        f'<REUTERS TOPICS="{topics_flag}" LEWISSPLIT="{lewis}" CGISPLIT="TRAINING-SET" OLDID="5544" NEWID="{newid}">\n'
        f"<DATE>26-FEB-1987 15:01:01.79</DATE>\n<TOPICS>{''.join(f'<D>{t}</D>' for t in topics)}</TOPICS>\n"
        f"<PLACES><D>usa</D></PLACES>\n<UNKNOWN> \n&#5;&#5;&#5;C T\n</UNKNOWN>\n"
        f"<TEXT{text_type}>&#2;\n<TITLE>{title}</TITLE>\n{body_part}</TEXT>\n</REUTERS>\n"
    )


@pytest.fixture
def reuters_sgml(tmp_path) -> Path:
    root = tmp_path / "reuters21578"
    root.mkdir()
    header = '<!DOCTYPE lewis SYSTEM "lewis.dtd">\n'
    # NEWID 10 comes first on disk: the output is ordered by NEWID regardless.
    files = {"reut2-000.sgm": REUTERS_DOCS[-1:] + REUTERS_DOCS[:5], "reut2-001.sgm": REUTERS_DOCS[5:-1]}
    for name, docs in files.items():
        (root / name).write_text(header + "".join(sgml_document(*doc) for doc in docs), encoding="latin-1")
    return root


@pytest.fixture
def reuters_nltk(tmp_path) -> Path:
    """The same corpus as NLTK ships it: ModApte documents only, title then indented body."""
    root = tmp_path / "nltk_reuters"
    cats = []
    for newid, lewis, topics_flag, topics, title, body in REUTERS_DOCS:
        if topics_flag != "YES" or lewis not in ("TRAIN", "TEST") or not topics:
            continue
        split = "training" if lewis == "TRAIN" else "test"
        cats.append(f"{split}/{newid} {' '.join(topics)}\n")
        text = title + "\n"
        if body:
            plain = body.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&").replace("&#3;", "")
            text += "".join(f"  {line.strip()}\n" for line in plain.split("\n")) + "\n\n"
        (root / split).mkdir(parents=True, exist_ok=True)
        (root / split / str(newid)).write_text(text, encoding="latin-1")
    (root / "cats.txt").write_text("".join(cats), encoding="latin-1")
    return root


def test_reuters_sgml_modapte(reuters_sgml):
    data = reuters(str(reuters_sgml))
    assert list(data) == ["train", "test"]
    train, test = data["train"], data["test"]
    assert train.features["label"].feature.names == ["cocoa", "grain"]
    assert train["id"] == ["training/1", "training/2", "training/10"]
    assert train["label"] == [[0], [1], [0]]
    assert test["id"] == ["test/6", "test/7"]
    assert test["label"] == [[0, 1], [1]]
    assert train["text"][0] == "BAHIA COCOA REVIEW\nShowers <in> the\nBahia zone.\nReuter"
    assert train["text"][1] == "GRAIN SHIPS\nShips & grain.\nReuter"
    assert test["text"][1] == "GRAIN BRIEF"


def test_reuters_nltk_layout_matches_sgml(reuters_sgml, reuters_nltk):
    sgml, nltk = reuters(str(reuters_sgml)), reuters(str(reuters_nltk))
    assert (len(sgml["train"]), len(sgml["test"])) == (3, 2)
    for split in ("train", "test"):
        assert nltk[split].features == sgml[split].features
        assert nltk[split].to_dict() == sgml[split].to_dict()


def test_reuters_errors(tmp_path):
    with pytest.raises(FileNotFoundError) as error:
        reuters(str(tmp_path / "missing"))
    assert "does not exist" in str(error.value)
    assert "reut2-000.sgm" in str(error.value) and "cats.txt" in str(error.value)
    (tmp_path / "wrong").mkdir()
    (tmp_path / "wrong" / "readme.txt").write_text("not reuters")
    with pytest.raises(FileNotFoundError, match="holds neither layout.*reut2-000.sgm.*cats.txt"):
        reuters(str(tmp_path / "wrong"))


def write_aapd(root: Path, files: dict[str, str]) -> Path:
    root.mkdir()
    for name, content in files.items():
        (root / name).write_text(content, encoding="utf-8")
    return root


AAPD_FILES = {
    "text_train": "we study codes\u2028over channels\nlearning theory\nempty labels here\n",
    "label_train": "cs.IT math.IT\ncs.LG\n\n",
    "text_val": "a validation abstract\n",
    "label_val": "cs.LG\n",
    "text_test": "first test\nsecond test\n",
    "label_test": "stat.ML cs.LG\ncs.IT\n",
}


def test_aapd(tmp_path):
    data = aapd(str(write_aapd(tmp_path / "aapd", AAPD_FILES)))
    assert list(data) == ["train", "validation", "test"]
    assert data["train"].features["label"].feature.names == ["cs.IT", "cs.LG", "math.IT", "stat.ML"]
    assert data["train"]["id"] == ["train-00000", "train-00001", "train-00002"]
    assert data["train"]["text"][0] == "we study codes\u2028over channels"  # only \n ends a line
    assert data["train"]["label"] == [[0, 2], [1], []]
    assert data["validation"]["id"] == ["val-00000"] and data["validation"]["label"] == [[1]]
    assert data["test"]["label"] == [[1, 3], [0]]


def test_aapd_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"lacks \['text_test', 'label_test'\]; expected the files"):
        aapd(str(write_aapd(tmp_path / "partial", {k: v for k, v in AAPD_FILES.items() if "test" not in k})))
    mismatched = {**AAPD_FILES, "label_val": "cs.LG\ncs.IT\n"}
    with pytest.raises(ValueError, match="text_val has 1 lines but .*label_val has 2"):
        aapd(str(write_aapd(tmp_path / "mismatch", mismatched)))


ARFF_HEADER = (
    "@relation 'Reuters-21578 {} ModApte'\n\n@attribute Text string\n@attribute class-att {{0,1}}\n\n@data\n\n"
)
ARFF_TEXTS = [r"CORN CROP It\'s \"big\"\nsecond line\\ with\ttab", r"GRAIN ONLY 50% up", r"NEITHER"]


def write_arff(directory: Path, corn: dict[str, list[int]], grain: dict[str, list[int]], texts=ARFF_TEXTS) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for category, flags in (("Corn", corn), ("Grain", grain)):
        for split, values in flags.items():
            lines = [f"'{text}',{value}" for text, value in zip(texts, values)]
            (directory / f"Reuters{category}-{split}.arff").write_text(
                ARFF_HEADER.format(category) + "% a comment\n" + "\n".join(lines) + "\n", encoding="utf-8"
            )
    return directory


def test_weka_arff_escapes_and_labels(tmp_path):
    root = write_arff(tmp_path / "weka", {"train": [1, 0, 0], "test": [1, 0]}, {"train": [1, 1, 0], "test": [0, 0]})
    assert read_arff(root / "ReutersCorn-train.arff")[0] == ("CORN CROP It's \"big\"\nsecond line\\ with\ttab", 1)
    data = reuters_corn_grain(str(root))
    assert data["train"]["id"] == ["train-0000", "train-0001", "train-0002"]
    assert data["train"]["text"][1] == "GRAIN ONLY 50% up"
    assert data["train"]["label"] == [[0, 1], [1], []]
    assert data["test"]["id"] == ["test-0000", "test-0001"] and data["test"]["label"] == [[0], []]
    assert data["train"].features["label"].feature.names == ["corn", "grain"]


def test_weka_search_order(tmp_path, monkeypatch):
    flags = {"train": [1, 0, 0], "test": [0, 1, 0]}
    env_dir = write_arff(tmp_path / "env", flags, flags)
    monkeypatch.setenv("PIE_WEKA_DIR", str(env_dir))
    assert weka.weka_dir() == env_dir
    monkeypatch.delenv("PIE_WEKA_DIR")
    monkeypatch.setenv("PIE_CACHE_DIR", str(tmp_path / "cache"))
    cached = write_arff(tmp_path / "cache" / "weka" / "usr/share/doc/weka/examples", flags, flags)
    system = Path("/usr/share/doc/weka/examples")
    assert weka.weka_dir() == (system if (system / "ReutersCorn-train.arff").exists() else cached)


def test_weka_errors(tmp_path):
    with pytest.raises(FileNotFoundError) as error:
        reuters_corn_grain(str(tmp_path / "nowhere"))
    assert "apt-get download weka" in str(error.value) and "dpkg-deb -x" in str(error.value)
    assert "PIE_WEKA_DIR" in str(error.value)
    root = write_arff(tmp_path / "weka", {"train": [1, 0, 0], "test": [1, 0]}, {"train": [0, 0, 0], "test": [0, 0]})
    grain = write_arff(tmp_path / "other", {}, {"train": [0, 0, 0]}, texts=["A", "B", "C"]) / "ReutersGrain-train.arff"
    shutil.copy(grain, root / "ReutersGrain-train.arff")
    differs = "document 0 differs between .*ReutersCorn-train.arff and .*ReutersGrain-train.arff"
    with pytest.raises(ValueError, match=differs):
        reuters_corn_grain(str(root))


def test_weka_real_files(monkeypatch):
    """The files Debian's weka package ships: 1,554 train / 604 test documents."""
    monkeypatch.setenv("PIE_CACHE_DIR", os.environ.get("PIE_CACHE_DIR", str(ROOT / ".cache" / "pie")))
    try:
        directory = weka.weka_dir()
    except FileNotFoundError as error:
        pytest.skip(f"the real weka ARFF files are absent: {error}")
    data = reuters_corn_grain(str(directory))
    counts = {split: (len(data[split]), sum(0 in row for row in data[split]["label"]),
                      sum(1 in row for row in data[split]["label"]), sum(row == [0, 1] for row in data[split]["label"]))
              for split in data}
    assert counts == {"train": (1554, 45, 103, 44), "test": (604, 24, 57, 24)}
    assert data["train"]["text"][0].startswith("BAHIA COCOA REVIEW Showers continued throughout the week in\nthe Bahia")
