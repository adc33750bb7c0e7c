"""Figures of the comparison render as valid PNG / SVG (reports.figures)."""

from __future__ import annotations

import io
import shutil
import subprocess
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from matplotlib import image as mpimg

from analysis.compare.comparison import compare
from analysis.table.longtable import validate_long_table
from analysis.table.simulate import simulate_long_table
from reports import example_cases, figures
from reports import pdf as report_pdf

LABELS = ["A", "B", "C1", "C2"]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def study():
    df = simulate_long_table(labels=LABELS, n_cases=60, n_readers=4, second_session=True,
                             seed=3)
    table = validate_long_table(df, labels=LABELS)
    return table, compare(table, n_bootstrap=40, seed=0).to_dict()


def assert_png(data):
    assert isinstance(data, bytes) and data.startswith(PNG_MAGIC)
    pixels = mpimg.imread(io.BytesIO(data), format="png")
    assert pixels.shape[0] > 50 and pixels.shape[1] > 50
    # Not a blank canvas: something was drawn.
    assert np.ptp(pixels[..., :3]) > 0.2


def assert_svg(text):
    assert isinstance(text, str)
    root = ET.fromstring(text)
    assert root.tag.endswith("svg")


def test_roc_figure_renders_every_endpoint_and_site_group(study):
    table, comparison = study
    for group in ("all", "internal", "external"):
        for e in comparison["endpoints"]:
            assert_png(figures.roc_figure(table, comparison, endpoint=e["name"],
                                          site_group=group))
    assert_svg(figures.roc_figure(table, comparison, endpoint=">= C1", fmt="svg"))


def test_roc_figure_rejects_an_unknown_endpoint(study):
    table, comparison = study
    with pytest.raises(ValueError, match="endpoint: got 'nope'"):
        figures.roc_figure(table, comparison, endpoint="nope")


def test_confusion_figure_renders_readers_models_and_groups(study):
    _, comparison = study
    g = comparison["site_groups"][0]
    for r in (*g["readers"], *g["models"], *g["seniority_groups"]):
        assert_png(figures.confusion_figure(comparison, rater=r["reader"]))
    assert_svg(figures.confusion_figure(comparison, rater=g["models"][0]["reader"], fmt="svg"))


def test_forest_figure_and_agreement_and_reading_times_render(study):
    table, comparison = study
    assert_png(figures.forest_figure(comparison))
    assert_svg(figures.forest_figure(comparison, site_group="external", fmt="svg"))
    assert_png(figures.agreement_figure(comparison))
    assert_svg(figures.agreement_figure(comparison, weights="none", fmt="svg"))
    assert_png(figures.reading_time_figure(table))


def test_render_rejects_an_unknown_format(study):
    _, comparison = study
    with pytest.raises(ValueError, match="fmt: got 'gif'"):
        figures.agreement_figure(comparison, fmt="gif")


def test_the_same_input_gives_the_same_png(study):
    _, comparison = study
    assert figures.forest_figure(comparison) == figures.forest_figure(comparison)


def test_forest_rows_are_reader_minus_model(study):
    _, comparison = study
    c = comparison["site_groups"][0]["model_vs_readers"][0]
    rows = figures.forest_rows(comparison)
    acc = next(b for b in c["bootstrap"] if b["statistic"] == "accuracy")
    row = next(r for r in rows if r[0] == c["reader"] and r[1] == "accuracy")
    assert row[2:] == (-acc["estimate"], -acc["ci"][1], -acc["ci"][0])
    d = c["delong"][0]
    row = next(r for r in rows if r[0] == c["reader"] and r[1] == f"AUC {d['endpoint']}")
    assert row[2] == pytest.approx(d["aucs"][1] - d["aucs"][0])


def test_operating_point_matches_a_hand_count():
    # truth rows x read columns; positive = C1, C2. TP = 8+6+6+23 = 43 of 47 positives,
    # FP = 4 of 33 negatives.
    cm = {"labels": LABELS, "matrix": [[13, 1, 0, 0], [6, 9, 4, 0], [1, 3, 8, 6], [0, 0, 6, 23]]}
    fpr, tpr = figures.endpoint_operating_point(cm, ["C1", "C2"])
    assert fpr == pytest.approx(4 / 33)
    assert tpr == pytest.approx(43 / 47)


def test_roc_curve_area_equals_the_mann_whitney_auc():
    rng = np.random.default_rng(0)
    y = rng.random(50) < 0.4
    s = np.round(rng.normal(size=50) + y, 1)  # ties included
    fpr, tpr = figures.roc_curve_points(y, s)
    pos, neg = s[y], s[~y]
    mw = ((pos[:, None] > neg).sum() + 0.5 * (pos[:, None] == neg).sum()) / (pos.size * neg.size)
    assert np.trapezoid(tpr, fpr) == pytest.approx(mw)


def test_agreement_matrix_is_symmetric_with_the_pairwise_kappas(study):
    _, comparison = study
    raters, k = figures.agreement_matrix(comparison)
    assert np.allclose(k, k.T) and np.allclose(np.diag(k), 1)
    pair = comparison["site_groups"][0]["inter_reader"]["pairwise"]["quadratic"]["pairs"][0]
    assert k[raters.index(pair["rater_a"]), raters.index(pair["rater_b"])] == pair["kappa"]


# --- reports.pdf: the text of the report and the PDF -------------------------------


def test_findings_call_significant_exactly_the_holm_adjusted_p_below_alpha(study):
    _, comparison = study
    found = report_pdf.findings(comparison)
    assert set(found) == {g["name"] for g in comparison["site_groups"]}
    for g in comparison["site_groups"]:
        sentences = iter(found[g["name"]])
        for c in (*g["model_vs_readers"], *g["model_vs_groups"]):
            for d in c["delong"]:
                if d.get("difference") is None:
                    continue
                s = next(sentences)
                assert s.startswith(f"{c['model']} vs {c['reader']}, {d['endpoint']}: ")
                assert f"Holm p = {report_pdf.fmt_p(d['p_holm'])}" in s
                expected = "not significant" if d["p_holm"] >= 0.05 else "significant"
                assert s.endswith(f": {expected} after Holm adjustment at alpha = 0.05.")
            s = next(sentences)
            expected = "not significant" if c["mcnemar"]["p_holm"] >= 0.05 else "significant"
            assert "McNemar" in s and s.endswith(f": {expected} after Holm adjustment at "
                                                 "alpha = 0.05.")


def test_rater_rows_carry_each_estimate_with_its_interval(study):
    _, comparison = study
    g = comparison["site_groups"][0]
    header, rows = report_pdf.rater_rows(comparison, g)
    assert len(rows) == len(g["models"]) + len(g["readers"]) + len(g["seniority_groups"])
    model = g["models"][0]
    row = dict(zip(header, rows[0], strict=True))
    acc = model["accuracy"]
    assert row["accuracy [95% CI]"] == f"{acc['accuracy']:.3f} [{acc['ci'][0]:.3f}, " \
                                       f"{acc['ci'][1]:.3f}]"
    assert row["macro F1"] == f"{model['classification']['macro_f1']:.3f}"


def test_the_pdf_has_text_pages_and_one_page_per_figure(study, tmp_path):
    table, comparison = study
    figs = [("ROC", figures.roc_figure(table, comparison, endpoint=">= C1")),
            ("forest", figures.forest_figure(comparison))]
    design = {"slug": "sim", "title": "Simulated", "washout_days": 28,
              "flow": {"cases_imported": 60, "unread": 0}}
    pdf = report_pdf.render_pdf(comparison, design, figs)
    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
    # design + methods + one per site group (at least) + one per figure
    assert pdf.count(b"/Type /Page\n") + pdf.count(b"/Type /Page ") + \
        pdf.count(b"/Type /Page>") >= 2 + len(comparison["site_groups"]) + len(figs)
    assert report_pdf.render_pdf(comparison, design, figs) == pdf  # reproducible bytes
    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm (poppler-utils) is not installed: pages not rasterised")
    (tmp_path / "r.pdf").write_bytes(pdf)
    subprocess.run(["pdftoppm", "-png", "-r", "30", str(tmp_path / "r.pdf"),
                    str(tmp_path / "page")], check=True, timeout=120)
    assert len(list(tmp_path.glob("page*.png"))) >= 2 + len(figs)


def test_render_pdf_rejects_something_that_is_not_a_comparison():
    with pytest.raises(ValueError, match="comparison: expected Comparison.to_dict"):
        report_pdf.render_pdf({"labels": []}, {}, [])


def _choices(table, comparison, group="all", n=3):
    model = table.model_readers[0]
    return model, example_cases.example_case_choices(
        table, comparison, model=model,
        site_group=group, n_right=n, n_wrong=n)


def test_example_cases_are_the_models_right_and_wrong_calls_with_the_readers_count(study):
    table, comparison = study
    model, chosen = _choices(*study)
    assert [c["correct"] for c in chosen] == [True] * 3 + [False] * 3
    primary = comparison["primary_condition"]
    reads = table.reads
    for c in chosen:
        row = reads[(reads["reader"] == model) & (reads["case"] == c["case"])].iloc[0]
        assert (c["predicted"], c["truth"]) == (row["label"], row["truth"])
        assert c["correct"] == (row["label"] == row["truth"])
        assert c["probability"] == pytest.approx(row[f"score_{row['label']}"])
        humans = reads[(reads["reader_kind"] == "human") & (reads["case"] == c["case"])
                       & (reads["condition"] == primary) & (reads["session"] == 1)]
        assert c["readers_total"] == len(humans) == 4
        assert c["readers_right"] == int((humans["label"] == humans["truth"]).sum())


def test_example_cases_span_the_classes_and_are_the_most_confident_of_each(study):
    table, comparison = study
    model, chosen = _choices(table, comparison, n=4)
    right = [c for c in chosen if c["correct"]]
    # Round-robin over the truth classes: four right calls, one of each class present.
    assert sorted(c["truth"] for c in right) == sorted(LABELS)
    reads = table.reads[table.reads["reader"] == model]
    for c in right:
        same = reads[(reads["truth"] == c["truth"]) & (reads["label"] == reads["truth"])]
        best = max(same.apply(lambda r: r[f"score_{r['label']}"], axis=1))
        assert c["probability"] == pytest.approx(best)


def test_example_cases_keep_to_their_site_group(study):
    table, comparison = study
    external = set(table.site_group("external").reads["case"])
    _, chosen = _choices(table, comparison, group="external")
    assert chosen and {c["case"] for c in chosen} <= external


def test_example_cases_figure_renders_images_heat_maps_and_gaps(study):
    rng = np.random.default_rng(0)
    image = rng.random((40, 64))
    heat = np.zeros((16, 16))
    heat[4:8, 4:8] = 1.0
    cases = [
        example_cases.ExampleCase(case="1", truth="A", predicted="A", probability=0.9, correct=True,
                            image=image, heat=heat, readers_right=3, readers_total=4),
        example_cases.ExampleCase(case="2", truth="B", predicted="C1", probability=None,
                            correct=False, image=None),
    ]
    assert cases[0].caption() == "case 1\ntruth A, model A (0.90)\nreaders right 3/4"
    assert cases[1].caption() == "case 2\ntruth B, model C1"
    assert_png(example_cases.example_cases_figure(cases))
    assert_svg(example_cases.example_cases_figure(cases, fmt="svg"))
    with pytest.raises(ValueError, match="2-D"):
        example_cases.example_cases_figure([example_cases.ExampleCase(
            case="3", truth="A", predicted="A", probability=0.5, correct=True,
            image=np.zeros((2, 3, 4)))])


def test_report_figure_specs_are_unique_and_each_one_draws(study):
    table, comparison = study
    specs = figures.report_figure_specs(comparison)
    assert len({s["name"] for s in specs}) == len(specs)
    kinds = {s["kind"] for s in specs}
    assert kinds == {"roc", "confusion", "forest", "agreement", "reading_time"}
    # One figure per kind and site group; each one draws.
    assert len(specs) == len({(s["kind"], s["site_group"], s.get("endpoint")) for s in specs})
    for spec in [s for s in specs if s["site_group"] == "external" or s["kind"] ==
                 "reading_time"]:
        assert_png(figures.draw_report_figure(spec, table, comparison))
    with pytest.raises(ValueError, match="spec kind"):
        figures.draw_report_figure({"kind": "pie", "site_group": "all"}, table, comparison)


def test_the_confusion_grid_holds_every_rater_of_the_group(study):
    _, comparison = study
    g = comparison["site_groups"][0]
    names = [r["reader"] for r in (*g["models"], *g["seniority_groups"], *g["readers"])]
    svg = figures.confusion_grid_figure(comparison, fmt="svg")
    assert_svg(svg)
    for name in names:
        assert name in svg
    assert_png(figures.confusion_grid_figure(comparison, raters=names[:2], site_group="all"))
    with pytest.raises(ValueError, match="rater"):
        figures.confusion_grid_figure(comparison, raters=["nobody"])


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="pdftotext (poppler-utils) missing")
def test_the_pdf_text_is_real_text_in_latin_1(study, tmp_path):
    _, comparison = study
    design = {"slug": "s", "title": "Hips \u2212 JIC \u2265 B, \u03ba"}
    path = tmp_path / "r.pdf"
    path.write_bytes(report_pdf.render_pdf(comparison, design, []))
    text = subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True,
                          capture_output=True, text=True, timeout=60).stdout
    assert "Study: Hips - JIC >= B, kappa (s)" in text
    reader = comparison["site_groups"][0]["readers"][0]["reader"]
    assert "Findings (plain language):" in text and reader in text
    assert "p = <" not in text  # "p < 0.001", not "p = <0.001"


def test_the_report_states_the_unaided_vs_ai_aided_mrmc(tmp_path):
    df = simulate_long_table(labels=LABELS, n_cases=80, n_readers=3, aided=True, seed=1)
    comparison = compare(df, labels=LABELS, n_bootstrap=20, seed=0).to_dict()
    g = comparison["site_groups"][0]
    conditions = [m for m in g["mrmc"] if m["analysis"] == "conditions" and m.get("result")]
    assert conditions
    header, rows = report_pdf.mrmc_rows(g)
    aided = [r for r in rows if r[0] == "conditions (RRRC)"]
    assert len(aided) == len(conditions)
    for m, row in zip(conditions, aided, strict=True):
        c = m["result"]["rrrc"]["comparisons"][0]
        assert row[3] == c["comparison"] == "unaided - AI-aided"
        assert row[4] == f"{report_pdf.fmt_num(c['estimate'])} {report_pdf.fmt_ci(c['ci'])}"
        assert row[6] == report_pdf.fmt_p(c["pvalue"])
        assert row[7].startswith("unaided ") and ", AI-aided " in row[7]
    found = report_pdf.findings(comparison)[g["name"]]
    assert sum("AUC difference unaided - AI-aided" in line for line in found) == len(conditions)
    assert report_pdf.render_pdf(comparison, {"slug": "s"}, []).startswith(b"%PDF")


FREE_TEXT = "motion $\\foo$ {x} <b>&amp; \\ 50% \u00e9\u2192"


def test_free_text_in_names_and_reasons_never_breaks_a_figure_or_the_pdf(tmp_path):
    """Reader names, case ids, titles and indeterminate reasons are typed by people: a '$' in
    them is printed, never parsed as mathtext (a reason "motion $\\foo$" once made every build
    of the study's report fail)."""
    df = simulate_long_table(labels=LABELS, n_cases=40, n_readers=3, seed=2)
    first = sorted(df.loc[df["reader_kind"] == "human", "reader"].unique())[0]
    df["reader"] = df["reader"].replace({first: f"dr {FREE_TEXT}"})
    table = validate_long_table(df, labels=LABELS)
    comparison = compare(table, labels=LABELS, n_bootstrap=20, seed=0).to_dict()
    figs = [(spec["title"] + FREE_TEXT, figures.draw_report_figure(spec, table, comparison))
            for spec in figures.report_figure_specs(comparison)]
    case = example_cases.ExampleCase(case=FREE_TEXT, truth="A", predicted="B", probability=0.5,
                                     correct=False, image=np.zeros((8, 8)))
    figs.append(("examples", example_cases.example_cases_figure([case], title=FREE_TEXT)))
    design = {"slug": "s", "title": FREE_TEXT, "indeterminate_reasons": {FREE_TEXT: 2}}
    pdf = report_pdf.render_pdf(comparison, design, figs)
    assert pdf.startswith(b"%PDF-")
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) missing")
    path = tmp_path / "r.pdf"
    path.write_bytes(pdf)
    text = subprocess.run(["pdftotext", str(path), "-"], check=True, capture_output=True,
                          text=True, timeout=60).stdout
    assert "motion $\\foo$" in text
