"""Which parameters are prunable: the reference rule and the project's default patterns."""

import numpy as np
import pytest
import transformers
from torch import nn

from pie.models.bilstm import BiLSTMClassifier
from pie.pruning.selection import by_patterns, reference

DEFAULT_INCLUDE = ["weight"]
DEFAULT_EXCLUDE = ["embed", "LayerNorm", "layer_norm", "(^|\\.)classifier\\."]

# bert-base: per layer Q, K, V, O (4 * 768 * 768) + intermediate and output (2 * 768 * 3072)
# + two LayerNorm weights (2 * 768) = 7,079,424; x 12 layers + pooler 768 * 768.
BERT_REFERENCE = 12 * (4 * 768 * 768 + 2 * 768 * 3072 + 2 * 768) + 768 * 768
BERT_DEFAULT = 12 * (4 * 768 * 768 + 2 * 768 * 3072) + 768 * 768
# BiLSTM (300-d inputs, hidden 100, 2 layers, both directions): layer 0 (400x300 + 400x100) x 2,
# layer 1 (400x200 + 400x100) x 2, MLP 200x256 + 256x128.
BILSTM_REFERENCE = 2 * (400 * 300 + 400 * 100) + 2 * (400 * 200 + 400 * 100) + 200 * 256 + 256 * 128


def count(selected):
    return sum(p.numel() for p in selected.values())


@pytest.fixture(scope="module")
def bert():
    """Randomly initialised bert-base with a 3-class head (a couple of seconds to build)."""
    transformers.set_seed(0)
    return transformers.BertForSequenceClassification(transformers.BertConfig(num_labels=3))


@pytest.fixture(scope="module")
def bilstm():
    """The paper's BiLSTM over 1,000 random 300-d word vectors, 3 classes."""
    embeddings = np.random.default_rng(0).normal(size=(1000, 300)).astype(np.float32)
    return BiLSTMClassifier(embeddings=embeddings, num_classes=3)


def test_hand_counts():
    """The hand-computed totals are the numbers the paper setup expects."""
    assert BERT_REFERENCE == 85_542_912
    assert BILSTM_REFERENCE == 643_968
    assert BERT_DEFAULT == 85_524_480


def test_reference_bert_count(bert):
    """reference() selects exactly 85,542,912 bert-base parameters."""
    assert count(reference(bert)) == 85_542_912


def test_reference_bert_contents(bert):
    """Encoder LayerNorm weights and the pooler are in; embeddings, biases, classifier out."""
    names = set(reference(bert))
    assert "bert.encoder.layer.0.attention.output.LayerNorm.weight" in names
    assert "bert.encoder.layer.11.output.LayerNorm.weight" in names
    assert "bert.pooler.dense.weight" in names
    assert "bert.encoder.layer.0.attention.self.query.weight" in names
    assert "bert.encoder.layer.5.intermediate.dense.weight" in names
    assert not any("embeddings" in n for n in names)
    assert not any("bias" in n for n in names)
    assert not any(n.startswith("classifier") for n in names)
    # 12 layers x (Q, K, V, O, intermediate, output, 2 LayerNorms) + pooler.
    assert len(names) == 12 * 8 + 1


def test_reference_returns_the_model_parameters(bert):
    """reference() maps qualified names to the model's own Parameter objects."""
    params = dict(bert.named_parameters())
    for name, param in reference(bert).items():
        assert params[name] is param


def test_reference_bilstm_count(bilstm):
    """reference() on the 300-d BiLSTM selects exactly 643,968 parameters."""
    assert count(reference(bilstm)) == 643_968


def test_reference_bilstm_contents(bilstm):
    """LSTM and MLP weights in; embedding, biases and classifier out."""
    names = set(reference(bilstm))
    expected = {
        f"lstm.weight_{kind}_l{layer}{suffix}"
        for kind in ("ih", "hh")
        for layer in (0, 1)
        for suffix in ("", "_reverse")
    } | {"mlp.0.weight", "mlp.2.weight"}
    assert names == expected


def test_default_patterns_bert(bert):
    """Default patterns on BERT: no embedding, LayerNorm, bias or classifier parameter."""
    selected = by_patterns(bert, DEFAULT_INCLUDE, DEFAULT_EXCLUDE)
    names = set(selected)
    assert not any("embed" in n for n in names)
    assert not any("LayerNorm" in n for n in names)
    assert not any("bias" in n for n in names)
    assert not any("classifier" in n for n in names)
    assert "bert.pooler.dense.weight" in names
    assert "bert.encoder.layer.3.attention.self.key.weight" in names
    assert "bert.encoder.layer.3.output.dense.weight" in names
    assert len(names) == 12 * 6 + 1
    assert count(selected) == 85_524_480


def test_default_patterns_bilstm(bilstm):
    """Default patterns on the BiLSTM: LSTM weight_ih/weight_hh and MLP weights only."""
    selected = by_patterns(bilstm, DEFAULT_INCLUDE, DEFAULT_EXCLUDE)
    names = set(selected)
    assert {"lstm.weight_ih_l0", "lstm.weight_hh_l0", "lstm.weight_ih_l1_reverse",
            "lstm.weight_hh_l1_reverse", "mlp.0.weight", "mlp.2.weight"} <= names
    assert "embedding.weight" not in names
    assert "classifier.weight" not in names
    assert not any("bias" in n for n in names)
    assert len(names) == 10
    assert count(selected) == 643_968


def test_default_patterns_keep_model_order(bilstm):
    """by_patterns keeps named_parameters order and the Parameter objects."""
    selected = by_patterns(bilstm, DEFAULT_INCLUDE, DEFAULT_EXCLUDE)
    params = dict(bilstm.named_parameters())
    order = [n for n in params if n in selected]
    assert list(selected) == order
    assert all(selected[n] is params[n] for n in selected)


def test_classifier_pattern_only_matches_a_component():
    """'(^|\\.)classifier\\.' excludes 'classifier.weight' but not a name merely containing it."""
    class Wrapper(nn.Module):
        def __init__(self):
            super().__init__()
            self.preclassifier = nn.Linear(2, 2)
            self.classifier = nn.Linear(2, 2)

    selected = by_patterns(Wrapper(), DEFAULT_INCLUDE, DEFAULT_EXCLUDE)
    assert list(selected) == ["preclassifier.weight"]


def test_include_only(bilstm):
    """Without excludes every parameter matching include is selected."""
    selected = by_patterns(bilstm, ["^classifier\\."])
    assert set(selected) == {"classifier.weight", "classifier.bias"}


def test_patterns_matching_nothing_raise(bilstm):
    """A pattern set that matches nothing raises ValueError listing the parameter names."""
    with pytest.raises(ValueError, match="matched no parameter") as info:
        by_patterns(bilstm, ["no_such_parameter"])
    message = str(info.value)
    for name in ("embedding.weight", "lstm.weight_ih_l0", "mlp.0.bias", "classifier.weight"):
        assert name in message
    with pytest.raises(ValueError, match="lstm.weight_hh_l1"):
        by_patterns(bilstm, ["weight"], ["."])
