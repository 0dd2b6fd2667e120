"""One self-contained report.html: every table and plot (images inlined as data URIs, so it opens
offline and travels as a single file) with a short explanation per analysis."""

from __future__ import annotations

import base64
import datetime
import html
from pathlib import Path

import pandas as pd

from pie.atomic import atomic_path
from pie.reporting.tables import on_split, recovery_rows, summary_rows, verdicts

SECTIONS = [
    ("summary", "effectiveness", "A1. Effectiveness",
     "Final test accuracy per pruning method and sparsity, mean ± std (ddof=1) over the seeds of each "
     "population; the dense population first, and as the dashed line in the plots."),
    ("summary", "pie_percent", "A2. How many PIEs",
     "An example is a PIE when the modal label of the pruned population differs from the modal label of "
     "the dense population (Hooker et al. 2019); for multi-label data, when the majority decision (each model "
     "at its own threshold) flips for any class. Intervals: 95% bootstrap over the test examples; how much the "
     "PIE set changes with the seeds is measured in A8."),
    ("accuracy", "pie_accuracy", "A3. Accuracy on PIEs vs on all examples",
     "Accuracy of the modal label (and the mean accuracy of the individual models) on all test examples and "
     "on the PIEs, for the dense and the pruned population (multi-label: macro-F1 of the majority decisions and "
     "mean per-model macro-F1). PIEs are where pruning changes the answer."),
    ("classes", "classes", "A4. Classes of the PIEs",
     "Share of each gold class among all test examples and among the PIEs. The per-class table tests, per "
     "class, whether the models' recall (multi-label: F1) changes with pruning (Welch t-test over seeds, α = 0.05); "
     "multi-label tables also count the flipped decisions per class."),
    ("influence", "influence", "A5. PIEs and influential training examples (EL2N)",
     "Training examples ranked by EL2N (mean over the dense models after the first epoch of "
     "||softmax(z) − onehot(y)||₂) into 20 equal-size bins, 1 = easiest, 20 = most influential. Per bin: the "
     "share of PIEs on the training split (final-epoch logits) and the mean loss ratio pruned/dense."),
    ("text", "text", "A6. Length and readability of PIEs",
     "Mean of each measure over the PIEs divided by its mean over all test examples (1 = no difference), "
     "with 95% bootstrap intervals; length in whitespace tokens, readability from textstat."),
    ("examples", None, "A7. PIE examples",
     "PIEs grouped by whether the pruned modal label, the dense modal label, or neither is correct, with the "
     "vote counts of both populations."),
    ("overlap", "overlap", "A8. PIE-set overlap: how many seeds are enough? (beyond the paper)",
     "Jaccard overlap of the PIE sets found from two draws of m models per population (disjoint draws where "
     "the populations are large enough). Overlap near 1 means the PIE set is stable at that population size."),
    ("prune_stability", "prune_stability", "A9. Accuracy drop right after each prune (the reference code's \"stability\")",
     "Per prune: the test accuracy (multi-label: macro-F1 at τ = 0.5, as during training) of the model right before and "
     "right after the prune, and (before − after) / before, mean ± std over seeds. 0 = the prune costs nothing before "
     "any retraining."),
    ("generalisation_gap", "generalisation_gap", "A10. Generalisation gap (the reference code's A1 notes)",
     "Mean final loss on the training split minus mean final loss on the test split, per model (final weights, eval mode), "
     "mean ± std over seeds, for the dense and the pruned population; more negative = more overfitted."),
    ("trust", None, "Seed noise, confidence, agreement and degenerate models (beyond the paper)",
     "Seed noise: R draws of two disjoint dense sub-populations (A, B) and one pruned (P) of m models each (m: the "
     "pruned population's size when the dense one holds twice as many models, else half the dense one); null = % of "
     "examples where A and B decide differently, at size = where A and P do, excess = their difference with a 95% "
     "interval over draws and test examples (bands: the middle 95% of the draws). Confidence of an example: the share "
     "of draws in which it is a PIE; robust PIEs reach the robust level. Churn: share of examples on which a dense "
     "model and the pruned model of the same seed differ (label loyalty = 1 − churn); probability loyalty: 1 − the "
     "Jensen-Shannon divergence (bits) of their predicted distributions (Xu et al. 2021); each beside the same between "
     "dense models of different seeds (_dense). Taxicab: L1 distance of the two populations' label distributions per "
     "example (Hooker et al. 2020), beside dense vs dense draws (taxicab_null). Degenerate model: one decision for "
     "≥ 99% of the examples, or a score not above always answering the most frequent gold class; a population with "
     "more than half degenerate is degenerate."),
    ("cie", None, "Examples the populations disagree on most (taxicab CIE score)",
     "Per population, the test examples with the largest taxicab distance between the dense and the pruned "
     "population's label distributions, with their confidence as PIEs."),
    ("comparison", "comparison", "Across sweeps: PIEs beyond seed noise",
     "Every pruned population of the sweeps given, with % PIEs, the seed-noise null and the excess over it, the "
     "decisions' metric on all examples vs on the PIEs, and degenerate models: which datasets, models and methods "
     "are most susceptible, with their uncertainty."),
]
STYLE = """body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1200px;color:#222;line-height:1.45}
h1{font-size:1.7em}h2{border-bottom:2px solid #ddd;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;font-size:.82em;margin:.8em 0;display:block;overflow-x:auto}
th,td{border:1px solid #ccc;padding:.25em .5em;text-align:right;vertical-align:top}
th{background:#f3f3f3}td.text{text-align:left;max-width:40em}img{max-width:100%;margin:.5em 0;border:1px solid #eee}
p.note{color:#555}p.warn{color:#a40000;font-weight:bold}
table.summary{font-size:.9em}table.summary td:nth-child(n+4):nth-child(-n+6){font-weight:bold;background:#fff8e0}
table.summary td{white-space:nowrap}ul.verdicts li{margin:.3em 0}"""
CHECK_IMAGES = """<script>window.addEventListener('load',function(){var i=document.images,ok=i.length>0;
for(var k=0;k<i.length;k++){if(!i[k].complete||i[k].naturalWidth===0){ok=false;}}
document.body.setAttribute('data-images-loaded',ok?'true':'false');});</script>"""


def _image(path: Path) -> str:
    data = base64.b64encode(Path(path).read_bytes()).decode()
    return f'<img alt="{html.escape(Path(path).stem)}" src="data:image/png;base64,{data}">'


def _table(frame: pd.DataFrame, limit: int = 200) -> str:
    shown = frame.drop(columns=[c for c in ("model_key",) if c in frame.columns]).head(limit)
    text = shown.to_html(index=False, float_format=lambda v: f"{v:.4g}", escape=True, border=0)
    note = f"<p class='note'>First {limit} of {len(frame)} rows; all rows are in the CSV/Parquet files.</p>" if len(frame) > limit else ""
    return text.replace("<td>", "<td class='text'>") if "text" in shown.columns else text + note


def _examples(frame: pd.DataFrame) -> str:
    if frame.empty:
        return "<p>No PIEs.</p>"
    key = frame.groupby(["dataset", "model", "method", "sparsity"]).size().idxmax()
    chosen = frame[(frame["dataset"] == key[0]) & (frame["model"] == key[1]) & (frame["method"] == key[2]) & (frame["sparsity"] == key[3])]
    chosen = chosen.assign(text=chosen["text"].str.slice(0, 400))
    columns = ["group", "example_id", "text", "gold", "dense_modal", "pruned_modal", "dense_votes", "pruned_votes"]
    return f"<p>Population: {html.escape(' / '.join(map(str, key)))}</p>" + _table(chosen[columns])


def _excluded(frame: pd.DataFrame) -> str:
    """The runs --skip-bad left out, so that a reader sees what the analyses do not include."""
    if frame.empty:
        return "<p>None: every prediction file the analyses read matched its run's manifest.</p>"
    runs = frame["run_directory"].nunique()
    return (f"<p>{runs} run(s) left out of every analysis (--skip-bad) because their prediction files "
            "failed the manifest checks (checksum, shape, example ids); rerun them to include them.</p>" + _table(frame))


def _summary(summary: pd.DataFrame, excluded: pd.DataFrame) -> str:
    """The answer first: one row per population with % PIEs and its interval, and what is left out."""
    rows = pd.DataFrame(summary_rows(summary))
    left_out = excluded["run_directory"].nunique() if len(excluded) else 0
    note = (f"<p class='warn'>{left_out} run(s) were left out (--skip-bad); see <a href='#excluded'>Excluded runs</a>.</p>"
            if left_out else "")
    sentences = "".join(f"<li>{html.escape(sentence)}</li>" for sentence in verdicts(summary))
    return (f"<h2>Summary</h2>{note}<ul class='verdicts'>{sentences}</ul><p>% PIEs: share of test examples whose "
            "population decision (modal label; multi-label: majority decision per class) differs between the pruned and "
            "the dense population, with a 95% bootstrap interval over the test examples. Seed noise: the share two "
            "disjoint dense populations of the same size disagree on; excess: % PIEs at that size minus it (see "
            "<a href='#trust'>Seed noise</a>). Decision columns: the metric of each population's decision on all "
            "test examples → on the PIEs.</p>" + rows.to_html(index=False, escape=True, border=0, classes="summary"))


def _recovery(recovery: pd.DataFrame, figures: dict[str, Path], split: str) -> list[str | Path]:
    """The recovery study: per sparsity, each recovery method against its control, with the
    sentence that says whether it recovered the PIEs without losing overall accuracy."""
    parts = ["<h2 id='recovery'>Recovery: PIE-aware fine-tuning against plain fine-tuning (beyond the paper)</h2>",
             "<p>Each recovery population (recover.py) against its control, plain fine-tuning of the same pruned runs for the "
             "same epochs (&lt;method&gt;+none). R − C: the recovery population minus the control on the same seeds (paired), "
             "with 95% bootstrap intervals that resample the test examples, the dense models and the seeds. On the control's "
             "PIEs: cross-fitted, the PIEs of one half of the control's seeds score the other half of both populations (so the "
             "control is not judged on PIEs its own models selected). Excess: % PIEs beyond seed noise (see Summary).</p>"]
    for sparsity, group in recovery.groupby("sparsity", sort=True):
        sentences = "".join(f"<li>{html.escape(v)}</li>" for v in group["verdict"])
        parts.append(f"<h3>Sparsity {sparsity:g}</h3><ul class='verdicts'>{sentences}</ul>"
                     + pd.DataFrame(recovery_rows(group)).to_html(index=False, escape=True, border=0))
    return [on_split("".join(parts), split), *(p for name, p in figures.items() if name.startswith("recovery_"))]


def report_parts(tables: dict[str, pd.DataFrame], figures: dict[str, Path], sweeps: list[str], excluded: pd.DataFrame,
                 conventions: str, split: str = "test") -> list[str | Path | list[str | Path]]:
    """report.html's text, one line per part (a list: pieces of one line), with the PNG of each
    plot it shows as that plot's path (write_report embeds them): the text can be made while the
    plots are drawn. `excluded` lists the runs left out (run directory, file, reason),
    `conventions` names the analysis conventions, `split` the split whose examples were analysed
    (the explanations say so)."""
    parts: list[str | Path | list[str | Path]] = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>PIE report</title><style>{STYLE}</style></head><body>",
        "<h1>Pruning identified exemplars (PIEs): report</h1>",
        f"<p class='note'>Sweeps: {html.escape(', '.join(sweeps))}. Written {datetime.datetime.now():%Y-%m-%d %H:%M}. "
        "Method: Tropeano et al. (2025), Hooker et al. (2019).</p>",
        f"<p class='note'>Examples analysed: the {split} split. {html.escape(conventions)}.</p>",
        on_split(_summary(tables["summary"], excluded), split)]
    if "recovery" in tables and len(tables["recovery"]):
        parts.append(_recovery(tables["recovery"], figures, split))
    for table, figure, title, explanation in SECTIONS:
        parts.append(f"<h2 id='{figure or table}'>{html.escape(title)}</h2><p>{html.escape(on_split(explanation, split))}</p>")
        frame = tables.get("effectiveness" if figure == "effectiveness" else table)
        if table == "examples":
            parts.append(_examples(tables.get("examples", pd.DataFrame())))
        elif frame is not None and len(frame):
            parts.append(_table(frame))
        else:
            parts.append("<p>Not available for these runs.</p>")
        if table == "classes" and "class_change" in tables:
            parts.append("<h3>Per-class recall change</h3>" + _table(tables["class_change"]))
        parts += [p for name, p in figures.items() if figure and (name == figure or name.startswith(f"{figure}_"))]
    parts.append(f"<h2 id='excluded'>Excluded runs</h2>{_excluded(excluded)}")
    parts.append(f"{CHECK_IMAGES}</body></html>")
    return parts


def write_report(path: Path, parts: list[str | Path | list[str | Path]]) -> Path:
    """Write report.html atomically from report_parts, each plot embedded as its PNG; return its path."""
    def line(pieces) -> str:
        return "".join(_image(piece) if isinstance(piece, Path) else piece for piece in pieces)

    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(line(part if isinstance(part, list) else [part]) for part in parts), encoding="utf-8")
    return path
