"""Each pair of populations draws from a random stream of its own (pie.identify.pair_rng): its
intervals, seed-noise null and robust PIEs are the same whichever other populations the same
identify_pies call analyses, and in whatever order they come."""

import numpy as np
import pandas as pd

from pie.identify import identify, pair_rng
from pie.runs.manifest import PopulationKey
from test_bad_runs import write_run


def _summary(patterns, out):
    summary = identify(patterns, out, min_seeds=3, with_texts=False).summary
    return summary[summary["sparsity"] == 0.5].drop(columns=["model_key"]).reset_index(drop=True)


def test_a_pair_gives_the_same_numbers_alone_and_beside_other_sweeps(tmp_path):
    for method, sparsity in [("dense", 0.0), ("imp", 0.5)]:
        for seed in range(3):
            write_run(tmp_path / "a", method, sparsity, seed)
    for seed in range(3):
        write_run(tmp_path / "b", "imp", 0.3, seed)  # analysed before imp@0.5 when both sweeps are given
    alone = _summary([str(tmp_path / "a")], tmp_path / "alone")
    assert alone.loc[0, "pie_percent_low"] < alone.loc[0, "pie_percent_high"]  # intervals were drawn
    for patterns in ([tmp_path / "a", tmp_path / "b"], [tmp_path / "b", tmp_path / "a"]):
        pd.testing.assert_frame_equal(alone, _summary([str(p) for p in patterns], tmp_path / "both"))


def test_streams_depend_on_the_seed_the_stream_and_the_populations():
    dense = PopulationKey("d", "m", "mk", "dense", "dense", 0.0)
    half, most = (PopulationKey("d", "m", "mk", "imp", "imp", s) for s in (0.5, 0.9))
    first = pair_rng(0, 0, dense, half).integers(1 << 30, size=4)
    assert np.array_equal(first, pair_rng(0, 0, dense, half).integers(1 << 30, size=4))
    for other in (pair_rng(1, 0, dense, half), pair_rng(0, 1, dense, half), pair_rng(0, 0, dense, most)):
        assert not np.array_equal(first, other.integers(1 << 30, size=4))
