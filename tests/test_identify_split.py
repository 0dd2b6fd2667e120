"""identify_pies --split: the summary, summary.md and report.html say which split's examples
they describe, never "test examples" for another split."""

import pytest

from pie.identify import identify
from test_bad_runs import write_run


@pytest.mark.parametrize("split", ["test", "train"])
def test_the_outputs_name_the_split_analysed(tmp_path, split):
    for method, sparsity in [("dense", 0.0), ("imp", 0.5)]:
        for seed in range(3):
            write_run(tmp_path / "sweep", method, sparsity, seed)
    paths = identify([str(tmp_path / "sweep")], tmp_path / "out", min_seeds=3, split=split, with_texts=False).paths
    other = "train" if split == "test" else "test"
    summary, report = paths["summary_md"].read_text(), paths["report"].read_text()
    assert f"on all {split} examples" in summary and f"{other} examples" not in summary
    assert f"Examples analysed: the {split} split" in report and f"{other} examples" not in report
