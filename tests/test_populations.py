"""Grouping runs into populations and pairing pruned populations with dense ones."""

from pathlib import Path

import pytest

from manifests import make_manifest
from pie.runs.manifest import PopulationKey, Run
from pie.runs.populations import PopulationError, group_populations, pair_with_dense


def run(seed, pruning="imp", target=0.9, dataset="rt", fingerprint="fp-1", model="bilstm", model_key="mk-1"):
    """A run; pruning="dense" gives a dense run (method dense, key dense, target 0)."""
    manifest = make_manifest(seed, method=pruning, target=target, dataset=dataset, fingerprint=fingerprint, model=model,
                             model_key=model_key)
    return Run(Path(f"/runs/{dataset}/{model_key}/{pruning}-{target}/{seed}"), manifest)


def dense_runs(seeds=(0, 1, 2), **kwargs):
    return [run(s, pruning="dense", **kwargs) for s in seeds]


def test_population_key_from_manifest():
    """The manifest's population key: dataset, model, keys, method and rounded sparsity."""
    key = run(0, target=0.9000000001).manifest.population_key
    assert key == PopulationKey("rt", "bilstm", "mk-1", "imp", "imp-key", 0.9)
    assert not key.is_dense
    assert key.dense_key == PopulationKey("rt", "bilstm", "mk-1", "dense", "dense", 0.0)
    assert key.label() == "rt/bilstm/imp@0.9"
    dense_key = run(0, pruning="dense").manifest.population_key
    assert dense_key.is_dense
    assert dense_key == key.dense_key


def test_grouping_by_dataset_model_pruning_sparsity():
    """Runs split by dataset, model key, pruning key and sparsity; seeds stay together."""
    runs = (
        dense_runs()
        + [run(s, target=0.5) for s in (0, 1, 2)]
        + [run(s, target=0.9) for s in (2, 0, 1)]
        + [run(s, pruning="mpai", target=0.9) for s in (0, 1)]
        + [run(s, model_key="mk-2") for s in (0, 1)]
        + [run(s, dataset="bbc", fingerprint="fp-b") for s in (0, 1)]
    )
    groups = group_populations(runs, min_seeds=2)
    sizes = {(k.dataset, k.model_key, k.pruning_key, k.sparsity): len(v) for k, v in groups.items()}
    assert sizes == {
        ("rt", "mk-1", "dense", 0.0): 3,
        ("rt", "mk-1", "imp-key", 0.5): 3,
        ("rt", "mk-1", "imp-key", 0.9): 3,
        ("rt", "mk-1", "mpai-key", 0.9): 2,
        ("rt", "mk-2", "imp-key", 0.9): 2,
        ("bbc", "mk-1", "imp-key", 0.9): 2,
    }
    key = PopulationKey("rt", "bilstm", "mk-1", "imp", "imp-key", 0.9)
    assert sorted(r.seed for r in groups[key]) == [0, 1, 2]
    assert list(groups) == sorted(groups)  # keys come back sorted


def test_mixed_fingerprints_raise():
    """A population mixing dataset fingerprints raises PopulationError naming both."""
    runs = [run(0, fingerprint="aaaa1111"), run(1, fingerprint="bbbb2222"), run(2, fingerprint="aaaa1111")]
    with pytest.raises(PopulationError) as info:
        group_populations(runs, min_seeds=1)
    message = str(info.value)
    assert "aaaa1111" in message and "bbbb2222" in message
    assert "rt/bilstm/imp@0.9" in message


def test_duplicate_seeds_raise():
    """The same seed twice in one population raises PopulationError naming the seed."""
    runs = [run(0), run(1), run(1)]
    with pytest.raises(PopulationError, match=r"seed\(s\) \[1\]"):
        group_populations(runs, min_seeds=1)


def test_same_seed_in_different_populations_is_fine():
    """Seed 0 in the dense and in a pruned population is no duplicate."""
    groups = group_populations(dense_runs((0,)) + [run(0)], min_seeds=1)
    assert len(groups) == 2


def test_too_few_seeds_raise():
    """Fewer seeds than min_seeds raises PopulationError mentioning min_seeds."""
    runs = dense_runs() + [run(0), run(1)]
    with pytest.raises(PopulationError, match="min_seeds=3") as info:
        group_populations(runs, min_seeds=3)
    assert "2 seed(s)" in str(info.value)
    assert len(group_populations(runs, min_seeds=2)) == 2


def test_population_error_is_value_error():
    """PopulationError is a ValueError."""
    assert issubclass(PopulationError, ValueError)


def test_pair_with_dense():
    """Every pruned population is paired with the dense one of its dataset and model setup."""
    runs = (
        dense_runs()
        + dense_runs(model_key="mk-2")
        + [run(s, target=0.5) for s in (0, 1, 2)]
        + [run(s, target=0.9) for s in (0, 1, 2)]
        + [run(s, target=0.9, model_key="mk-2") for s in (0, 1, 2)]
    )
    pairs = pair_with_dense(group_populations(runs, min_seeds=3))
    dense_1 = PopulationKey("rt", "bilstm", "mk-1", "dense", "dense", 0.0)
    dense_2 = PopulationKey("rt", "bilstm", "mk-2", "dense", "dense", 0.0)
    assert pairs == [
        (dense_1, PopulationKey("rt", "bilstm", "mk-1", "imp", "imp-key", 0.5)),
        (dense_1, PopulationKey("rt", "bilstm", "mk-1", "imp", "imp-key", 0.9)),
        (dense_2, PopulationKey("rt", "bilstm", "mk-2", "imp", "imp-key", 0.9)),
    ]


def test_only_dense_gives_no_pairs():
    """Dense populations alone give no pairs."""
    assert pair_with_dense(group_populations(dense_runs(), min_seeds=3)) == []


def test_pruned_without_dense_raises():
    """A pruned population with no dense population raises PopulationError."""
    runs = dense_runs(model_key="mk-2") + [run(s) for s in (0, 1, 2)]
    with pytest.raises(PopulationError, match="no dense population") as info:
        pair_with_dense(group_populations(runs, min_seeds=3))
    assert "mk-1" in str(info.value)


def test_pair_with_dense_different_fingerprints_raise():
    """A pruned population whose dense population saw other data raises PopulationError."""
    runs = dense_runs(fingerprint="fp-dense") + [run(s, fingerprint="fp-pruned") for s in (0, 1, 2)]
    with pytest.raises(PopulationError) as info:
        pair_with_dense(group_populations(runs, min_seeds=3))
    assert "fp-dense" in str(info.value) and "fp-pruned" in str(info.value)
