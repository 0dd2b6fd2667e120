"""The paper's dataset configs load from small local files through the same code a user with the
real data runs; the paper's grids compose and expand to 1,230 runs each; sentence pairs are
encoded as configured."""

import datasets
import numpy as np
import pytest
from hydra._internal.config_loader_impl import ConfigLoaderImpl
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra._internal.utils import create_config_search_path
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.types import RunMode
from hydra.utils import instantiate

from conftest import CONF, compose_train
from pie.data import hub, reuters, weka
from test_paper_sources import AAPD_FILES, REUTERS_DOCS, SNLI_LABELS, write_aapd, write_arff, write_parquet_layout

PAPER = ["snli_bert", "snli_bilstm", "imdb_bert", "imdb_bilstm", "reuters_bert", "reuters_bilstm", "aapd_bert", "aapd_bilstm"]


@pytest.fixture(autouse=True)
def fresh_loaders(tmp_path, monkeypatch):
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "hf-cache"))
    for cached in (hub._hub_dataset, reuters.reuters, weka.reuters_corn_grain):
        cached.cache_clear()


def snli_files(root):
    features = datasets.Features({"premise": datasets.Value("string"), "hypothesis": datasets.Value("string"),
                                  "label": datasets.ClassLabel(names=SNLI_LABELS)})

    def rows(n):
        return {"premise": [f"a man number {i} sits" for i in range(n)], "hypothesis": [f"someone sits {i}" for i in range(n)],
                "label": [(i % 4) - 1 for i in range(n)]}  # every 4th row has no gold label (-1)

    return write_parquet_layout(root, {"train": rows(40), "validation": rows(8), "test": rows(12)}, features)


def imdb_files(root):
    features = datasets.Features({"text": datasets.Value("string"), "label": datasets.ClassLabel(names=["neg", "pos"])})
    rows = lambda n: {"text": [f"review {i} was {'good' if i % 2 else 'bad'}" for i in range(n)], "label": [i % 2 for i in range(n)]}  # noqa: E731
    return write_parquet_layout(root, {"train": rows(40), "test": rows(10), "unsupervised": {"text": ["x"], "label": [-1]}}, features)


def reuters_files(root):
    root.mkdir()
    header = '<!DOCTYPE lewis SYSTEM "lewis.dtd">\n'
    from test_paper_sources import sgml_document

    (root / "reut2-000.sgm").write_text(header + "".join(sgml_document(*doc) for doc in REUTERS_DOCS), encoding="latin-1")
    return root


CASES = {
    # dataset: (overrides given the data directory, sizes train/validation/test, classes, multi-label, pairs)
    "snli": (lambda d: [f"dataset.source.local_dir={snli_files(d / 'snli')}"], (30, 6, 9), 3, False, True),
    "imdb_hub": (lambda d: [f"dataset.source.local_dir={imdb_files(d / 'imdb')}"], (36, 4, 10), 2, False, False),
    "reuters": (lambda d: [f"dataset.source.path={reuters_files(d / 'reuters')}", "dataset.splits.validation=0.5"], (1, 2, 2), 2, True, False),
    "aapd": (lambda d: [f"dataset.source.path={write_aapd(d / 'aapd', AAPD_FILES)}"], (3, 1, 2), 4, True, False),
    "reuters_corn_grain": (
        lambda d: [f"dataset.source.directory={write_arff(d / 'weka', {'train': [1, 0, 0] * 4, 'test': [1, 0, 0]}, {'train': [1, 1, 0] * 4, 'test': [0, 1, 0]}, texts=[f'doc {i}' for i in range(12)])}", "dataset.splits.validation=0.25"],
        (9, 3, 3), 2, True, False,
    ),
}


@pytest.mark.parametrize("dataset", sorted(CASES))
def test_dataset_config_loads_from_local_files(dataset, tmp_path):
    overrides, sizes, classes, multi_label, pairs = CASES[dataset]
    cfg = compose_train([f"dataset={dataset}", *overrides(tmp_path)], tmp_path)
    data = instantiate(cfg.dataset)
    assert tuple(len(data.splits[s]) for s in ("train", "validation", "test")) == sizes
    assert data.num_classes == classes and data.multi_label == multi_label and data.has_pairs == pairs
    assert data.name == dataset and len(data.fingerprint) == 16


def test_snli_drops_unlabelled_rows_and_keeps_hub_row_ids(tmp_path):
    cfg = compose_train(["dataset=snli", f"dataset.source.local_dir={snli_files(tmp_path / 'snli')}"], tmp_path)
    test = instantiate(cfg.dataset).splits["test"]
    assert test["id"][:3] == ["test-000001", "test-000002", "test-000003"]  # row 0 had label -1
    assert test["label"][:3] == [0, 1, 2] and test.features["label"].names == SNLI_LABELS


def test_missing_data_path_names_the_key(tmp_path):
    cfg = compose_train(["dataset=aapd"], tmp_path)
    with pytest.raises(Exception, match="dataset.source.path"):
        instantiate(cfg.dataset)


@pytest.mark.parametrize("experiment", PAPER)
def test_paper_experiment_composes_with_the_papers_settings(experiment, tmp_path):
    """One parametrised experiment: experiment=paper dataset=<d> model=<m> takes the paper's
    settings for d x m from conf/hparams."""
    dataset, model = experiment.split("_")
    cfg = compose_train(["experiment=paper", f"dataset={'imdb_hub' if dataset == 'imdb' else dataset}", f"model={model}"], tmp_path)
    expected = {  # max length; E, lr, batch from the paper's configurations.json
        ("snli", "bert"): (128, 2, 3.586e-5, 256), ("snli", "bilstm"): (128, 39, 7.007e-4, 4096),
        ("imdb", "bert"): (512, 3, 2.693e-5, 32), ("imdb", "bilstm"): (512, 26, 1.477e-3, 1024),
        ("reuters", "bert"): (256, 14, 5.495e-5, 128), ("reuters", "bilstm"): (256, 72, 1.863e-3, 512),
        ("aapd", "bert"): (256, 13, 7.843331259686159e-5, 256), ("aapd", "bilstm"): (256, 50, 1.977462824914604e-3, 2048),
    }[(dataset, model)]
    assert (cfg.dataset.max_length, cfg.model.epochs, cfg.model.optimizer.lr, cfg.model.batch_size) == expected
    assert cfg.dataset.name == ("imdb_hub" if dataset == "imdb" else dataset)
    assert cfg.name == f"paper_{cfg.dataset.name}_{model}" and cfg.model.name == model
    if model == "bert":
        assert cfg.model.checkpoint == "bert-base-uncased"


def test_paper_grid_is_one_sweep_of_1230_runs():
    """experiment=paper sweeps 30 seeds x 41 arms: the dense population and 8 methods x 5
    sparsities, each arm composing to its pruning preset and sparsity."""
    loader = ConfigLoaderImpl(config_search_path=create_config_search_path(str(CONF)))
    cfg = loader.load_configuration("train", overrides=["experiment=paper", "dataset=aapd", "model=bilstm"], run_mode=RunMode.MULTIRUN)
    params = [f"{key}={value}" for key, value in cfg.hydra.sweeper.params.items()]
    jobs = BasicSweeper.split_arguments(OverridesParser.create(config_loader=loader).parse_overrides(params), None)[0]
    assert len(jobs) == 1230 and len({tuple(job) for job in jobs}) == 1230
    arms = sorted({job[1].split("=")[1] for job in jobs})
    assert len(arms) == 41 and "dense" in arms
    seen = set()
    for arm in arms:
        composed = compose_train([f"arm={arm}"])
        seen.add((composed.pruning.name, float(composed.sparsity)))
    methods = ["imp_ft", "imp_wr", "mp_ai", "iibp_ft", "iibp_wr", "ibp_ai", "irp_ft", "rp_ai"]  # the paper's 8
    assert seen == {("dense", 0.0)} | {(m, s) for m in methods for s in (0.2, 0.5, 0.7, 0.9, 0.99)}


# ---------------------------------------------------------------------------------------------
# sentence pairs


def test_bert_pair_encodings():
    """standard: [CLS] a [SEP] b [SEP] with segment 1 on b; reference: the literal " [SEP] " in one
    string becomes the separator token, and every token keeps segment 0."""
    import torch

    from pie.models.bert import BertTokenizer, segment_ids

    standard = BertTokenizer("packaged:all-MiniLM-L6-v2", "standard")
    reference = BertTokenizer("packaged:all-MiniLM-L6-v2", "reference")
    a = standard.encode(["a man sleeps"], 32, text_pairs=["someone rests"])[0]
    b = reference.encode(["a man sleeps"], 32, text_pairs=["someone rests"])[0]
    assert a == b  # the same ids: the difference is in the segments
    assert a.count(standard.sep_id) == 2
    ids = torch.tensor([a + [standard.pad_id] * 2])
    mask = (ids != standard.pad_id).long()
    segments = segment_ids(ids, mask, standard.sep_id)[0].tolist()
    first_sep = a.index(standard.sep_id)
    assert segments == [0] * (first_sep + 1) + [1] * (len(a) - first_sep - 1) + [0, 0]
    assert standard.fingerprint != reference.fingerprint
    single = standard.encode(["a man sleeps"], 32)[0]
    assert segment_ids(torch.tensor([single]), torch.ones(1, len(single), dtype=torch.long), standard.sep_id).sum() == 0


def test_bert_network_uses_segments_only_for_standard_pairs():
    from pie.models.bert import BertTokenizer, build

    assert build(3, BertTokenizer("packaged:all-MiniLM-L6-v2", "standard"), "packaged:all-MiniLM-L6-v2").sep_id is not None
    assert build(3, BertTokenizer("packaged:all-MiniLM-L6-v2", "reference"), "packaged:all-MiniLM-L6-v2").sep_id is None


def test_bilstm_pair_is_text_separator_pair():
    from pie.models.glove import GloveVocabulary

    vocabulary = GloveVocabulary.from_texts(["a man sleeps", "someone rests"])
    ids = vocabulary.encode(["a man sleeps"], 10, text_pairs=["someone rests"])[0]
    assert ids == vocabulary.encode(["a man sleeps"], 10)[0] + [vocabulary.unk_id] + vocabulary.encode(["someone rests"], 10)[0]
    assert len(vocabulary.encode(["a man sleeps"], 4, text_pairs=["someone rests"])[0]) == 4
    assert vocabulary.unk_id == 1 and np.abs(vocabulary.vectors[1]).sum() > 0  # the mean GloVe vector, as the reference's "[SEP]"
