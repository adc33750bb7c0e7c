"""The text report of a human-vs-machine comparison: :func:`render_text` turns
``Comparison.to_dict()`` into readable sections (data, per-reader metrics, paired comparisons,
agreement, MRMC, exclusions). :meth:`analysis.compare.results.Comparison.summary` and the CLI
(``python -m analysis compare``) both print it. :func:`methods_text` writes the methods section
that every comparison carries.
"""

from __future__ import annotations

import math

from analysis.table.ratings import RULE

__all__ = ["methods_text", "render_text"]


def _f(x, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "-"
    return f"{x:.{digits}f}"


def _p(p) -> str:
    if p is None:
        return "-"
    return "<0.001" if p < 1e-3 else f"{p:.3f}"


def _ci(ci, digits: int = 3) -> str:
    if not ci or ci[0] is None:
        return "[-]"
    return f"[{_f(ci[0], digits)}, {_f(ci[1], digits)}]"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=True)]
    line = "  ".join(f"{h:<{w}}" for h, w in zip(header, widths, strict=True))
    out = [line, "-" * len(line)]
    out += ["  ".join(f"{c!s:<{w}}" for c, w in zip(r, widths, strict=True)) for r in rows]
    return out


def _section(title: str) -> list[str]:
    return ["", title, "=" * len(title)]


def render_text(d: dict) -> str:
    """A readable multi-section report of ``Comparison.to_dict()``."""
    pct = f"{100 * d['level']:g}%"
    data = d["data"]
    lines = ["Human-vs-machine comparison", "==========================="]
    lines.append(f"classes (lowest first): {', '.join(d['labels'])}")
    lines.append("endpoints: " + "; ".join(f"{e['name']} ({', '.join(e['positive'])} positive)"
                                           for e in d["endpoints"]))
    lines.append(f"primary condition: {d['primary_condition']} (conditions: "
                 f"{', '.join(d['conditions'])})")
    lines.append(f"{data['n_cases']} cases of {data['n_patients']} patients "
                 f"({data['n_external_cases']} external); {data['n_human_readers']} human "
                 f"readers, {data['n_models']} model(s); {data['n_rows']} reads, "
                 f"{data['n_superseded_rows']} superseded versions dropped")
    if data.get("site_group_note"):
        lines.append(data["site_group_note"])
    lines.append(f"intervals: {pct}; bootstrap: {d['n_bootstrap']} patient-clustered "
                 f"resamples, seed {d['seed']}")

    for g in d["site_groups"]:
        lines += _section(f"Site group: {g['name']} ({g['n_cases']} cases, "
                          f"{g['n_patients']} patients)")
        lines.append("class counts: " + ", ".join(f"{k} {v}" for k, v in
                                                  g["class_counts"].items()))
        ep_names = [e["name"] for e in d["endpoints"]]
        header = ["reader", "kind", "seniority", "n", "accuracy", f"{pct} CI", "macro F1",
                  "kappa (quad.)", "macro AUC"] + [f"AUC {n}" for n in ep_names] + \
                 ["time median (IQR) s"]
        rows = []
        for r in g["models"] + g["readers"] + g["seniority_groups"]:
            acc = r["accuracy"]
            rt = r["reading_time"]
            rows.append([
                r["reader"], r["kind"], r["seniority"] or "", r["n_cases"],
                _f(acc["accuracy"]), _ci(acc["ci"]), _f(r["classification"]["macro_f1"]),
                _f(r["kappa"]["quadratic"]["kappa"]), _f(r["macro_auc"]),
                *[_f(a.get("auc")) for a in r["auc_endpoints"]],
                "" if rt is None else f"{rt['median_s']:.1f} ({rt['q1_s']:.1f}-"
                                      f"{rt['q3_s']:.1f})",
            ])
        lines += [""] + _table(header, rows)

        lines += ["", "Model vs readers (paired; Holm-adjusted across readers)"]
        header = ["model", "reader", "n", "d accuracy", f"{pct} CI", "McNemar p", "p Holm"]
        for e in ep_names:
            header += [f"d AUC {e}", "DeLong p", "p Holm"]
        rows = []
        for c in g["model_vs_readers"] + g["model_vs_groups"]:
            boot = {b["statistic"]: b for b in c["bootstrap"]}
            row = [c["model"], c["reader"], c["n_cases"], _f(boot["accuracy"]["estimate"]),
                   _ci(boot["accuracy"]["ci"]), _p(c["mcnemar"]["p"]),
                   _p(c["mcnemar"]["p_holm"])]
            for t in c["delong"]:
                row += [_f(t.get("difference")), _p(t.get("pvalue")), _p(t.get("p_holm"))]
            rows.append(row)
        if rows:
            lines += _table(header, rows)
        for method in dict.fromkeys(h["method"] for h in g["holm"]):
            lines.append(f"({method}, per model, test and endpoint)")

        lines += ["", "Bootstrap differences model - reader (kappa, macro F1)"]
        rows = []
        for c in g["model_vs_readers"] + g["model_vs_groups"]:
            boot = {b["statistic"]: b for b in c["bootstrap"]}
            rows.append([c["model"], c["reader"]] + [
                f"{_f(boot[s]['estimate'])} {_ci(boot[s]['ci'])}"
                for s in ("kappa", "kappa_quadratic", "macro_f1")])
        if rows:
            lines += _table(["model", "reader", "d kappa", "d kappa (quad.)", "d macro F1"],
                            rows)

        inter = g["inter_reader"]
        lines += ["", "Inter-reader agreement (human readers)"]
        if "fleiss" in inter:
            fl = inter["fleiss"]
            lines.append(f"Fleiss' kappa {_f(fl['kappa'])} (SE0 {_f(fl['se'])}, p "
                         f"{_p(fl['p'])}) on {inter['n_cases']} cases read by all")
            for w, res in inter.get("pairwise", {}).items():
                lines.append(f"mean pairwise Cohen kappa ({w}): {_f(res['mean_kappa'])}")
            for s, sub in inter.get("seniority_groups", {}).items():
                if "fleiss" in sub:
                    lines.append(f"  {s}: Fleiss' kappa {_f(sub['fleiss']['kappa'])}")
        else:
            lines.append(inter.get("note", "-"))
        if g["intra_reader"]:
            lines += ["", "Intra-reader agreement (two sessions, same condition)"]
            rows = [[e["reader"], e["condition"], e["n_cases"]]
                    + [_f(e.get("kappa", {}).get(w, {}).get("kappa"))
                       for w in ("none", "linear", "quadratic")] for e in g["intra_reader"]]
            lines += _table(["reader", "condition", "n", "kappa", "linear", "quadratic"], rows)

        lines += ["", "MRMC (Obuchowski-Rockette, Hillis df)"]
        for m in g["mrmc"]:
            if m["result"] is None:
                what = m.get("model") or " vs ".join(m.get("treatments", []))
                lines.append(f"{m['endpoint']}: {what}: not computed ({m['reason']})")
                continue
            res = m["result"]
            if m["analysis"] == "model vs readers":
                rr = res["rrrc"]
                lines.append(
                    f"{m['endpoint']}: model {m['model']} AUC {_f(res['model_auc'])} vs "
                    f"readers' mean {_f(res['mean_reader_auc'])} ({len(m['readers'])} "
                    f"readers): difference {_f(rr['estimate'])} {_ci(rr['ci'])}, df "
                    f"{_f(rr['df'], 1)}, p {_p(rr['pvalue'])}")
            else:
                rr = res["rrrc"]
                comp = rr["comparisons"][0] if rr.get("comparisons") else rr
                lines.append(
                    f"{m['endpoint']}: {' vs '.join(m['treatments'])} ({len(m['readers'])} "
                    f"readers): difference {_f(comp.get('estimate'))} "
                    f"{_ci(comp.get('ci'))}, p {_p(comp.get('pvalue'))}")
        for note in g["notes"]:
            lines.append(f"note: {note}")

    if d["exclusions"]:
        lines += _section("Exclusions")
        for e in d["exclusions"]:
            who = e.get("reader") or ", ".join(e.get("readers") or []) or "-"
            n = "" if e.get("n_cases") is None else f"{e['n_cases']} "
            lines.append(f"[{e['site_group']}] {who}: {n}{e['what']}: {e['reason']}")
    lines += _section("Methods")
    for key, text in d["methods"].items():
        lines.append(f"{key}: {text}")
    return "\n".join(lines)


def methods_text(primary: str, level: float, n_bootstrap: int) -> dict:
    """The methods section of a comparison, one plain sentence or two per statistic: what was
    computed, on which reads, with which interval (the rating rule is :data:`RULE`)."""
    pct = f"{100 * level:g}%"
    return {
        "primary_reads": (
            f"Human readers: reads of condition {primary!r}, first session; models: their "
            "reads of that condition (or of their only condition)."),
        "ratings": RULE,
        "accuracy": f"Proportion correct with a {pct} Wilson score interval (Clopper-Pearson "
                    "also given).",
        "precision_recall_f1": "Per class and macro (unweighted mean over every class of the "
                               "scheme; an undefined value counts 0).",
        "kappa": "Cohen's kappa against truth, unweighted, linear and quadratic weights, with "
                 "the large-sample SE of Fleiss, Cohen & Everitt (1969) and a Wald interval.",
        "auc": f"Empirical ROC AUC with DeLong variance and {pct} normal interval, one-vs-rest "
               "per class (macro = mean over classes present) and per endpoint.",
        "delong": "Paired DeLong test (two-sided) of model vs reader per endpoint on the cases "
                  "both read.",
        "mcnemar": "McNemar's chi-squared test with continuity correction on per-case "
                   "correctness (model vs reader, cases both read).",
        "bootstrap": (
            f"{n_bootstrap} patient-clustered bootstrap resamples, stratified by the "
            "patient's most severe true class (the same resamples for every "
            f"statistic of a site group); {pct} percentile intervals of model - reader "
            "differences in accuracy, kappa (unweighted, linear, quadratic), macro F1 and "
            "endpoint AUC." if n_bootstrap else "No bootstrap (n_bootstrap = 0)."),
        "seniority_groups": (
            "Consensus reader per group: modal class of the members who read the case (ties: "
            "higher mean probability, then the lower class); scores = mean of the members' "
            "probability vectors. member_means = plain mean of members' statistics."),
        "inter_reader": "Fleiss' kappa of the human readers on the cases all of them read; "
                        "mean pairwise Cohen kappa (Light's, and linear/quadratic weighted for "
                        "the ordinal scale).",
        "intra_reader": "Cohen's kappa (unweighted, linear, quadratic) between a reader's first "
                        "two sessions of the same condition, on the cases read in both.",
        "mrmc": "Obuchowski-Rockette with jackknife covariance and Hillis (2007) df: the model "
                "as a fixed reader vs the random human readers (1T-RRRC), and each other "
                f"condition vs {primary!r} as two modalities (RRRC, FRRC, RRFC); readers who "
                "did not read every case are left out, and cases a reader in the analysis "
                "marked indeterminate are left out for all (case-wise deletion).",
        "indeterminate": "An indeterminate read (the reader could not grade the case) is left "
                         "out of that reader's metrics and paired comparisons, counted per "
                         "reader (n_indeterminate) and listed in the exclusions; never counted "
                         "as right or wrong.",
        "multiplicity": "Holm's step-down adjustment across the human readers (and separately "
                        "across seniority groups), per model, test, endpoint and site group; "
                        "raw and adjusted p-values are both reported.",
    }
