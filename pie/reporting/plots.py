"""The paper's figures as PNGs (matplotlib, headless), one per analysis and dataset x model.

Each function takes the analysis table rows of one setup and writes one file; x axes show the
sparsities present as evenly spaced categories, as the paper's figures do.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from pie.reporting.tables import models  # noqa: E402

SPARSITY_COLOURS = {0.2: "#ff595e", 0.5: "#ffca3a", 0.7: "#8ac926", 0.9: "#1982c4", 0.99: "#6a4c93"}
FIGSIZE = (7.5, 4.5)


def _colour(sparsity: float, index: int) -> str:
    return SPARSITY_COLOURS.get(round(sparsity, 4), plt.cm.viridis(0.15 + 0.7 * (index % 6) / 5))


def _save(fig, path: Path) -> Path:
    """Lay the figure out once (tight_layout), then write it. tight_layout leaves a placeholder
    layout engine on the figure, for which savefig would lay out and draw everything once more
    before the real draw; without an engine it draws once, the same bytes (a paper-grid setup's
    nine plots in one process: 8.4 s before, 7.0 s so, medians of 3 alternating runs)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    with matplotlib.rc_context({"figure.autolayout": False, "figure.constrained_layout.use": False}):
        fig.set_layout_engine(None)  # no engine, whatever a matplotlibrc asks for by default
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _sparsity_axis(ax, sparsities) -> dict[float, int]:
    positions = {s: i for i, s in enumerate(sorted(sparsities))}
    ax.set_xticks(list(positions.values()), [f"{100 * s:g}%" for s in positions])
    ax.set_xlabel("sparsity (% of prunable weights removed)")
    return positions


def _metric_name(rows: pd.DataFrame, column: str) -> str:
    """How to label a metric axis: "macro-F1" for multi-label tables, else "accuracy"."""
    return "macro-F1" if column in rows and (rows[column] == "macro_f1").any() else "accuracy"


def effectiveness(rows: pd.DataFrame, title: str, path: Path) -> Path:
    """A1: test accuracy (mean ± std over seeds) vs sparsity, one line per method, dense dashed."""
    fig, ax = plt.subplots(figsize=FIGSIZE)
    pruned = rows[rows["method"] != "dense"]
    positions = _sparsity_axis(ax, pruned["sparsity"].unique())
    for method, group in pruned.groupby("method"):
        x = [positions[s] for s in group["sparsity"]]
        ax.errorbar(x, group["mean"], yerr=group["std"].fillna(0), marker="o", capsize=3, label=method)
    for _, dense in rows[rows["method"] == "dense"].iterrows():
        ax.axhline(dense["mean"], color="black", linestyle="--", label=f"dense ({dense['mean']:.3f})")
    ax.set_ylabel(f"test {_metric_name(rows, 'measure')}")
    ax.set_title(title)
    ax.legend(fontsize=8)
    return _save(fig, path)


def _errors(group: pd.DataFrame, value: str, low: str, high: str) -> np.ndarray:
    return np.clip(np.nan_to_num(np.vstack([group[value] - group[low], group[high] - group[value]])), 0, None)


def pie_percent(rows: pd.DataFrame, title: str, path: Path) -> Path:
    """A2: % PIEs vs sparsity per method with bootstrap 95% intervals (filled markers: the full
    populations), the same at the seed-noise size (hollow), and the seed-noise null band: the
    middle 95% of the PIE shares of disjoint dense draws of that size."""
    fig, ax = plt.subplots(figsize=FIGSIZE)
    positions = _sparsity_axis(ax, rows["sparsity"].unique())
    if "null_percent" in rows and rows["null_percent"].notna().any():
        null = rows.groupby("sparsity")[["null_percent", "null_low", "null_high"]].mean().sort_index()
        x = [positions[s] for s in null.index]
        ax.fill_between(x, null["null_low"], null["null_high"], color="grey", alpha=0.25, step="mid" if len(x) == 1 else None,
                        label="seed noise (dense vs dense, 95% of draws)")
        ax.plot(x, null["null_percent"], color="grey", linestyle="--", marker="_", markersize=20)
    for offset, (method, group) in enumerate(rows.groupby("method")):
        x = np.array([positions[s] for s in group["sparsity"]], dtype=float) + 0.05 * offset
        line = ax.errorbar(x, group["pie_percent"], yerr=_errors(group, "pie_percent", "pie_percent_low", "pie_percent_high"),
                           marker="o", capsize=3, label=f"{method} (all models)")
        if "pie_percent_at_size" in group and group["pie_percent_at_size"].notna().any():
            ax.errorbar(x + 0.12, group["pie_percent_at_size"], marker="o", markerfacecolor="white", linestyle=":", capsize=3,
                        yerr=_errors(group, "pie_percent_at_size", "pie_percent_at_size_low", "pie_percent_at_size_high"),
                        color=line[0].get_color(), label=f"{method} ({models(int(group['noise_size'].iloc[0]))} a side)")
    ax.set_xlim(-0.5, len(positions) - 0.3)
    ax.set_ylabel("% of the examples analysed that are PIEs")
    ax.set_title(title)
    ax.legend(fontsize=7)
    return _save(fig, path)


def comparison(rows: pd.DataFrame, path: Path) -> Path:
    """Across sweeps: the excess of % PIEs over seed noise (points, 95% interval) vs sparsity, one
    line per dataset / model / method; 0 = what two dense populations also disagree on."""
    fig, ax = plt.subplots(figsize=(8.5, 4.8))
    positions = _sparsity_axis(ax, rows["sparsity"].unique())
    groups = list(rows.groupby(["dataset", "model", "method"]))
    for offset, ((dataset, model, method), group) in enumerate(groups):
        x = np.array([positions[s] for s in group["sparsity"]], dtype=float) + 0.06 * (offset - (len(groups) - 1) / 2)
        ax.errorbar(x, group["excess_percent"], yerr=_errors(group, "excess_percent", "excess_low", "excess_high"),
                    marker="o", markersize=9, capsize=4, linewidth=2, elinewidth=2, label=f"{dataset} / {model} / {method}")
        collapsed = group["degenerate"].fillna(False).astype(bool).to_numpy() if "degenerate" in group else np.zeros(len(group), bool)
        ax.scatter(x[collapsed], group["excess_percent"][collapsed], s=140, facecolors="none", edgecolors="red", linewidths=2,
                   label="degenerate population" if offset == 0 and collapsed.any() else None, zorder=3)
    ax.axhline(0.0, color="black", linewidth=1)
    ax.set_xlim(-0.5, len(positions) - 0.5)
    ax.set_ylabel("% PIEs beyond seed noise (points)")
    ax.set_title("PIEs beyond seed noise, by dataset, model and method")
    ax.legend(fontsize=7)
    return _save(fig, path)


def recovery(rows: pd.DataFrame, title: str, path: Path) -> Path:
    """Recovery methods against plain fine-tuning (their control): the differences R - C in % PIEs,
    in the score on the control's PIEs and in the overall score, with paired 95% intervals; one
    marker per method and sparsity, 0 = no better than the control."""
    panels = [("delta_pie_percent", "% PIEs (points; below 0 = fewer)", 1.0),
              ("delta_control_pies_score", "on the control's PIEs (points)", 100.0), ("delta_score", "overall (points)", 100.0)]
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.2))
    labels = [f"{m}\n@{s:g}" for m, s in zip(rows["recovery"], rows["sparsity"])]
    for ax, (column, name, scale) in zip(axes, panels):
        y = rows[column].to_numpy(dtype=float) * scale
        low, high = rows[f"{column}_low"].to_numpy(dtype=float) * scale, rows[f"{column}_high"].to_numpy(dtype=float) * scale
        x = np.arange(len(rows))
        for i in x:
            ax.errorbar([i], [y[i]], yerr=[[max(y[i] - low[i], 0)], [max(high[i] - y[i], 0)]], marker="o", markersize=9,
                        capsize=5, linewidth=2, elinewidth=2, color=plt.cm.tab10(int(i) % 10))
        ax.axhline(0.0, color="black", linewidth=1)
        ax.set_xticks(x, labels)
        ax.set_xlim(-0.6, len(rows) - 0.4)
        ax.set_title(f"{'' if column == 'delta_pie_percent' else _metric_name(rows, 'metric') + ' '}{name}", fontsize=10)
    axes[0].set_ylabel("recovery method - plain fine-tuning")
    fig.suptitle(f"{title}: recovery vs plain fine-tuning (paired 95% intervals)")
    return _save(fig, path)


def pie_accuracy(rows: pd.DataFrame, title: str, path: Path) -> Path:
    """A3: modal accuracy on all examples vs on PIEs, dense (solid) and pruned (dashed), per method."""
    methods = sorted(rows["method"].unique())
    fig, axes = plt.subplots(1, len(methods), figsize=(4.2 * len(methods) + 1, 4.2), squeeze=False, sharey=True)
    for ax, method in zip(axes[0], methods):
        group = rows[rows["method"] == method].sort_values("sparsity")
        positions = _sparsity_axis(ax, group["sparsity"])
        x = [positions[s] for s in group["sparsity"]]
        for column, colour, style, marker, label in [
            ("dense_modal_all", "tab:blue", "-", "o", "dense, all examples"), ("dense_modal_pies", "tab:blue", "--", "s", "dense, PIEs"),
            ("pruned_modal_all", "tab:red", "-", "o", "pruned, all examples"), ("pruned_modal_pies", "tab:red", "--", "s", "pruned, PIEs"),
        ]:
            ax.plot(x, group[column], color=colour, linestyle=style, marker=marker, markersize=7, label=label)
        ax.set_title(method)
    axes[0][0].set_ylabel(f"{_metric_name(rows, 'metric')} of the modal / majority decision")
    axes[0][-1].legend(fontsize=8)
    fig.suptitle(title)
    return _save(fig, path)


def class_shares(rows: pd.DataFrame, label_names: list[str], title: str, path: Path) -> Path:
    """A4: share of each gold class among all examples and among the PIEs of each sparsity."""
    methods = sorted(rows["method"].unique())
    fig, axes = plt.subplots(1, len(methods), figsize=(4.5 * len(methods) + 1, 4.2), squeeze=False, sharey=True)
    for ax, method in zip(axes[0], methods):
        group = rows[rows["method"] == method]
        sparsities = sorted(group["sparsity"].unique())
        width = 0.8 / (len(sparsities) + 1)
        classes = np.arange(len(label_names))
        first = group[group["sparsity"] == sparsities[0]].sort_values("class")
        ax.bar(classes, first["share_all"], width, color="black", label="all examples")
        for i, sparsity in enumerate(sparsities):
            part = group[group["sparsity"] == sparsity].sort_values("class")
            ax.bar(classes + (i + 1) * width, part["share_pies"], width, color=_colour(sparsity, i), label=f"PIEs {100 * sparsity:g}%")
        ax.set_xticks(classes + 0.4 - width / 2, label_names, rotation=30, ha="right")
        ax.set_title(method)
    axes[0][0].set_ylabel("share of examples")
    axes[0][-1].legend(fontsize=8)
    fig.suptitle(title)
    return _save(fig, path)


def influence(rows: pd.DataFrame, title: str, path: Path) -> Path:
    """A5: per EL2N bin (1 = easiest, 20 = most influential), the share of PIEs and the mean
    pruned/dense loss ratio, one line per sparsity; one row of panels per method."""
    methods = sorted(rows["method"].unique())
    fig, axes = plt.subplots(len(methods), 2, figsize=(11, 3.6 * len(methods) + 0.6), squeeze=False)
    for row, method in zip(axes, methods):
        group = rows[rows["method"] == method]
        for i, (sparsity, part) in enumerate(group.groupby("sparsity")):
            colour, label = _colour(sparsity, i), f"{100 * sparsity:g}%"
            row[0].step(part["bin"], 100 * part["pie_share"], where="mid", color=colour, label=label)
            row[1].errorbar(part["bin"], part["loss_ratio"], yerr=part["loss_ratio_sem"].fillna(0), color=colour, label=label,
                            capsize=2, marker="o", markersize=3)
        row[0].set_ylabel(f"{method}\n% PIEs in bin")
        row[1].set_ylabel("loss pruned / dense (log scale)")
        row[1].set_yscale("log", nonpositive="mask")  # ratios span orders of magnitude across bins
        row[1].axhline(1.0, color="grey", linewidth=0.8)
        for ax in row:
            ax.set_xticks([1, 5, 10, 15, 20])
            ax.set_xlabel("EL2N bin (1 = lowest, 20 = highest)")
    axes[0][0].legend(fontsize=8, title="sparsity")
    fig.suptitle(title)
    return _save(fig, path)


def text_ratios(rows: pd.DataFrame, title: str, path: Path) -> Path:
    """A6: mean(measure on PIEs) / mean(measure on all) vs sparsity with its bootstrap 95% interval,
    one line per method (and their mean, thick, when there are several); 1 = PIEs are like the rest."""
    measures = list(dict.fromkeys(rows["measure"]))
    columns = 3
    lines = -(-len(measures) // columns)
    fig, axes = plt.subplots(lines, columns, figsize=(12, 3.1 * lines + 0.6), squeeze=False)
    for ax, measure in zip(axes.flat, measures):
        part = rows[rows["measure"] == measure]
        positions = _sparsity_axis(ax, part["sparsity"].unique())
        methods = list(part.groupby("method"))
        for offset, (method, group) in enumerate(methods):
            x = np.array([positions[s] for s in group["sparsity"]], dtype=float) + 0.08 * (offset - (len(methods) - 1) / 2)
            errors = np.vstack([group["ratio"] - group["low"], group["high"] - group["ratio"]])
            ax.errorbar(x, group["ratio"], yerr=np.clip(np.nan_to_num(errors), 0, None), marker="o", markersize=5, capsize=3,
                        linewidth=1, label=method)
        if len(methods) > 1:
            mean = part.groupby("sparsity")["ratio"].mean()
            ax.plot([positions[s] for s in mean.index], mean.values, color="#00a7b0", linewidth=3, marker="D", label="all methods (mean)")
        ax.axhline(1.0, color="black", linewidth=1.5)
        ax.set_title(measure.replace("_", " "), fontsize=10)
        ax.set_xlabel("")
    for ax in list(axes.flat)[len(measures):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7)
    fig.suptitle(title)
    return _save(fig, path)


def overlap(rows: pd.DataFrame, title: str, path: Path) -> Path:
    """A8: Jaccard overlap of PIE sets from two draws of m models, vs m, per population."""
    fig, ax = plt.subplots(figsize=FIGSIZE)
    for (method, sparsity), group in rows.groupby(["method", "sparsity"]):
        ax.errorbar(group["m"], group["jaccard_mean"], yerr=group["jaccard_std"].fillna(0), marker="o", markersize=8,
                    capsize=4, linewidth=2, label=f"{method} {100 * sparsity:g}%")
    sizes = sorted(rows["m"].unique())
    ax.set_xticks(sizes)
    ax.set_xlim(min(sizes) - 0.5, max(sizes) + 0.5)
    ax.set_xlabel("models per population (m)")
    ax.set_ylabel("Jaccard overlap of the two PIE sets")
    ax.set_ylim(0, 1.05)
    ax.set_title(title)
    ax.legend(fontsize=8)
    return _save(fig, path)


def prune_stability(rows: pd.DataFrame, title: str, path: Path) -> Path:
    """The reference's post-prune stability: (before - after) / before of the test metric at each
    prune vs sparsity, mean ± std over seeds, one line per method and prune."""
    fig, ax = plt.subplots(figsize=FIGSIZE)
    positions = _sparsity_axis(ax, rows["sparsity"].unique())
    for (method, step), group in rows.groupby(["method", "step"]):
        x = [positions[s] for s in group["sparsity"]]
        ax.errorbar(x, group["stability_mean"], yerr=group["stability_std"].fillna(0), marker="o", markersize=8, capsize=4,
                    linewidth=2, label=f"{method}, prune {step}")
    ax.axhline(0.0, color="grey", linewidth=0.8)
    ax.set_ylabel(f"(before − after) / before, test {_metric_name(rows, 'measure')}")
    ax.set_title(title)
    ax.legend(fontsize=8)
    return _save(fig, path)


def generalisation_gap(rows: pd.DataFrame, title: str, path: Path) -> Path:
    """Final train loss - final test loss vs sparsity, mean ± std over seeds, one line per
    method; the dense population dashed."""
    fig, ax = plt.subplots(figsize=FIGSIZE)
    positions = _sparsity_axis(ax, rows["sparsity"].unique())
    for method, group in rows.groupby("method"):
        x = [positions[s] for s in group["sparsity"]]
        ax.errorbar(x, group["pruned_gap_mean"], yerr=group["pruned_gap_std"].fillna(0), marker="o", markersize=8, capsize=4,
                    linewidth=2, label=method)
    dense = rows.iloc[0]
    ax.axhline(dense["dense_gap_mean"], color="black", linestyle="--", label=f"dense ({dense['dense_gap_mean']:.3f})")
    ax.set_ylabel("train loss − test loss (final)")
    ax.set_title(title)
    ax.legend(fontsize=8)
    return _save(fig, path)
