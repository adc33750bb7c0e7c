"""The study report: tables and plain-language findings of a comparison, and the PDF.

Everything here is pure: it takes ``Comparison.to_dict()``
(:func:`analysis.compare.comparison.compare`), a *design* dict (sites, cases per partition and
class, readers, sessions, washout, model card, the STARD-style flow; built by the Django side)
and figure bytes from :mod:`reports.figures`, and returns strings, rows or PDF bytes. The web
page and the PDF both use :func:`rater_rows`, :func:`paired_rows`, :func:`mrmc_rows`,
:func:`agreement_lines` and :func:`findings`, so the two cannot show different numbers.

A finding is called *significant* when its Holm-adjusted p-value (or, for the MRMC analysis,
its own p-value) is below ``alpha``; every sentence names the test, the interval and both
p-values.

References
----------
Bossuyt PM, Reitsma JB, Bruns DE, et al. (2015). STARD 2015: an updated list of essential items
for reporting diagnostic accuracy studies. BMJ 351:h5527 (the flow of cases).
Holm S (1979). A simple sequentially rejective multiple test procedure. Scand J Stat 6:65-70.
"""

from __future__ import annotations

import io
import math
import textwrap

import matplotlib

matplotlib.use("Agg")  # no display on servers and Celery workers

import matplotlib.image as mpimg  # noqa: E402
from matplotlib.backends.backend_pdf import PdfPages  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from reports.figures import PLAIN_TEXT  # noqa: E402

__all__ = [
    "agreement_lines",
    "design_lines",
    "findings",
    "fmt_ci",
    "fmt_num",
    "fmt_p",
    "mrmc_rows",
    "paired_rows",
    "rater_rows",
    "render_pdf",
]

ALPHA = 0.05


def fmt_num(x, digits: int = 3) -> str:
    """``x`` with ``digits`` decimals; ``-`` when missing or not finite."""
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "-"
    return f"{x:.{digits}f}"


def fmt_p(p) -> str:
    """A p-value: ``<0.001`` below 0.001, else three decimals."""
    if p is None:
        return "-"
    return "<0.001" if p < 1e-3 else f"{p:.3f}"


def p_is(p) -> str:
    """A p-value in a sentence: ``p < 0.001`` or ``p = 0.012``."""
    text = fmt_p(p)
    return f"p {text[0]} {text[1:]}" if text.startswith("<") else f"p = {text}"


def fmt_ci(ci, digits: int = 3) -> str:
    """An interval as ``[lo, hi]``; ``[-]`` when missing."""
    if not ci or ci[0] is None or ci[1] is None:
        return "[-]"
    return f"[{fmt_num(ci[0], digits)}, {fmt_num(ci[1], digits)}]"


def _est_ci(value, ci) -> str:
    return f"{fmt_num(value)} {fmt_ci(ci)}"


RATER_HEADER_FIXED = ["rater", "kind", "seniority", "cases", "indeterminate",
                      "accuracy [95% CI]",
                      "macro P", "macro R", "macro F1", "kappa (quadratic) [95% CI]",
                      "macro AUC"]


def rater_rows(comparison: dict, group: dict) -> tuple[list[str], list[list[str]]]:
    """Per rater (models, human readers, seniority-group consensus): cases graded and (for a
    reader) marked indeterminate, which the metrics leave out; accuracy with its Wilson
    CI, macro precision / recall / F1, quadratic-weighted kappa with CI, macro AUC, each
    endpoint's AUC with its DeLong CI, and the median time on case (IQR, seconds)."""
    endpoints = [e["name"] for e in comparison["endpoints"]]
    header = [*RATER_HEADER_FIXED, *(f"AUC {e} [95% CI]" for e in endpoints),
              "time s, median (IQR)"]
    rows = []
    for r in (*group["models"], *group["readers"], *group["seniority_groups"]):
        c = r["classification"]
        k = r["kappa"].get("quadratic") or {}
        aucs = {a["name"]: a for a in r["auc_endpoints"]}
        t = r.get("reading_time")
        time = "-" if not t else (f"{fmt_num(t['median_s'], 1)} ({fmt_num(t['q1_s'], 1)}-"
                                  f"{fmt_num(t['q3_s'], 1)})")
        rows.append([
            r["reader"], r["kind"], r["seniority"] or "-", str(r["n_cases"]),
            str(r.get("n_indeterminate", 0)) if r["kind"] == "human" else "-",
            _est_ci(r["accuracy"]["accuracy"], r["accuracy"]["ci"]),
            fmt_num(c["macro_precision"]), fmt_num(c["macro_recall"]), fmt_num(c["macro_f1"]),
            _est_ci(k.get("kappa"), k.get("ci")), fmt_num(r["macro_auc"]),
            *(_est_ci(aucs.get(e, {}).get("auc"), aucs.get(e, {}).get("ci")) for e in endpoints),
            time,
        ])
    return header, rows


PAIRED_HEADER = ["model", "reader", "cases", "test", "model - reader [95% CI]", "p", "p Holm"]


def paired_rows(group: dict) -> tuple[list[str], list[list[str]]]:
    """Model vs each reader and seniority group: paired DeLong per endpoint (AUC difference with
    its CI), McNemar on correctness, and the patient-clustered bootstrap differences."""
    rows = []
    for c in (*group["model_vs_readers"], *group["model_vs_groups"]):
        head = [c["model"], c["reader"], str(c["n_cases"])]
        for d in c["delong"]:
            if d.get("difference") is None:
                rows.append([*head, f"DeLong AUC {d['endpoint']}", d.get("reason") or "-",
                             "-", "-"])
                continue
            rows.append([*head, f"DeLong AUC {d['endpoint']}",
                         _est_ci(d["difference"], d["ci"]), fmt_p(d.get("pvalue")),
                         fmt_p(d.get("p_holm"))])
        m = c["mcnemar"]
        rows.append([*head, f"McNemar (discordant {m.get('n12', '-')}/{m.get('n21', '-')})",
                     "-", fmt_p(m.get("p")), fmt_p(m.get("p_holm"))])
        for b in c["bootstrap"]:
            rows.append([*head, f"bootstrap {b['statistic']}", _est_ci(b["estimate"], b["ci"]),
                         "-", "-"])
    return PAIRED_HEADER, rows


MRMC_HEADER = ["analysis", "endpoint", "readers", "comparison", "difference [95% CI]", "df",
               "p", "AUCs"]


def mrmc_tests(m: dict, key: str) -> list[dict]:
    """The comparisons of one MRMC analysis under ``key`` (``"rrrc"``, ``"rrfc"``, ...): the
    model-vs-readers analysis holds one test, the comparison of conditions a test whose
    ``comparisons`` list each pair of treatments. Each as ``{comparison, estimate, ci, df,
    pvalue}``."""
    t = (m.get("result") or {}).get(key)
    if not t:
        return []
    if "comparisons" in t:
        return [{"comparison": c.get("comparison") or "-", "estimate": c.get("estimate"),
                 "ci": c.get("ci"), "df": c.get("df", t.get("df2")),
                 "pvalue": c.get("pvalue", t.get("pvalue"))} for c in t["comparisons"]]
    return [{"comparison": t.get("comparison") or "model - readers", "estimate": t["estimate"],
             "ci": t["ci"], "df": t.get("df"), "pvalue": t.get("pvalue")}]


def _mrmc_aucs(res: dict) -> str:
    if "model_auc" in res:
        return (f"model {fmt_num(res.get('model_auc'))}, mean reader "
                f"{fmt_num(res.get('mean_reader_auc'))}")
    estimates = (res.get("rrrc") or {}).get("treatment_estimates") or []
    return ", ".join(f"{e['treatment']} {fmt_num(e['estimate'])}" for e in estimates) or "-"


def mrmc_rows(group: dict) -> tuple[list[str], list[list[str]]]:
    """Obuchowski-Rockette / Hillis results: random readers and cases (RRRC), and fixed readers
    (RRFC), per analysis (model vs readers; the reading conditions) and endpoint."""
    rows = []
    for m in group["mrmc"]:
        res = m.get("result") or {}
        n = str(len(m.get("readers") or []))
        if not res:
            rows.append([m["analysis"], m.get("endpoint") or "-", n, "-",
                         m.get("reason") or "-", "-", "-", "-"])
            continue
        for key in ("rrrc", "rrfc"):
            for t in mrmc_tests(m, key):
                rows.append([f"{m['analysis']} ({key.upper()})", m.get("endpoint") or "-", n,
                             t["comparison"], _est_ci(t["estimate"], t["ci"]),
                             fmt_num(t["df"], 1), fmt_p(t["pvalue"]), _mrmc_aucs(res)])
    return MRMC_HEADER, rows


def agreement_lines(group: dict) -> list[str]:
    """Inter-reader (Fleiss, mean pairwise Cohen) and intra-reader agreement, with SE or CI."""
    out = []
    inter = group.get("inter_reader") or {}
    fleiss = inter.get("fleiss")
    if fleiss:
        out.append(f"Fleiss' kappa of {fleiss['n_raters']} readers on {fleiss['n_subjects']} "
                   f"cases: {fmt_num(fleiss['kappa'])} (SE {fmt_num(fleiss['se'])}).")
    for weights, pw in (inter.get("pairwise") or {}).items():
        out.append(f"Mean pairwise Cohen kappa ({weights} weights, Light 1971): "
                   f"{fmt_num(pw.get('mean_kappa'))}.")
    if inter.get("reason"):
        out.append(f"Inter-reader agreement: {inter['reason']}.")
    for intra in group.get("intra_reader") or []:
        k = (intra.get("kappa") or {}).get("quadratic") or {}
        if k:
            out.append(f"Intra-reader, {intra['reader']} ({intra['condition']}, sessions "
                       f"{intra['sessions'][0]} vs {intra['sessions'][1]}, {intra['n_cases']} "
                       f"cases): quadratic kappa {_est_ci(k.get('kappa'), k.get('ci'))}.")
    return out


def _verdict(p, alpha: float, adjusted: bool) -> str:
    if p is None:
        return "not testable"
    verdict = "significant" if p < alpha else "not significant"
    return f"{verdict} {'after Holm adjustment ' if adjusted else ''}at alpha = {alpha:g}"


def findings(comparison: dict, *, alpha: float = ALPHA) -> dict[str, list[str]]:
    """Plain-language sentences per site group: what is and is not significant.

    Model vs each reader and group: paired DeLong per endpoint and McNemar, judged on the
    Holm-adjusted p-value; MRMC model vs readers judged on its own p. Returns
    ``{site group name: [sentence, ...]}``.
    """
    out: dict[str, list[str]] = {}
    pct = f"{100 * comparison['level']:g}%"
    for g in comparison["site_groups"]:
        lines = []
        for c in (*g["model_vs_readers"], *g["model_vs_groups"]):
            for d in c["delong"]:
                if d.get("difference") is None:
                    continue
                model_auc, reader_auc = d["aucs"]
                better = "higher" if d["difference"] > 0 else "lower"
                lines.append(
                    f"{c['model']} vs {c['reader']}, {d['endpoint']}: AUC {fmt_num(model_auc)} "
                    f"vs {fmt_num(reader_auc)}; the model's AUC is {better} by "
                    f"{fmt_num(abs(d['difference']))} ({pct} CI of model - reader "
                    f"{fmt_ci(d['ci'])}; paired DeLong {p_is(d.get('pvalue'))}, Holm "
                    f"{p_is(d.get('p_holm'))}): "
                    f"{_verdict(d.get('p_holm'), alpha, adjusted=True)}.")
            m = c["mcnemar"]
            acc = next((b for b in c["bootstrap"] if b["statistic"] == "accuracy"), None)
            diff = "" if acc is None else (
                f"accuracy difference model - reader {fmt_num(acc['estimate'])} "
                f"(bootstrap {pct} CI {fmt_ci(acc['ci'])}); ")
            lines.append(
                f"{c['model']} vs {c['reader']}, accuracy: {diff}McNemar "
                f"{p_is(m.get('p'))}, Holm {p_is(m.get('p_holm'))}: "
                f"{_verdict(m.get('p_holm'), alpha, adjusted=True)}.")
        for mr in g["mrmc"]:
            for t in mrmc_tests(mr, "rrrc"):
                lines.append(
                    f"MRMC ({mr['analysis']}, {mr.get('endpoint') or '-'}, Obuchowski-Rockette "
                    f"with Hillis df, random readers and cases): AUC difference "
                    f"{t['comparison']} {fmt_num(t['estimate'])} {pct} CI {fmt_ci(t['ci'])}, "
                    f"{p_is(t['pvalue'])}: {_verdict(t['pvalue'], alpha, adjusted=False)}.")
        out[g["name"]] = lines
    return out


def design_lines(design: dict) -> list[str]:
    """The study design as lines of text (sites, readers, sessions, washout, model, flow)."""
    out = [f"Study: {design.get('title', '')} ({design.get('slug', '')})"]
    if design.get("synthetic"):
        out.append("Data: SYNTHETIC (phantom images, not patients).")
    for s in design.get("sites", []):
        out.append(f"Site {s['code']} ({s['name'] or '-'}): "
                   f"{'external' if s['external'] else 'internal'}, {s['n_cases']} cases.")
    counts = design.get("case_counts") or {}
    if counts.get("rows"):
        out.append("Cases per partition and class (" + ", ".join(counts["labels"]) + "):")
        for part, row in counts["rows"].items():
            out.append(f"  {part}: " + ", ".join(str(n) for n in row))
    for r in design.get("readers", []):
        out.append(f"Reader {r['reader']}: {r['seniority'] or '-'}, "
                   f"{r['years_experience'] if r['years_experience'] is not None else '-'} "
                   f"years, {r['n_sessions']} session(s).")
    for s in design.get("sessions", []):
        out.append(f"Session {s['name']} ({s['reader']}): {s['condition']}, opens "
                   f"{s['opens_at']}, {s['n_cases']} cases, {s['n_read']} read"
                   + (f", repeat of {s['repeat_of']}" if s.get("repeat_of") else "") + ".")
    out.append(f"Washout between sessions: {design.get('washout_days', '-')} days.")
    for m in design.get("models", []):
        out.append(f"Model {m['reader']}: {m['name']} ({m['architecture']}, input "
                   f"{m['input_size']} px, SHA-256 {m['sha256'][:12]}); card: "
                   f"{m.get('card_summary') or '-'}.")
    flow = design.get("flow") or {}
    if flow:
        out.append("Flow of cases (STARD): " + "; ".join(
            f"{k.replace('_', ' ')} {v}" for k, v in flow.items()) + ".")
    reasons = design.get("indeterminate_reasons") or {}
    if reasons:
        out.append("Indeterminate reads by reason: " + "; ".join(
            f"{why} {n}" for why, n in reasons.items()) + ". They are left out of the "
            "reader's metrics and, case-wise, out of MRMC.")
    out.append(f"Code version: {design.get('code_version', '-')}; input hash: "
               f"{design.get('input_hash', '-')}.")
    return out


# --- PDF -----------------------------------------------------------------------------------

A4 = (8.27, 11.69)
CORE_FONTS = {"pdf.use14corefonts": True, "font.family": "sans-serif",
              "font.sans-serif": ["Helvetica"], "font.monospace": ["Courier"]}
# Characters the report's text may hold beyond Latin-1, written in Latin-1.
_LATIN1 = str.maketrans({"\u2212": "-", "\u2013": "-", "\u2014": "--", "\u2264": "<=",
                         "\u2265": ">=", "\u2248": "~", "\u2018": "'", "\u2019": "'",
                         "\u201c": '"', "\u201d": '"', "\u2026": "...", "\u03ba": "kappa",
                         "\u03b1": "alpha", "\u0394": "delta"})


def _latin1(text: str) -> str:
    """``text`` in Latin-1, the character set of the PDF's core fonts (others become '?')."""
    return text.translate(_LATIN1).encode("latin-1", "replace").decode("latin-1")
LINES_PER_PAGE = 70


def _text_pages(pdf: PdfPages, title: str, lines: list[str], *, width: int = 130,
                landscape: bool = False) -> int:
    wrapped: list[str] = []
    for line in lines:
        wrapped.extend(textwrap.wrap(line, width=width, subsequent_indent="    ",
                                     break_on_hyphens=False) or [""])
    pages = 0
    step = LINES_PER_PAGE if not landscape else LINES_PER_PAGE * 2 // 3
    for start in range(0, max(len(wrapped), 1), step):
        fig = Figure(figsize=A4[::-1] if landscape else A4)
        fig.text(0.04, 0.965, _latin1(title + (" (continued)" if start else "")),
                 fontsize=12, weight="bold", va="top")
        fig.text(0.04, 0.94, _latin1("\n".join(wrapped[start:start + step])), fontsize=6.2,
                 family="monospace", weight="medium", va="top")
        pdf.savefig(fig)
        pages += 1
    return pages


def _table_lines(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=True)]
    line = "  ".join(f"{h:<{w}}" for h, w in zip(header, widths, strict=True))
    return [line, "-" * len(line),
            *("  ".join(f"{c!s:<{w}}" for c, w in zip(r, widths, strict=True)) for r in rows)]


def _figure_page(pdf: PdfPages, title: str, png: bytes) -> None:
    fig = Figure(figsize=A4)
    fig.text(0.06, 0.965, _latin1(title), fontsize=11, weight="bold", va="top")
    ax = fig.add_axes((0.05, 0.05, 0.9, 0.88))
    # interpolation "none": the PNG goes into the PDF as it is, not resampled to the page DPI.
    ax.imshow(mpimg.imread(io.BytesIO(png), format="png"), interpolation="none")
    ax.set_axis_off()
    pdf.savefig(fig)


def render_pdf(comparison: dict, design: dict, figures: list[tuple[str, bytes]], *,
               alpha: float = ALPHA) -> bytes:
    """The study report as PDF bytes: design and flow, methods, per site group the rater table,
    the paired comparisons, MRMC, agreement and findings, then one page per figure.

    Parameters
    ----------
    comparison : dict
        ``Comparison.to_dict()``.
    design : dict
        The design summary (see :func:`design_lines`).
    figures : list of (title, PNG bytes)
    """
    if "site_groups" not in comparison:
        raise ValueError("comparison: expected Comparison.to_dict() with 'site_groups'; got "
                         f"keys {sorted(comparison)}")
    buf = io.BytesIO()
    # A fixed creation date keeps two renderings of one input byte-identical. The PDF's own
    # fonts (Courier, Helvetica) are not embedded and need no glyph layout: text pages render
    # about ten times faster than with embedded TrueType. They cover Latin-1; _latin1 maps the
    # rest.
    metadata = {"Title": f"ReaderBench study report {design.get('slug', '')}",
                "Creator": "ReaderBench", "CreationDate": None}
    with matplotlib.rc_context({**CORE_FONTS, **PLAIN_TEXT}), \
            PdfPages(buf, metadata=metadata) as pdf:
        _text_pages(pdf, "Study design and flow of cases", design_lines(design))
        methods = [f"{k}: {v}" for k, v in comparison["methods"].items()]
        methods.append(f"Findings are called significant when the Holm-adjusted p (MRMC: its "
                       f"own p) is below alpha = {alpha:g}.")
        _text_pages(pdf, "Methods", methods)
        found = findings(comparison, alpha=alpha)
        for g in comparison["site_groups"]:
            lines = [f"{g['n_cases']} cases of {g['n_patients']} patients; classes: "
                     + ", ".join(f"{k} {v}" for k, v in g["class_counts"].items()), ""]
            lines += _table_lines(*rater_rows(comparison, g)) + [""]
            lines += ["Findings (plain language):", *found[g["name"]], ""]
            lines += ["Paired comparisons:", *_table_lines(*paired_rows(g)), ""]
            if g["mrmc"]:
                lines += ["MRMC:", *_table_lines(*mrmc_rows(g)), ""]
            lines += ["Agreement:", *agreement_lines(g)]
            lines += [f"Note: {n}" for n in g.get("notes", [])]
            _text_pages(pdf, f"Results: {g['name']} cases", lines, width=215, landscape=True)
        if comparison.get("exclusions"):
            _text_pages(pdf, "Exclusions", [str(e) for e in comparison["exclusions"]])
        for title, png in figures:
            _figure_page(pdf, title, png)
    return buf.getvalue()
