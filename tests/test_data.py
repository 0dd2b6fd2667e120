"""Stratified splits and subsamples, fingerprints, `prepare`, and the packaged sources."""

from collections import Counter

import datasets
import numpy as np
import pytest

from pie.data.dataset import SPLITS, TextClassificationData, prepare
from pie.data.fingerprint import fingerprint_splits
from pie.hashing import fingerprint_object
from pie.data.sources import bbc_news, from_records, movie_reviews
from pie.data.splits import stratified_split, stratified_subsample

FRACTIONS = {"train": 0.8, "validation": 0.1, "test": 0.1}
# 100 labels: 60 of class 0 and 40 of class 1, interleaved.
LABELS = np.array([0, 0, 1, 0, 1] * 20)


def make_source(n=100, labels=None, texts=None, ids=None):
    labels = list(LABELS[:n] if labels is None else labels)
    texts = [f"text number {i}" for i in range(n)] if texts is None else texts
    ids = [f"ex-{i:03d}" for i in range(n)] if ids is None else ids
    return from_records(ids, texts, labels, ["neg", "pos"])


def run_prepare(source, **kwargs):
    arguments = dict(name="toy", source=source, splits=FRACTIONS, split_seed=13, max_length=32)
    arguments.update(kwargs)
    return prepare(**arguments)


# ---------------------------------------------------------------------------------------------
# stratified_split


def test_labels_fixture():
    """The fixture has 60 examples of class 0 and 40 of class 1."""
    assert Counter(LABELS.tolist()) == {0: 60, 1: 40}


def test_split_deterministic_for_seed():
    """The same seed gives the same split."""
    first = stratified_split(LABELS, FRACTIONS, seed=3)
    second = stratified_split(LABELS, FRACTIONS, seed=3)
    for name in FRACTIONS:
        np.testing.assert_array_equal(first[name], second[name])


def test_split_changes_with_seed():
    """Another seed gives a different split."""
    first = stratified_split(LABELS, FRACTIONS, seed=3)
    other = stratified_split(LABELS, FRACTIONS, seed=4)
    assert any(not np.array_equal(first[n], other[n]) for n in FRACTIONS)


def test_split_disjoint_covering_sorted():
    """Parts are disjoint, cover 0..N-1 and are sorted; sizes 80/10/10."""
    parts = stratified_split(LABELS, FRACTIONS, seed=0)
    assert list(parts) == ["train", "validation", "test"]
    assert [len(parts[n]) for n in FRACTIONS] == [80, 10, 10]
    union = np.concatenate(list(parts.values()))
    assert len(np.unique(union)) == len(union) == 100
    np.testing.assert_array_equal(np.sort(union), np.arange(100))
    for part in parts.values():
        np.testing.assert_array_equal(part, np.sort(part))


def test_split_exact_class_counts():
    """60/40 split 0.8/0.1/0.1 per class: train 48+32, validation 6+4, test 6+4."""
    parts = stratified_split(LABELS, FRACTIONS, seed=0)
    assert Counter(LABELS[parts["train"]].tolist()) == {0: 48, 1: 32}
    assert Counter(LABELS[parts["validation"]].tolist()) == {0: 6, 1: 4}
    assert Counter(LABELS[parts["test"]].tolist()) == {0: 6, 1: 4}


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_split_keeps_class_proportions(seed):
    """Uneven classes (37/50/13): each part holds fraction * class size +- 1 per class."""
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.repeat([0, 1, 2], [37, 50, 13]))
    fractions = {"train": 0.7, "validation": 0.15, "test": 0.15}
    parts = stratified_split(labels, fractions, seed)
    sizes = {0: 37, 1: 50, 2: 13}
    for name, fraction in fractions.items():
        counts = Counter(labels[parts[name]].tolist())
        for c, size in sizes.items():
            assert abs(counts.get(c, 0) - fraction * size) <= 1, (name, c)
    assert sum(len(p) for p in parts.values()) == 100


@pytest.mark.parametrize(
    "fractions",
    [
        {"train": 0.8, "validation": 0.1, "test": 0.2},
        {"train": 0.5, "validation": 0.1, "test": 0.1},
        {"train": 1.1, "validation": -0.05, "test": -0.05},
        {"train": 1.0, "validation": 0.0, "test": 0.0},
    ],
)
def test_split_rejects_bad_fractions(fractions):
    """Fractions that don't sum to 1 (or are not positive) raise ValueError."""
    with pytest.raises(ValueError, match="sum to 1"):
        stratified_split(LABELS, fractions, seed=0)


# ---------------------------------------------------------------------------------------------
# stratified_subsample


def test_subsample_exact_size_sorted_and_stratified():
    """n = 25 of 60/40: exactly 15 + 10, sorted, unique."""
    keep = stratified_subsample(LABELS, 25, seed=0)
    assert len(keep) == 25
    assert len(np.unique(keep)) == 25
    np.testing.assert_array_equal(keep, np.sort(keep))
    assert Counter(LABELS[keep].tolist()) == {0: 15, 1: 10}


def test_subsample_remainders_go_to_largest_fraction():
    """n = 7 of 60/40: quotas 4.2 / 2.8 -> 4 + 3."""
    keep = stratified_subsample(LABELS, 7, seed=5)
    assert len(keep) == 7
    assert Counter(LABELS[keep].tolist()) == {0: 4, 1: 3}


@pytest.mark.parametrize("n", [1, 10, 33, 99])
def test_subsample_sizes(n):
    """Any 1 <= n < N gives exactly n sorted unique positions, proportions within 1."""
    keep = stratified_subsample(LABELS, n, seed=2)
    assert len(keep) == len(np.unique(keep)) == n
    np.testing.assert_array_equal(keep, np.sort(keep))
    counts = Counter(LABELS[keep].tolist())
    assert abs(counts.get(0, 0) - 0.6 * n) <= 1
    assert abs(counts.get(1, 0) - 0.4 * n) <= 1


def test_subsample_deterministic():
    """Same seed -> same subsample; another seed -> a different one."""
    np.testing.assert_array_equal(stratified_subsample(LABELS, 20, 1), stratified_subsample(LABELS, 20, 1))
    assert not np.array_equal(stratified_subsample(LABELS, 20, 1), stratified_subsample(LABELS, 20, 2))


@pytest.mark.parametrize("n", [None, 100, 250])
def test_subsample_all(n):
    """n = None or n >= N returns every position in order."""
    np.testing.assert_array_equal(stratified_subsample(LABELS, n, seed=0), np.arange(100))


@pytest.mark.parametrize("n", [0, -3])
def test_subsample_rejects_n_below_one(n):
    """n < 1 raises ValueError."""
    with pytest.raises(ValueError, match=">= 1"):
        stratified_subsample(LABELS, n, seed=0)


# ---------------------------------------------------------------------------------------------
# fingerprints and prepare


def test_from_records_schema():
    """from_records gives columns id/text/label with a ClassLabel."""
    source = make_source(5)
    assert source.column_names == ["id", "text", "label"]
    assert source.features["label"].names == ["neg", "pos"]
    assert source["id"] == ["ex-000", "ex-001", "ex-002", "ex-003", "ex-004"]
    assert source["label"] == [0, 0, 1, 0, 1]


def test_fingerprint_object_is_order_independent_for_keys():
    """fingerprint_object sorts keys and is 16 hex digits."""
    a = fingerprint_object({"x": 1, "y": [1, 2]})
    assert a == fingerprint_object({"y": [1, 2], "x": 1})
    assert a != fingerprint_object({"x": 2, "y": [1, 2]})
    assert len(a) == 16 and int(a, 16) >= 0


def test_prepare_sizes_and_description():
    """100 examples at 0.8/0.1/0.1 give 80/10/10 and a consistent description."""
    data = run_prepare(make_source())
    assert isinstance(data, TextClassificationData)
    assert {s: len(data.splits[s]) for s in SPLITS} == {"train": 80, "validation": 10, "test": 10}
    assert data.label_names == ("neg", "pos")
    assert data.num_classes == 2
    description = data.describe()
    assert description["sizes"] == {"train": 80, "validation": 10, "test": 10}
    assert description["fingerprint"] == data.fingerprint
    assert description["split_seed"] == 13 and description["max_length"] == 32
    assert len(data.fingerprint) == 16
    assert data.fingerprint == fingerprint_splits(data.splits)


def test_prepare_same_fingerprint_twice():
    """Preparing the same source twice gives the same splits and fingerprint."""
    first, second = run_prepare(make_source()), run_prepare(make_source())
    assert first.fingerprint == second.fingerprint
    for s in SPLITS:
        assert first.splits[s]["id"] == second.splits[s]["id"]


def test_prepare_fingerprint_changes_with_one_text():
    """Changing the text of one example changes the fingerprint."""
    texts = [f"text number {i}" for i in range(100)]
    texts[57] = "text number 57!"
    assert run_prepare(make_source(texts=texts)).fingerprint != run_prepare(make_source()).fingerprint


def test_prepare_fingerprint_changes_with_one_label():
    """Changing the label of one example changes the fingerprint."""
    labels = LABELS.copy()
    labels[0] = 1
    assert run_prepare(make_source(labels=labels)).fingerprint != run_prepare(make_source()).fingerprint


def test_prepare_fingerprint_changes_with_split_seed():
    """Another split seed gives other splits and another fingerprint."""
    assert run_prepare(make_source(), split_seed=14).fingerprint != run_prepare(make_source()).fingerprint


def test_prepare_fingerprint_changes_with_max_train_examples():
    """max_train_examples changes the fingerprint (and 40 != 50)."""
    full = run_prepare(make_source()).fingerprint
    forty = run_prepare(make_source(), max_train_examples=40).fingerprint
    fifty = run_prepare(make_source(), max_train_examples=50).fingerprint
    assert len({full, forty, fifty}) == 3


def test_prepare_subsamples_train():
    """max_train_examples=40 keeps 40 stratified training examples (24 + 16), eval untouched."""
    full = run_prepare(make_source())
    data = run_prepare(make_source(), max_train_examples=40)
    assert len(data.splits["train"]) == 40
    assert Counter(data.splits["train"]["label"]) == {0: 24, 1: 16}
    assert set(data.splits["train"]["id"]) <= set(full.splits["train"]["id"])
    assert data.splits["validation"]["id"] == full.splits["validation"]["id"]
    assert data.splits["test"]["id"] == full.splits["test"]["id"]
    ids = data.splits["train"]["id"]
    assert ids == sorted(ids)  # dataset order kept


def test_prepare_subsamples_eval():
    """max_eval_examples=4 keeps 4 validation and 4 test examples; train untouched."""
    full = run_prepare(make_source())
    data = run_prepare(make_source(), max_eval_examples=4)
    assert len(data.splits["validation"]) == 4
    assert len(data.splits["test"]) == 4
    assert len(data.splits["train"]) == 80
    assert set(data.splits["validation"]["id"]) <= set(full.splits["validation"]["id"])
    assert set(data.splits["test"]["id"]) <= set(full.splits["test"]["id"])
    assert data.fingerprint != full.fingerprint


def test_prepare_limits_larger_than_split_keep_everything():
    """Limits above the split sizes keep every example and the same fingerprint."""
    full = run_prepare(make_source())
    data = run_prepare(make_source(), max_train_examples=1000, max_eval_examples=1000)
    assert data.fingerprint == full.fingerprint


@pytest.mark.parametrize("key", ["max_train_examples", "max_eval_examples"])
@pytest.mark.parametrize("value", [0, -5])
def test_prepare_rejects_non_positive_limits(key, value):
    """max_*_examples < 1 raises ValueError naming the setting."""
    with pytest.raises(ValueError, match=key):
        run_prepare(make_source(), **{key: value})


def test_prepare_rejects_duplicate_ids():
    """Duplicate example ids raise ValueError."""
    ids = [f"ex-{i:03d}" for i in range(100)]
    ids[99] = "ex-000"
    with pytest.raises(ValueError, match="duplicate"):
        run_prepare(make_source(ids=ids))


def test_prepare_rejects_wrong_split_names():
    """Split fractions must name train/validation/test."""
    with pytest.raises(ValueError, match="exactly"):
        run_prepare(make_source(), splits={"train": 0.8, "dev": 0.1, "test": 0.1})


def dataset_dict(include=SPLITS):
    sizes = {"train": 20, "validation": 6, "test": 8}
    parts = {}
    for split in SPLITS:
        n = sizes[split]
        ids = [f"{split}-{i:02d}" for i in range(n)]
        texts = [f"{split} text {i}" for i in range(n)]
        labels = [i % 2 for i in range(n)]
        if split in include:
            parts[split] = from_records(ids, texts, labels, ["neg", "pos"])
    return datasets.DatasetDict(parts)


def test_prepare_dataset_dict_uses_given_splits():
    """A DatasetDict source keeps its train/validation/test splits as given, in order."""
    source = dataset_dict()
    data = run_prepare(source, splits={})
    for split in SPLITS:
        assert data.splits[split]["id"] == source[split]["id"]
        assert data.splits[split]["text"] == source[split]["text"]
        assert data.splits[split]["label"] == source[split]["label"]
    assert data.fingerprint == run_prepare(dataset_dict(), splits=FRACTIONS).fingerprint


def test_prepare_dataset_dict_subsamples():
    """Limits also apply to predefined splits."""
    data = run_prepare(dataset_dict(), max_train_examples=10, max_eval_examples=4)
    assert [len(data.splits[s]) for s in SPLITS] == [10, 4, 4]
    assert Counter(data.splits["train"]["label"]) == {0: 5, 1: 5}


def test_prepare_dataset_dict_missing_validation():
    """A DatasetDict without "validation" and no validation fraction raises naming the split."""
    with pytest.raises(ValueError, match="validation"):
        run_prepare(dataset_dict(include=("train", "test")), splits={})


def test_prepare_carves_validation_from_train():
    """Without a validation split, splits.validation of train becomes validation (stratified,
    disjoint, ids kept); test stays as given."""
    source = dataset_dict(include=("train", "test"))
    data = run_prepare(source, splits={"validation": 0.2})
    assert [len(data.splits[s]) for s in SPLITS] == [16, 4, 8]
    assert Counter(data.splits["validation"]["label"]) == {0: 2, 1: 2}
    train, validation = set(data.splits["train"]["id"]), set(data.splits["validation"]["id"])
    assert not train & validation and train | validation == set(source["train"]["id"])
    assert data.splits["test"]["id"] == source["test"]["id"]


# ---------------------------------------------------------------------------------------------
# multi-label data and sentence pairs


def multi_label_source(n=60):
    """Label sets cycling through {}, {0}, {1}, {0, 2}, {1, 2}, {0, 1, 2}."""
    cycle = [[], [0], [1], [0, 2], [1, 2], [0, 1, 2]]
    return from_records([f"m-{i:02d}" for i in range(n)], [f"doc {i}" for i in range(n)],
                        [cycle[i % 6] for i in range(n)], ["a", "b", "c"], multi_label=True)


def test_multi_label_prepare_keeps_label_sets_and_strata():
    """Multi-label data: the label combinations keep their proportions in every split; the
    multi-hot array matches the label lists; describe() says multi_label."""
    data = run_prepare(multi_label_source(), splits={"train": 0.5, "validation": 0.25, "test": 0.25})
    assert data.multi_label and data.num_classes == 3 and data.label_names == ("a", "b", "c")
    for split in SPLITS:
        combinations = Counter(tuple(row) for row in data.splits[split]["label"])
        assert len(combinations) == 6 and len(set(combinations.values())) == 1
        hot = data.label_array(split)
        assert hot.dtype == np.int8 and hot.shape == (len(data.splits[split]), 3)
        assert [np.flatnonzero(r).tolist() for r in hot] == [sorted(r) for r in data.splits[split]["label"]]
    assert data.describe()["multi_label"] is True and data.describe()["pairs"] is False


def test_multi_label_subsample_is_stratified_by_combination():
    data = run_prepare(multi_label_source(), max_train_examples=12)
    assert Counter(tuple(r) for r in data.splits["train"]["label"]) == {c: 2 for c in [(), (0,), (1,), (0, 2), (1, 2), (0, 1, 2)]}


def test_pairs_are_kept_and_joined_for_reading():
    def pairs(split):
        return from_records([f"{split}{i}" for i in range(4)], ["a man", "a dog", "a cat", "a cow"], [0, 1, 0, 1],
                            ["x", "y"], text_pairs=["sleeps", "runs", "eats", "moos"])

    data = run_prepare(datasets.DatasetDict({s: pairs(s) for s in SPLITS}), splits={})
    assert data.has_pairs and data.splits["test"]["text_pair"] == ["sleeps", "runs", "eats", "moos"]
    assert data.display_texts("test")[1] == "a dog [SEP] runs"
    assert data.label_array("test").tolist() == [0, 1, 0, 1]


# ---------------------------------------------------------------------------------------------
# packaged sources


def test_rotten_tomatoes():
    """Rotten Tomatoes: 8,530 rows, labels {0, 1}, unique ids."""
    data = movie_reviews("rotten_tomatoes")
    assert len(data) == 8530
    assert set(data["label"]) == {0, 1}
    assert len(set(data["id"])) == 8530
    assert data["id"][0] == "rotten_tomatoes-00000"
    assert data.features["label"].names == ["negative", "positive"]


def test_movie_reviews_unknown_subset():
    """An unknown subset raises ValueError."""
    with pytest.raises(ValueError, match="unknown movie-reviews subset"):
        movie_reviews("yelp")


def test_bbc_news():
    """BBC News: 2,225 rows, 5 classes, unique ids."""
    data = bbc_news()
    assert len(data) == 2225
    assert data.features["label"].num_classes == 5
    assert set(data["label"]) == {0, 1, 2, 3, 4}
    assert len(set(data["id"])) == 2225
