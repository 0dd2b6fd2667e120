"""BERT-family checkpoints: the packaged MiniLM, a local directory, and a hub id from the local
Hugging Face cache (all offline), written by the tests where they are not packaged."""

from pathlib import Path

import pytest
import torch

from conftest import TINY, compose_train
from pie.models.bert import BertTokenizer, build, resolve_checkpoint

WORDS = "the a film movie is was good bad great boring not very funny dull best worst and of it".split()


def write_tiny_checkpoint(directory: Path) -> Path:
    """A 2-layer BERT with a 40-word vocabulary, saved like any transformers checkpoint."""
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    directory.mkdir(parents=True, exist_ok=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS, *"abcdefghijklmnopqrstuvwxyz.,!'"]
    (directory / "vocab.txt").write_text("\n".join(vocab) + "\n")
    BertTokenizerFast(vocab_file=str(directory / "vocab.txt")).save_pretrained(directory)
    config = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128)
    torch.manual_seed(0)
    BertForSequenceClassification(config).save_pretrained(directory)
    return directory


def write_hub_cache(cache: Path, repo_id: str) -> None:
    """Lay a checkpoint out as huggingface_hub caches a download: refs/main -> snapshots/<commit>/."""
    commit = "0" * 40
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    write_tiny_checkpoint(repo / "snapshots" / commit)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)


def test_packaged_minilm_resolves_and_classifies():
    """The default checkpoint loads offline from the installed package, with a fresh 3-way head."""
    path = Path(resolve_checkpoint("packaged:all-MiniLM-L6-v2"))
    assert (path / "model.safetensors").exists()
    tokenizer = BertTokenizer(str(path))
    network = build(3, tokenizer, str(path))
    ids = tokenizer.encode(["a fine film", "a dull one"], max_length=16)
    batch = torch.nn.utils.rnn.pad_sequence([torch.tensor(i) for i in ids], batch_first=True)
    logits = network(batch, (batch != tokenizer.pad_id).long())
    assert logits.shape == (2, 3)
    assert sum(p.numel() for p in network.parameters()) == 22_714_371


def test_local_directory_checkpoint(tmp_path):
    checkpoint = write_tiny_checkpoint(tmp_path / "tiny-bert")
    assert resolve_checkpoint(str(checkpoint)) == str(checkpoint)
    assert build(2, None, str(checkpoint)).model.config.num_hidden_layers == 2


def test_hub_id_loads_from_the_local_cache(tmp_path, monkeypatch):
    """A hub id already in the HF cache loads with HF_HUB_OFFLINE=1, through the same code path."""
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    write_hub_cache(tmp_path / "hub", "someone/tiny-bert")
    assert resolve_checkpoint("someone/tiny-bert") == "someone/tiny-bert"
    network = build(4, None, "someone/tiny-bert", cache_dir=str(tmp_path / "hub"))
    assert network.model.classifier.out_features == 4


def test_missing_checkpoints_are_named(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match="no such directory"):
        resolve_checkpoint(str(tmp_path / "nowhere"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "empty-hub"))
    with pytest.raises(FileNotFoundError, match="model.checkpoint=bert-base-uncased"):
        resolve_checkpoint("bert-base-uncased")


@pytest.mark.slow
@pytest.mark.parametrize("checkpoint", ["packaged", "local"])
def test_train_bert_with_pruning(checkpoint, tmp_path):
    """train.py's code path with model=bert: IMP-FT to 50% of the prunable set, predictions logged."""
    from pie.training import train

    overrides = [*TINY, "model=bert", "pruning=imp_ft", "sparsity=0.5", "dataset.max_train_examples=32",
                 "dataset.max_eval_examples=16", "dataset.max_length=32", "model.batch_size=16"]
    if checkpoint == "local":
        overrides.append(f"model.checkpoint={write_tiny_checkpoint(tmp_path / 'ckpt')}")
    manifest = train(compose_train(overrides, tmp_path))
    assert manifest.complete and manifest.model.name == "bert"
    assert abs(manifest.pruning.achieved_prunable - 0.5) <= 0.001
    assert not any("LayerNorm" in name or "embeddings" in name for name in manifest.pruning.per_tensor)
    assert manifest.predictions["test_final"].rows == 16
