"""The study report: built from the exported long table exactly as compare() sees it, cached
by the hash of its inputs, rendered as a page and a PDF, shown to researchers and admins only."""

import io
import json
import shutil
import subprocess
import sys
import uuid

import numpy as np
import openpyxl
import pytest
from django.urls import reverse

from analysis.compare.comparison import compare
from analysis.roc.multiclass import Endpoint
from analysis.table.exports import endpoint_slug
from inference.models import Prediction
from readers.models import ReaderProfile, SessionCase
from readers.services.reading import read_submit, session_create
from reports import files as report_files
from reports.models import StudyReport
from reports.pdf import fmt_ci, fmt_num
from reports.services import build
from reports.services.exports import study_export_long_table
from studies.models import Membership
from studies.pixels import heatmap_bytes, heatmap_on_image
from studies.storage import media_path
from tests.reports import report_study as report_study_builder

pytestmark = pytest.mark.django_db
LABELS = report_study_builder.LABELS
SHA = report_study_builder.SHA
N_BOOT = 30


@pytest.fixture
def cast(built_study):
    return built_study.users  # alice researcher; bob, dave, erin readers; charlie no access


@pytest.fixture
def report_study(built_study):
    return built_study.study


@pytest.fixture
def built(report_study):
    return build.study_report_build(study=report_study, n_bootstrap=N_BOOT, seed=4)


def test_the_report_holds_compare_of_the_exported_long_table(report_study, built):
    df = study_export_long_table(study=report_study)
    direct = compare(df, labels=LABELS, endpoints=report_study.endpoints, n_bootstrap=N_BOOT,
                     seed=4).to_dict()
    assert built.status == StudyReport.Status.DONE and built.progress == 100
    assert built.result == json.loads(json.dumps(direct))
    stored = report_files.report_directory(built) / "result.json"
    assert json.loads(stored.read_text()) == built.result
    assert built.code_version == build.code_version()
    assert built.inputs["n_human_rows"] == int((df.reader_kind == "human").sum())


def test_the_page_shows_the_numbers_of_compare(client, cast, report_study, built):
    client.force_login(cast["alice"])
    response = client.get(reverse("reports:study", args=[report_study.slug]))
    assert response.status_code == 200
    body = response.content.decode()
    direct = compare(study_export_long_table(study=report_study), labels=LABELS,
                     endpoints=report_study.endpoints, n_bootstrap=N_BOOT, seed=4).to_dict()
    for group in direct["site_groups"]:
        assert f'id="group-{group["name"]}"' in body
        for r in (*group["readers"], *group["models"]):
            acc = r["accuracy"]
            assert f"{fmt_num(acc['accuracy'])} {fmt_ci(acc['ci'])}" in body
            k = r["kappa"]["quadratic"]
            assert f"{fmt_num(k['kappa'])} {fmt_ci(k['ci'])}" in body
        for c in group["model_vs_readers"]:
            for d in c["delong"]:
                if d.get("difference") is not None:
                    assert f"{fmt_num(d['difference'])} {fmt_ci(d['ci'])}" in body
    assert "not significant" in body or "significant after Holm" in body
    assert "Holm" in body and "DeLong" in body and "Wilson" in body
    assert "reading set" in body and "unread" in body  # the flow of cases
    assert f'href="/reports/onfh/{built.pk}/report.pdf"' in body
    # every figure is served, with the same permission
    for spec in built.figures:
        url = reverse("reports:figure", args=[report_study.slug, built.pk, spec["name"]])
        assert f'src="{url}"' in body
    url = reverse("reports:figure", args=[report_study.slug, built.pk, built.figures[0]["name"]])
    figure = client.get(url)
    assert figure.status_code == 200 and figure["Content-Type"] == "image/png"
    assert b"".join(figure.streaming_content).startswith(b"\x89PNG")


def test_the_pdf_renders(client, cast, report_study, built, tmp_path):
    client.force_login(cast["alice"])
    response = client.get(reverse("reports:pdf", args=[report_study.slug, built.pk]))
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    pdf = b"".join(response.streaming_content)
    assert pdf.startswith(b"%PDF-")
    n_pages = pdf.count(b"/Type /Page\n") + pdf.count(b"/Type /Page ") + \
        pdf.count(b"/Type /Page>")
    assert n_pages > len(built.figures)  # text pages plus one page per figure
    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm (poppler-utils) is not installed: pages not rasterised")
    (tmp_path / "r.pdf").write_bytes(pdf)
    subprocess.run(["pdftoppm", "-png", "-r", "30", "-f", "1", "-l", "3", str(tmp_path / "r.pdf"),
                    str(tmp_path / "page")], check=True, timeout=120)
    pngs = sorted(tmp_path.glob("page*.png"))
    assert len(pngs) == 3 and all(p.stat().st_size > 1000 for p in pngs)


def test_it_hides_the_report_from_readers_outsiders_and_strangers(client, cast, report_study,
                                                                    built):
    urls = [reverse("reports:study", args=[report_study.slug]),
            reverse("reports:detail", args=[report_study.slug, built.pk]),
            reverse("reports:pdf", args=[report_study.slug, built.pk]),
            reverse("reports:figure", args=[report_study.slug, built.pk,
                                            built.figures[0]["name"]]),
            reverse("reports:export", args=[report_study.slug, built.pk, "long_table.csv"])]
    for name in ("bob", "charlie"):
        client.force_login(cast[name])
        for url in urls:
            assert client.get(url).status_code == 404, (name, url)
        assert client.post(reverse("reports:build", args=[report_study.slug])).status_code == 404
    client.logout()
    for url in urls:
        response = client.get(url)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    client.force_login(cast["alice"])
    for url in urls:
        assert client.get(url).status_code == 200, url


def test_the_same_inputs_return_the_same_report_and_a_new_read_a_new_one(report_study, built,
                                                                        django_user_model):
    again = build.study_report_build(study=report_study, n_bootstrap=N_BOOT, seed=4)
    assert again.pk == built.pk and StudyReport.objects.count() == 1
    # a setting is an input too
    other_seed = build.study_report_build(study=report_study, n_bootstrap=N_BOOT, seed=5)
    assert other_seed.input_hash != built.input_hash
    frank = django_user_model.objects.create_user("frank")
    ReaderProfile.objects.create(user=frank, seniority="resident", years_experience=2)
    Membership.objects.create(study=report_study, user=frank, role="reader")
    session = session_create(study=report_study, reader=frank, name="R1", condition="unaided")
    item = session.items.first()
    read_submit(item=item, stage="unaided", label="A", confidence=40, time_ms=1500,
                request_id=uuid.uuid4())
    _, _, digest = build.study_report_inputs(study=report_study, n_bootstrap=N_BOOT, seed=4)
    assert digest != built.input_hash


def test_the_build_button_queues_a_report_that_the_task_builds(client, cast, report_study,
                                                              django_capture_on_commit_callbacks,
                                                              settings):
    client.force_login(cast["alice"])
    page = client.get(reverse("reports:study", args=[report_study.slug]))
    assert 'id="no-report"' in page.content.decode()
    settings.CELERY_TASK_ALWAYS_EAGER = True
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(reverse("reports:build", args=[report_study.slug]))
    report = StudyReport.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("reports:detail", args=[report_study.slug, report.pk])
    assert report.status == StudyReport.Status.QUEUED and len(callbacks) == 1
    queued = client.get(response["Location"]).content.decode()
    assert 'http-equiv="refresh"' in queued and "Queued" in queued.title()
    from reports.tasks import build_study_report
    assert build_study_report.run(report_id=report.pk) == "done"
    report.refresh_from_db()
    assert report.status == StudyReport.Status.DONE and report.pdf_path.endswith("report.pdf")
    # asking again with the same inputs queues nothing
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        client.post(reverse("reports:build", args=[report_study.slug]))
    assert callbacks == [] and StudyReport.objects.count() == 1


def test_the_report_shows_example_cases_right_and_wrong_with_the_heat_map(client, cast,
                                                                         report_study, built):
    examples = [f for f in built.figures if f["kind"] == "examples"]
    # Internal and external cases each get the model's right and wrong calls.
    assert [f["site_group"] for f in examples] == ["internal", "external"]
    predictions = {str(p.image_id): p for p in Prediction.objects.select_related(
        "image__reference")}
    for spec in examples:
        assert spec["model"] == f"model:{SHA[:12]}"
        right = [c for c in spec["cases"] if c["correct"]]
        wrong = [c for c in spec["cases"] if not c["correct"]]
        assert 1 <= len(right) <= build.EXAMPLES_PER_ROW and len(wrong) <= 4
        for c in spec["cases"]:
            p = predictions[c["case"]]
            assert (c["truth"], c["predicted"]) == (p.image.reference.label, p.predicted_label)
            assert (p.image.partition == "external") == (spec["site_group"] == "external")
            assert c["readers_total"] == 3
    client.force_login(cast["alice"])
    body = client.get(reverse("reports:detail", args=[report_study.slug, built.pk])).content
    assert b"Example cases: the model right and wrong" in body
    spec = examples[0]
    url = reverse("reports:figure", args=[report_study.slug, built.pk, spec["name"]])
    png = b"".join(client.get(url).streaming_content)
    assert png.startswith(b"\x89PNG")
    # The heat maps are drawn: without their files the same cases draw differently.
    assert any(predictions[c["case"]].heatmap_file for c in spec["cases"])
    again = build._draw_examples(spec, report_study, built.design)
    assert again == png
    for name in {p.heatmap_file for p in predictions.values() if p.heatmap_file}:
        media_path(name).unlink()
    assert build._draw_examples(spec, report_study, built.design) != png
    # A lost cached array leaves a labelled gap, not a failed report.
    media_path(predictions[spec["cases"][0]["case"]].image.array_file.name).unlink()
    assert build._draw_examples(spec, report_study, built.design).startswith(b"\x89PNG")


def test_the_heat_map_loses_the_padding_of_the_models_square_input():
    heat = np.zeros((16, 16))
    heat[3:13] = 1.0  # 40 x 64 padded to 64 x 64 (12 rows above and below), resized to 16
    covered = heatmap_on_image(heat, (40, 64))
    assert covered.shape == (10, 16) and (covered == 1).all()
    covered = heatmap_on_image(report_study_builder.HEAT, (48, 80))
    assert covered.shape == (20, 32) and (covered == 1).all()
    tall = np.zeros((16, 16))
    tall[:, 4:12] = 1.0  # 64 x 32 padded left and right by 16 columns
    assert (heatmap_on_image(tall, (64, 32)) == 1).all()
    assert heatmap_on_image(tall, (16, 16)) is tall  # square image: nothing to drop
    np.save(media_path("h.npy"), heat)
    data, rows, columns = heatmap_bytes(name="h.npy", shape=(40, 64))
    assert (rows, columns) == (10, 16) and set(data) == {255}
    assert heatmap_bytes(name="h.npy")[1:] == (16, 16)
    with pytest.raises(ValueError, match="2-D"):
        heatmap_on_image(np.zeros((2, 2, 2)), (4, 4))


def test_the_report_carries_its_data_as_exports_that_reproduce_its_numbers(
        client, cast, report_study, built, tmp_path):
    names = report_files.report_exports(built)
    slugs = [endpoint_slug(Endpoint(e["name"], tuple(e["positive"])))
             for e in built.result["endpoints"]]
    assert len(slugs) == len(report_study.endpoints) >= 2
    assert names == sorted(["long_table.csv", "long_table_dictionary.csv", "results.json",
                            "study.xlsx", *(f"mrmc_{s}.csv" for s in slugs),
                            *(f"imrmc_{s}.imrmc" for s in slugs)])
    client.force_login(cast["alice"])
    page = client.get(reverse("reports:detail", args=[report_study.slug, built.pk]))
    files = {}
    for name in names:
        url = reverse("reports:export", args=[report_study.slug, built.pk, name])
        assert f'href="{url}"' in page.content.decode()
        response = client.get(url)
        assert response.status_code == 200
        assert f"{report_study.slug}-{built.input_hash[:12]}-{name}" in \
            response["Content-Disposition"]
        files[name] = b"".join(response.streaming_content)
    assert json.loads(files["results.json"]) == built.result
    # The downloaded long table through the analysis CLI gives the report's numbers.
    (tmp_path / "long_table.csv").write_bytes(files["long_table.csv"])
    out = subprocess.run(
        [sys.executable, "-m", "analysis", "compare", str(tmp_path / "long_table.csv"),
         "--labels", ",".join(LABELS), "--bootstrap", str(N_BOOT), "--seed", "4", "--json",
         *(f"--endpoint={e['name']}={','.join(e['positive'])}"
           for e in built.result["endpoints"])],
        capture_output=True, text=True, timeout=300, check=True)
    assert json.loads(out.stdout) == built.result
    assert openpyxl.load_workbook(io.BytesIO(files["study.xlsx"])).sheetnames
    # Only the bundle's own files: nothing else of the report's folder, nothing outside it.
    for name in ("result.json", "report.pdf", "..%2Fresult.json", "nothing.csv"):
        url = reverse("reports:export", args=[report_study.slug, built.pk, "x"])[:-1] + name
        assert client.get(url).status_code == 404, name


def test_indeterminate_reads_are_in_the_flow_with_their_reasons(client, cast, report_study):
    report_study.revisions_allowed = True
    report_study.save(update_fields=["revisions_allowed"])
    item = (SessionCase.objects.filter(session__reader=cast["bob"], reads__isnull=False)
            .order_by("position").first())
    read_submit(item=item, stage="unaided", indeterminate=True, comment="motion artefact",
                time_ms=900, request_id=uuid.uuid4())  # bob revises a read: cannot grade
    report = build.study_report_build(study=report_study, n_bootstrap=N_BOOT, seed=4)
    assert report.status == StudyReport.Status.DONE, report.error
    flow = report.design["flow"]
    assert (flow["indeterminate_reads"], flow["cases_with_an_indeterminate_read"]) == (1, 1)
    assert report.design["indeterminate_reasons"] == {"motion artefact": 1}
    bob = next(r for r in report.result["site_groups"][0]["readers"] if r["reader"] == "bob")
    assert bob["n_indeterminate"] == 1 and bob["n_not_read"] == 0
    client.force_login(cast["alice"])
    body = client.get(reverse("reports:detail", args=[report_study.slug, report.pk])).content
    assert b"indeterminate reads 1" in body and b"motion artefact 1" in body


def test_a_readers_free_text_reason_never_breaks_the_report(client, cast, report_study):
    """A reason with '$', '\\', '<', '{' and unicode is printed as typed on the page and in the
    PDF (it once made every build of the study's report fail in matplotlib's mathtext)."""
    reason = "motion $\\foo$ <script>{x}</script> \u00e9"
    report_study.revisions_allowed = True
    report_study.save(update_fields=["revisions_allowed"])
    item = (SessionCase.objects.filter(session__reader=cast["bob"], reads__isnull=False)
            .order_by("position").first())
    read_submit(item=item, stage="unaided", indeterminate=True, comment=reason, time_ms=900,
                request_id=uuid.uuid4())
    report = build.study_report_build(study=report_study, n_bootstrap=N_BOOT, seed=4)
    assert report.status == StudyReport.Status.DONE, report.error
    assert report.design["indeterminate_reasons"] == {reason: 1}
    client.force_login(cast["alice"])
    body = client.get(reverse("reports:detail", args=[report_study.slug, report.pk])).content
    assert b"<script>{x}</script>" not in body
    assert "motion $\\foo$ &lt;script&gt;{x}&lt;/script&gt; \u00e9".encode() in body
    pdf = client.get(reverse("reports:pdf", args=[report_study.slug, report.pk]))
    assert pdf.status_code == 200 and b"".join(pdf.streaming_content).startswith(b"%PDF")
