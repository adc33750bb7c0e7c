"""Figures of the human-vs-machine comparison, drawn with matplotlib (Agg backend, no display).

Every function takes ``Comparison.to_dict()`` (and, for the ROC curves and reading times, the
validated :class:`~analysis.table.longtable.LongTable`, whose per-case scores the dict does not
hold) and returns the figure as PNG bytes (``fmt="png"``) or SVG text (``fmt="svg"``). Nothing here
prints or touches the file system; :mod:`reports.pdf` and the web report place them.

Figures
-------
* :func:`roc_figure` - per endpoint: each model's empirical ROC curve (AUC with its DeLong CI in
  the legend), each human reader's operating point (sensitivity, 1 - specificity of their class
  read as a binary call), and the mean reader (mean sensitivity and mean specificity).
* :func:`confusion_figure` - the confusion matrix (rows truth, columns read) of one rater;
  :func:`confusion_grid_figure` those of a whole panel side by side.
* :func:`forest_figure` - reader - model differences with their CIs (paired DeLong CI of the
  AUC difference per endpoint, patient-clustered bootstrap CIs of accuracy / kappa / F1).
* :func:`agreement_figure` - heat map of pairwise Cohen kappa between the human readers.
* :func:`reading_time_figure` - distributions of time on case per human reader.

Example cases with the model's heat map are drawn by :mod:`reports.example_cases`.

:func:`report_figure_specs` lists the figures of a study report in page order and
:func:`draw_report_figure` draws one of them; the web report, its PDF and
``benchmarks/bench_report.py`` share them.

References
----------
Metz CE (1978). Basic principles of ROC analysis. Semin Nucl Med 8:283-298 (empirical ROC and
operating points). DeLong ER, DeLong DM, Clarke-Pearson DL (1988). Biometrics 44:837-845.
Lewis S, Clarke M (2001). Forest plots: trying to see the wood and the trees. BMJ 322:1479-1480.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")  # no display on servers and Celery workers

import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from analysis.table.longtable import LongTable  # noqa: E402
from analysis.table.ratings import probability_matrix  # noqa: E402

__all__ = [
    "FORMATS",
    "agreement_figure",
    "confusion_figure",
    "confusion_grid_figure",
    "draw_report_figure",
    "endpoint_operating_point",
    "forest_figure",
    "reading_time_figure",
    "render",
    "report_figure_specs",
    "roc_curve_points",
    "roc_figure",
]

FORMATS = ("png", "svg")
# Statistics of the bootstrap differences shown in the forest plot, in this order.
FOREST_BOOTSTRAP = ("accuracy", "kappa_quadratic", "macro_f1")


# Names, case ids, titles and reasons are free text: a '$' in them is a dollar sign, never the
# start of mathtext (a reader's reason "motion $\\foo$" once made every report build fail).
PLAIN_TEXT = {"text.parse_math": False}


def plain_text(draw):
    """Draw with mathtext off (:data:`PLAIN_TEXT`): every text of the figure prints as typed."""

    @functools.wraps(draw)
    def wrapper(*args, **kwargs):
        with matplotlib.rc_context(PLAIN_TEXT):
            return draw(*args, **kwargs)

    return wrapper


def render(fig: Figure, fmt: str = "png") -> bytes | str:
    """``fig`` as PNG bytes (``fmt="png"``) or SVG text (``fmt="svg"``)."""
    if fmt not in FORMATS:
        raise ValueError(f"fmt: got {fmt!r}; expected one of {FORMATS}")
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=110, bbox_inches="tight", metadata=_metadata(fmt))
    data = buf.getvalue()
    return data.decode("utf-8") if fmt == "svg" else data


def _metadata(fmt: str) -> dict:
    # Dates and software strings in the file would make two renderings of one input differ.
    if fmt == "png":
        return {"Software": None}
    return {"Date": None, "Creator": None}


def _site_group(comparison: dict, name: str) -> dict:
    for g in comparison["site_groups"]:
        if g["name"] == name:
            return g
    names = [g["name"] for g in comparison["site_groups"]]
    raise ValueError(f"site_group: got {name!r}; expected one of {names}")


def _endpoint(comparison: dict, name: str) -> dict:
    for e in comparison["endpoints"]:
        if e["name"] == name:
            return e
    names = [e["name"] for e in comparison["endpoints"]]
    raise ValueError(f"endpoint: got {name!r}; expected one of {names}")


def roc_curve_points(y_true, score) -> tuple[np.ndarray, np.ndarray]:
    """Empirical ROC curve: ``(fpr, tpr)``, one vertex per distinct score threshold.

    Parameters
    ----------
    y_true : array of bool, shape (n,)
    score : array of float, shape (n,); higher means more likely positive.

    Returns
    -------
    fpr, tpr : ndarray, starting at (0, 0) and ending at (1, 1).

    Examples
    --------
    >>> fpr, tpr = roc_curve_points([False, True, True], [0.1, 0.4, 0.9])
    >>> fpr.tolist(), tpr.tolist()
    ([0.0, 0.0, 0.0, 1.0], [0.0, 0.5, 1.0, 1.0])
    """
    y = np.asarray(y_true, dtype=bool)
    s = np.asarray(score, dtype=float)
    if y.shape != s.shape or y.ndim != 1:
        raise ValueError(f"y_true, score: got shapes {y.shape} and {s.shape}; expected equal "
                         "1-d shapes")
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        raise ValueError(f"y_true: got {n_pos} positive and {n_neg} negative cases; expected "
                         "at least one of each")
    thresholds = np.unique(s)[::-1]
    tpr = [0.0] + [float((s[y] >= t).sum()) / n_pos for t in thresholds]
    fpr = [0.0] + [float((s[~y] >= t).sum()) / n_neg for t in thresholds]
    return np.asarray(fpr), np.asarray(tpr)


def endpoint_operating_point(confusion: dict, positive: Sequence[str]) -> tuple[float, float]:
    """``(1 - specificity, sensitivity)`` of a class read taken as a binary call.

    ``confusion``: a ``confusion_matrix`` dict of the comparison (rows truth, columns read).
    A read is positive when its class is in ``positive``.
    """
    labels = confusion["labels"]
    m = np.asarray(confusion["matrix"], dtype=float)
    pos = np.isin(labels, list(positive))
    tp, fn = m[np.ix_(pos, pos)].sum(), m[np.ix_(pos, ~pos)].sum()
    fp, tn = m[np.ix_(~pos, pos)].sum(), m[np.ix_(~pos, ~pos)].sum()
    if tp + fn == 0 or fp + tn == 0:
        return float("nan"), float("nan")
    return float(fp / (fp + tn)), float(tp / (tp + fn))


def _model_scores(table: LongTable, comparison: dict, group: str, model: str,
                  positive: Sequence[str]):
    sub = table.site_group(group) if group != "all" else table
    rows = sub.reads[sub.reads["reader"] == model]
    primary = comparison["primary_condition"]
    if (rows["condition"] == primary).any():
        rows = rows[rows["condition"] == primary]
    rows = rows[rows["session"] == rows["session"].min()]
    probs = probability_matrix(sub, rows)
    mask = np.isin(table.labels, list(positive))
    return rows["truth"].isin(list(positive)).to_numpy(), probs[:, mask].sum(axis=1)


def _ci_text(entry: dict) -> str:
    if entry.get("auc") is None:
        return "AUC -"
    ci = entry.get("ci") or [None, None]
    if ci[0] is None:
        return f"AUC {entry['auc']:.3f}"
    return f"AUC {entry['auc']:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]"


@plain_text
def roc_figure(table: LongTable, comparison: dict, *, endpoint: str, site_group: str = "all",
               fmt: str = "png") -> bytes | str:
    """ROC plot of one endpoint in one site group.

    Each model's empirical curve (from its per-class probabilities summed over the endpoint's
    positive classes) with its AUC and DeLong CI from ``comparison``; each human reader's
    operating point from their confusion matrix; the mean reader as the mean of the readers'
    (1 - specificity, sensitivity).
    """
    e = _endpoint(comparison, endpoint)
    g = _site_group(comparison, site_group)
    fig = Figure(figsize=(5.2, 5.0))
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1], color="0.8", lw=0.8, ls="--")
    for model in g["models"]:
        y, s = _model_scores(table, comparison, site_group, model["reader"], e["positive"])
        entry = next(a for a in model["auc_endpoints"] if a["name"] == endpoint)
        if y.all() or not y.any():
            continue
        fpr, tpr = roc_curve_points(y, s)
        ax.plot(fpr, tpr, lw=1.8,
                label=f"{model['reader']} ({_ci_text(entry)})")
    points = []
    markers = "osD^v<>ph*"
    seniorities = sorted({r["seniority"] or "" for r in g["readers"]})
    for r in g["readers"]:
        x, y = endpoint_operating_point(r["classification"]["confusion_matrix"], e["positive"])
        if np.isnan(x):
            continue
        points.append((x, y))
        marker = markers[seniorities.index(r["seniority"] or "") % len(markers)]
        ax.plot(x, y, marker=marker, ls="none", ms=6, alpha=0.75, clip_on=False,
                label=f"{r['reader']} ({r['seniority'] or '-'})")
    if points:
        mx, my = np.mean(points, axis=0)
        ax.plot(mx, my, marker="X", ms=11, color="black", ls="none", clip_on=False,
                label=f"mean reader ({mx:.2f}, {my:.2f})")
    ax.set(xlim=(-0.02, 1.02), ylim=(-0.02, 1.02), xlabel="1 - specificity",
           ylabel="sensitivity", title=f"{endpoint} ({', '.join(e['positive'])} positive), "
                                       f"{site_group} cases")
    ax.set_aspect("equal")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=6.5, loc="lower right")
    else:  # one class only among these cases: no curve and no operating point
        ax.text(0.5, 0.5, "no curve: the cases hold one side of the endpoint only",
                ha="center", va="center", fontsize=8, transform=ax.transAxes)
    return render(fig, fmt)


def _rater(g: dict, name: str) -> dict:
    for r in (*g["models"], *g["readers"], *g["seniority_groups"]):
        if r["reader"] == name:
            return r
    names = [r["reader"] for r in (*g["models"], *g["readers"], *g["seniority_groups"])]
    raise ValueError(f"rater: got {name!r}; expected one of {names}")


@plain_text
def confusion_figure(comparison: dict, *, rater: str, site_group: str = "all",
                     fmt: str = "png") -> bytes | str:
    """Confusion matrix of ``rater`` (a reader, model or group) in ``site_group``: counts, with
    the cell colour the share of the truth row."""
    r = _rater(_site_group(comparison, site_group), rater)
    cm = r["classification"]["confusion_matrix"]
    m = np.asarray(cm["matrix"], dtype=float)
    share = m / np.maximum(m.sum(axis=1, keepdims=True), 1)
    k = len(cm["labels"])
    fig = Figure(figsize=(1.0 + 0.75 * k, 0.8 + 0.75 * k))
    ax = fig.subplots()
    ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    for i in range(k):
        for j in range(k):
            ax.text(j, i, f"{int(m[i, j])}", ha="center", va="center",
                    color="white" if share[i, j] > 0.6 else "black", fontsize=9)
    ax.set_xticks(range(k), cm["labels"])
    ax.set_yticks(range(k), cm["labels"])
    ax.set(xlabel="read", ylabel="truth",
           title=f"{rater}\naccuracy {r['accuracy']['accuracy']:.3f} ({site_group})")
    ax.title.set_fontsize(8)
    return render(fig, fmt)


@plain_text
def confusion_grid_figure(comparison: dict, *, site_group: str = "all",
                          raters: Sequence[str] | None = None, columns: int = 6,
                          fmt: str = "png") -> bytes | str:
    """Confusion matrices of several raters side by side (models, seniority groups, then
    readers unless ``raters`` names them): counts, the colour the share of the truth row, each
    titled with the rater and accuracy. One figure for a whole panel reads (and renders) faster
    than one figure per rater."""
    g = _site_group(comparison, site_group)
    names = list(raters) if raters is not None else [
        r["reader"] for r in (*g["models"], *g["seniority_groups"], *g["readers"])]
    if not names:
        raise ValueError(f"site group {site_group!r}: no raters to show")
    entries = [_rater(g, n) for n in names]
    k = len(entries[0]["classification"]["confusion_matrix"]["labels"])
    cols = max(1, min(columns, len(entries)))
    rows = -(-len(entries) // cols)
    cell = 0.42 * k + 0.9
    fig = Figure(figsize=(cols * cell + 0.4, rows * (cell + 0.35) + 0.4))
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax in axes.flat[len(entries):]:
        ax.set_axis_off()
    for ax, r in zip(axes.flat, entries, strict=False):
        cm = r["classification"]["confusion_matrix"]
        m = np.asarray(cm["matrix"], dtype=float)
        share = m / np.maximum(m.sum(axis=1, keepdims=True), 1)
        ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
        for i in range(k):
            for j in range(k):
                ax.text(j, i, f"{int(m[i, j])}", ha="center", va="center", fontsize=6,
                        color="white" if share[i, j] > 0.6 else "black")
        ax.set_xticks(range(k), cm["labels"], fontsize=6)
        ax.set_yticks(range(k), cm["labels"], fontsize=6)
        ax.tick_params(length=0, pad=1)
        ax.set_title(f"{r['reader']}\nacc {r['accuracy']['accuracy']:.3f}", fontsize=6.5)
    fig.supxlabel("read", fontsize=8)
    fig.supylabel("truth", fontsize=8)
    fig.suptitle(f"Confusion matrices, {site_group} cases (rows truth, columns read)",
                 fontsize=9)
    return render(fig, fmt)


def forest_rows(comparison: dict, *, site_group: str = "all", model: str | None = None) -> list:
    """Rows of the forest plot: ``(reader, statistic, difference, lo, hi)`` as reader - model.

    The comparison stores model - reader; the sign is flipped (and the interval mirrored) so
    that a positive value means the reader did better. AUC rows use the paired DeLong interval
    of each endpoint; the others the patient-clustered bootstrap percentile interval.
    """
    g = _site_group(comparison, site_group)
    rows = []
    for c in (*g["model_vs_readers"], *g["model_vs_groups"]):
        if model is not None and c["model"] != model:
            continue
        for d in c["delong"]:
            if d.get("difference") is None or not d.get("ci"):
                continue
            rows.append((c["reader"], f"AUC {d['endpoint']}", -d["difference"],
                         -d["ci"][1], -d["ci"][0]))
        for b in c["bootstrap"]:
            if b["statistic"] in FOREST_BOOTSTRAP and b.get("estimate") is not None \
                    and b.get("ci") and b["ci"][0] is not None:
                rows.append((c["reader"], b["statistic"], -b["estimate"], -b["ci"][1],
                             -b["ci"][0]))
    return rows


@plain_text
def forest_figure(comparison: dict, *, site_group: str = "all", model: str | None = None,
                  fmt: str = "png") -> bytes | str:
    """Forest plot of reader - model differences with their CIs, one panel per statistic."""
    rows = forest_rows(comparison, site_group=site_group, model=model)
    stats = list(dict.fromkeys(r[1] for r in rows)) or ["(no comparisons)"]
    readers = list(dict.fromkeys(r[0] for r in rows))
    fig = Figure(figsize=(2.4 * len(stats) + 1.5, 0.9 + 0.32 * max(len(readers), 1)))
    axes = np.atleast_1d(fig.subplots(1, len(stats), sharey=True, squeeze=False)[0])
    for ax, stat in zip(axes, stats, strict=True):
        ax.axvline(0, color="0.5", lw=0.8)
        for reader, s, d, lo, hi in rows:
            if s != stat:
                continue
            y = readers.index(reader)
            colour = "tab:red" if hi < 0 else "tab:green" if lo > 0 else "tab:blue"
            ax.plot([lo, hi], [y, y], color=colour, lw=1.4)
            ax.plot(d, y, "s", color=colour, ms=4)
        ax.set_title(stat, fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0].set_yticks(range(len(readers)), readers)
    axes[0].invert_yaxis()
    fig.supxlabel("reader - model (95% CI; red: model better, green: reader better)",
                  fontsize=8)
    return render(fig, fmt)


def agreement_matrix(comparison: dict, *, site_group: str = "all",
                     weights: str = "quadratic") -> tuple[list[str], np.ndarray]:
    """Pairwise Cohen kappa between human readers as a symmetric matrix (diagonal 1)."""
    g = _site_group(comparison, site_group)
    pairwise = (g["inter_reader"].get("pairwise") or {}).get(weights) or {}
    raters = list(pairwise.get("raters") or [])
    k = np.eye(len(raters))
    for p in pairwise.get("pairs", []):
        i, j = raters.index(p["rater_a"]), raters.index(p["rater_b"])
        k[i, j] = k[j, i] = np.nan if p["kappa"] is None else p["kappa"]
    return raters, k


@plain_text
def agreement_figure(comparison: dict, *, site_group: str = "all", weights: str = "quadratic",
                     fmt: str = "png") -> bytes | str:
    """Heat map of pairwise Cohen kappa (``weights``) between the human readers."""
    raters, k = agreement_matrix(comparison, site_group=site_group, weights=weights)
    n = max(len(raters), 1)
    fig = Figure(figsize=(1.8 + 0.55 * n, 1.4 + 0.5 * n))
    ax = fig.subplots()
    if raters:
        im = ax.imshow(k, cmap="viridis", vmin=min(0.0, float(np.nanmin(k))), vmax=1)
        for i in range(n):
            for j in range(n):
                if np.isfinite(k[i, j]):
                    ax.text(j, i, f"{k[i, j]:.2f}", ha="center", va="center", fontsize=7,
                            color="black" if k[i, j] > 0.6 else "white")
        ax.set_xticks(range(n), raters, rotation=60, ha="right", fontsize=7)
        ax.set_yticks(range(n), raters, fontsize=7)
        fig.colorbar(im, ax=ax, shrink=0.8, label=f"Cohen kappa ({weights})")
    else:
        ax.text(0.5, 0.5, "fewer than two human readers", ha="center", va="center")
        ax.set_axis_off()
    ax.set_title(f"Inter-reader agreement, {site_group} cases", fontsize=9)
    return render(fig, fmt)


@plain_text
def reading_time_figure(table: LongTable, *, fmt: str = "png") -> bytes | str:
    """Box plots of time on case (seconds) per human reader and condition, log scale."""
    reads = table.reads[(table.reads["reader_kind"] == "human") & table.reads["time_ms"].notna()]
    groups = []
    for (reader, condition), rows in reads.groupby(["reader", "condition"], sort=True):
        seconds = rows["time_ms"].to_numpy(dtype=float) / 1000.0
        seconds = seconds[seconds > 0]
        if seconds.size:
            groups.append((f"{reader}\n{condition}", seconds))
    fig = Figure(figsize=(max(4.0, 0.55 * len(groups) + 1.5), 3.6))
    ax = fig.subplots()
    if groups:
        ax.boxplot([g[1] for g in groups], tick_labels=[g[0] for g in groups], showfliers=True)
        ax.set_yscale("log")
        ax.tick_params(axis="x", labelrotation=60, labelsize=6)
        ax.set_ylabel("time on case (s, log scale)")
    else:
        ax.text(0.5, 0.5, "no reading times recorded", ha="center", va="center")
        ax.set_axis_off()
    ax.set_title("Reading times per reader and condition", fontsize=9)
    return render(fig, fmt)


def report_figure_specs(comparison: dict) -> list[dict]:
    """The statistical figures of a study report, in page order: dicts with ``name`` (unique,
    used as file name), ``kind``, ``site_group``, ``section``, ``title`` and what the kind
    needs (``endpoint`` for ROC curves, ``rater`` for confusion matrices)."""
    specs = []
    for g in comparison["site_groups"]:
        group = g["name"]
        for i, e in enumerate(comparison["endpoints"]):
            specs.append({"name": f"roc-{group}-{i}", "kind": "roc", "site_group": group,
                          "endpoint": e["name"], "section": "roc",
                          "title": f"ROC, {e['name']}, {group} cases"})
        specs.append({"name": f"confusion-{group}", "kind": "confusion", "site_group": group,
                      "section": "confusion",
                      "title": f"Confusion matrices (one per rater), {group} cases"})
        if g["model_vs_readers"]:
            specs.append({"name": f"forest-{group}", "kind": "forest", "site_group": group,
                          "section": "forest",
                          "title": f"Reader - model differences, {group} cases"})
        if (g["inter_reader"].get("pairwise") or {}).get("quadratic"):
            specs.append({"name": f"agreement-{group}", "kind": "agreement", "site_group": group,
                          "section": "agreement",
                          "title": f"Inter-reader agreement, {group} cases"})
    specs.append({"name": "reading-times", "kind": "reading_time", "site_group": "all",
                  "section": "reading_time", "title": "Reading times"})
    return specs


def draw_report_figure(spec: dict, table: LongTable, comparison: dict,
                       fmt: str = "png") -> bytes | str:
    """Draw one figure of :func:`report_figure_specs`."""
    kind, group = spec["kind"], spec["site_group"]
    if kind == "roc":
        return roc_figure(table, comparison, endpoint=spec["endpoint"], site_group=group,
                          fmt=fmt)
    if kind == "confusion":
        return confusion_grid_figure(comparison, site_group=group, fmt=fmt)
    if kind == "forest":
        return forest_figure(comparison, site_group=group, fmt=fmt)
    if kind == "agreement":
        return agreement_figure(comparison, site_group=group, fmt=fmt)
    if kind == "reading_time":
        return reading_time_figure(table, fmt=fmt)
    raise ValueError(f"spec kind: got {kind!r}; expected roc, confusion, forest, agreement or "
                     "reading_time")
