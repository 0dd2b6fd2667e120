"""identify_pies' analyses, tables, plots and report.html on a small real sweep, rendered in
headless Chromium like a person would open it."""

import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest

from conftest import TINY, run_cli

pytestmark = pytest.mark.slow
TABLES = ["summary", "effectiveness", "accuracy", "classes", "class_change", "influence", "text", "overlap", "examples",
          "prune_stability", "generalisation_gap", "trust", "cie", "comparison"]


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """3 seeds x (dense, IMP-FT 0.5, 0.9) of the BiLSTM on 64 sentences."""
    root = tmp_path_factory.mktemp("report")
    trained = run_cli("train.py", "-m", "name=r", "seed=0,1,2", "pruning=imp_ft", "sparsity=0,0.5,0.9", *TINY, cwd=root)
    assert trained.returncode == 0, trained.stderr[-3000:]
    return root


def identified(root, out, *sweeps):
    result = run_cli("identify_pies.py", *sweeps, "--min-seeds", "3", "--out", out, "--bootstrap", "50", cwd=root)
    assert result.returncode == 0, result.stderr[-3000:]
    return root / out


@pytest.fixture(scope="module")
def report(sweep):
    """identify_pies over the whole sweep: two sparsities."""
    return identified(sweep, "out", "multirun/r")


@pytest.fixture(scope="module")
def one_sparsity(sweep):
    """identify_pies over the dense runs and one sparsity only."""
    return identified(sweep, "out1", "multirun/r/*sparsity=0,*", "multirun/r/*sparsity=0.5,*")


def test_every_table_is_written_as_csv_and_parquet(report):
    for name in TABLES:
        csv, parquet = pd.read_csv(report / f"{name}.csv"), pd.read_parquet(report / f"{name}.parquet")
        assert len(csv) == len(parquet) > 0, name
    assert (report / "pies.parquet").exists()


def test_tables_hold_the_analyses(report):
    summary = pd.read_csv(report / "summary.csv")
    pruned = summary[summary["method"] != "dense"]
    assert list(pruned["sparsity"]) == [0.5, 0.9]
    assert (pruned["pie_percent_low"] <= pruned["pie_percent"]).all() and (pruned["pie_percent"] <= pruned["pie_percent_high"]).all()
    influence = pd.read_csv(report / "influence.csv")
    assert sorted(influence["bin"].unique()) == list(range(1, 21))
    assert influence.groupby("sparsity")["examples"].sum().tolist() == [64, 64]
    text = pd.read_csv(report / "text.csv")
    assert {"tokens", "flesch_reading_ease", "difficult_words"} <= set(text["measure"])
    overlap = pd.read_csv(report / "overlap.csv")
    assert set(overlap["m"]) == {1} and overlap["disjoint"].all() and overlap["jaccard_mean"].between(0, 1).all()
    stability = pd.read_csv(report / "prune_stability.csv")  # IMP-FT with E = 1 prunes after (0-based) epochs 1, 2, 3
    assert stability["step"].tolist() == [1, 2, 3] * 2 and stability["after_epoch"].tolist() == [1, 2, 3] * 2
    assert (stability["seeds"] == 3).all() and set(stability["measure"]) == {"accuracy"}
    assert (stability["stability_mean"] <= 1).all() and stability[["before_mean", "after_mean"]].stack().between(0, 1).all()
    gap = pd.read_csv(report / "generalisation_gap.csv")
    assert gap["sparsity"].tolist() == [0.5, 0.9] and gap["dense_gap_mean"].nunique() == 1
    assert (gap["pruned_train_loss"] - gap["pruned_test_loss"]).tolist() == pytest.approx(gap["pruned_gap_mean"].tolist())
    effectiveness = pd.read_csv(report / "effectiveness.csv")
    assert effectiveness["method"].iloc[0] == "dense" and list(effectiveness["seeds"]) == [3, 3, 3]
    pies = pd.read_parquet(report / "pies.parquet")
    examples = pd.read_csv(report / "examples.csv")
    assert set(examples["example_id"]) <= set(pies.loc[pies["is_pie"], "example_id"])


@pytest.mark.parametrize("outputs", ["report", "one_sparsity"])
def test_every_plot_shows_its_data(outputs, request):
    """Each plot is a real image with data drawn in colour (axes, text and reference lines are
    black or grey): an empty panel, or a line of one point without a marker, fails."""
    import matplotlib.image

    pngs = sorted((request.getfixturevalue(outputs) / "plots").glob("*.png"))
    assert {p.stem.split("_rotten")[0] for p in pngs} == {
        "effectiveness", "pie_percent", "pie_accuracy", "classes", "influence", "text", "overlap", "prune_stability",
        "generalisation_gap", "comparison"}
    for png in pngs:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        pixels = matplotlib.image.imread(png)[..., :3]
        coloured = int(((pixels.max(axis=2) - pixels.min(axis=2)) > 0.2).sum())
        assert coloured > 500, f"{png.name}: {coloured} coloured pixels"


def test_every_pie_stands_beside_its_seed_noise(report):
    """The summary gives each pruned population the null and the excess with their interval, the
    robust PIEs, agreement with dense-vs-dense baselines and degeneracy; pies.parquet each
    example's confidence; one verdict sentence per population in summary.md and the report."""
    summary = pd.read_csv(report / "summary.csv")
    pruned = summary[summary["method"] != "dense"]
    assert (pruned["noise_size"] == 1).all() and (pruned["noise_rule"] == "half").all()  # 3 dense seeds: 1 model a side
    assert (pruned["excess_low"] <= pruned["excess_percent"]).all() and (pruned["excess_percent"] <= pruned["excess_high"]).all()
    assert pruned["excess_percent"].round(6).equals((pruned["pie_percent_at_size"] - pruned["null_percent"]).round(6))
    assert pruned[["churn", "churn_dense", "probability_loyalty", "taxicab_null"]].notna().all().all()
    assert (pruned["label_loyalty"] + pruned["churn"]).round(9).eq(1).all()
    assert summary["degenerate_models"].between(0, 3).all()
    pies = pd.read_parquet(report / "pies.parquet")
    assert pies["confidence"].between(0, 1).all() and (pies["robust"] == (pies["confidence"] >= 0.9)).all()
    assert pies.groupby("sparsity")["robust"].sum().tolist() == pruned["robust_pies"].tolist()
    comparison = pd.read_csv(report / "comparison.csv")
    assert list(comparison["sparsity"]) == [0.5, 0.9] and "excess_percent" in comparison
    cie = pd.read_csv(report / "cie.csv")
    assert cie.groupby("sparsity")["taxicab"].apply(lambda t: t.is_monotonic_decreasing).all()
    lines = (report / "summary.md").read_text().splitlines()
    assert sum("with 1 model a side" in line and "from seed noise alone" in line for line in lines) == 2
    assert "from seed noise alone" in (report / "report.html").read_text()


def test_robust_pies_can_be_the_pie_set_and_degenerate_runs_can_be_left_out(sweep):
    robust = identified(sweep, "out_robust", "multirun/r", "--pie-set", "robust")
    summary = pd.read_csv(robust / "summary.csv")
    accuracy = pd.read_csv(robust / "accuracy.csv")
    assert (summary.loc[summary["method"] != "dense", "pie_set"] == "robust").all()
    assert accuracy["pies"].tolist() == summary.loc[summary["method"] != "dense", "robust_pies"].tolist()
    degenerate = summary.groupby("sparsity")["degenerate_models"].sum()
    result = run_cli("identify_pies.py", "multirun/r", "--min-seeds", "1", "--out", "out_degenerate", "--exclude-degenerate",
                     "--bootstrap", "20", cwd=sweep)
    if degenerate.max() == 3:  # every model of some population collapsed: nothing left to analyse there
        assert result.returncode == 2 and "after --exclude-degenerate excluded" in result.stderr
    else:
        assert result.returncode == 0, result.stderr[-2000:]
        excluded = pd.read_csv(sweep / "out_degenerate" / "excluded_runs.csv")
        assert len(excluded) == degenerate.sum() and excluded["reason"].str.startswith("degenerate").all()


def test_the_report_leads_with_the_summary(report):
    html = (report / "report.html").read_text()
    assert html.index("<h2>Summary</h2>") < html.index("A1. Effectiveness") < html.index("Excluded runs")
    assert "% PIEs [95% CI]" in html and "rotten_tomatoes / bilstm" in html
    classes = pd.read_csv(report / "classes.csv")
    assert set(classes["class_name"]) == {"negative", "positive"}


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium is not installed (.ci/run installs it)")
@pytest.mark.parametrize("outputs", ["report", "one_sparsity"])
def test_report_renders_in_headless_chromium(outputs, request, tmp_path):
    """The page loads offline, every image decodes, and the screenshot is not blank."""
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}"]
    report = request.getfixturevalue(outputs)
    url = (report / "report.html").as_uri()
    dom = subprocess.run(["chromium", *flags, "--virtual-time-budget=5000", "--dump-dom", url],
                         capture_output=True, text=True, timeout=120)
    assert 'data-images-loaded="true"' in dom.stdout, dom.stderr[-2000:]
    shot = report / "screenshot.png"  # kept with the report, to be looked at
    subprocess.run(["chromium", *flags, "--window-size=1280,2400", f"--screenshot={shot}", url],
                   capture_output=True, timeout=120, check=True)
    import matplotlib.image

    pixels = matplotlib.image.imread(shot)
    assert pixels.shape[0] == 2400 and pixels.shape[1] == 1280
    assert pixels[..., :3].std() > 0.05 and len(np.unique(pixels[..., 0])) > 20


def test_a_plot_is_drawn_once_and_as_before(tmp_path, monkeypatch):
    """pie.reporting.plots._save takes tight_layout's placeholder layout engine off the figure, so
    savefig draws it once instead of a dry run and the real one; the PNG's bytes are those of
    tight_layout then savefig."""
    import matplotlib.figure
    import matplotlib.pyplot as plt

    from pie.reporting.plots import FIGSIZE, _save

    def figure():
        fig, axes = plt.subplots(1, 2, figsize=FIGSIZE)
        axes[0].errorbar([0, 1, 2], [1.0, 3.0, 2.0], yerr=[0.1, 0.2, 0.3], marker="o", capsize=3, label="a")
        axes[1].set_yscale("log")
        axes[1].step([1, 5, 10], [0.5, 2.0, 8.0], where="mid")
        axes[0].legend()
        fig.suptitle("title")
        return fig

    fig = figure()
    fig.tight_layout()
    fig.savefig(tmp_path / "before.png", dpi=110)
    plt.close(fig)
    draws = []
    real_draw = matplotlib.figure.Figure.draw
    monkeypatch.setattr(matplotlib.figure.Figure, "draw", lambda self, renderer: draws.append(1) or real_draw(self, renderer))
    _save(figure(), tmp_path / "now.png")
    assert len(draws) == 1
    assert (tmp_path / "now.png").read_bytes() == (tmp_path / "before.png").read_bytes()
