"""The study report: built from the exported long table exactly as compare() sees it, cached
by the hash of its inputs, rendered as a page and a PDF, shown to researchers and admins only."""

import json
import shutil
import subprocess
import uuid

import numpy as np
import pytest
from django.urls import reverse

from analysis.compare import compare
from analysis.report_pdf import fmt_ci, fmt_num
from inference.models import ModelVersion, Prediction
from readers.models import Membership, ReaderProfile, StudyReport
from readers.services import reports
from readers.services.exports import study_export_long_table
from readers.services.partitions import study_partition
from readers.services.reading import read_submit, session_create
from tests.readers.factories import make_case

pytestmark = pytest.mark.django_db
LABELS = ["A", "B", "C1", "C2"]
SHA = "7a" * 32
N_BOOT = 30


@pytest.fixture
def cast(django_user_model, study):
    users = {name: django_user_model.objects.create_user(name)
             for name in ("alice", "bob", "charlie", "dave", "erin")}
    Membership.objects.create(study=study, user=users["alice"], role="researcher")
    for name, seniority in (("bob", "chief"), ("dave", "attending"), ("erin", "resident")):
        ReaderProfile.objects.create(user=users[name], seniority=seniority, years_experience=9)
        Membership.objects.create(study=study, user=users[name], role="reader")
    return users  # charlie: should have no access


@pytest.fixture
def report_study(study, site, external_site, cast):
    for n in range(40):
        make_case(study=study, site=site, patient=f"P{n // 2}", side="LR"[n % 2],
                  label=LABELS[n % 4])
    for n in range(12):
        make_case(study=study, site=external_site, patient=f"E{n}", label=LABELS[(n + 1) % 4])
    study_partition(study=study, seed=3)
    for i, name in enumerate(("bob", "dave", "erin")):
        session = session_create(study=study, reader=cast[name], name="R1",
                                 condition="unaided")
        for item in session.items.select_related("image__reference"):
            truth = item.image.reference.label
            wrong = (item.position + i) % 3 == 0
            label = LABELS[min(3, LABELS.index(truth) + 1)] if wrong else truth
            read_submit(item=item, stage="unaided", label=label, confidence=50 + 15 * i,
                        time_ms=2000 + 37 * item.position, request_id=uuid.uuid4())
    version = ModelVersion.objects.create(
        sha256=SHA, name="m", architecture="tiny", input_size=32, labels=LABELS,
        card={"task": "JIC grading"}, weights_file=f"models/{SHA}.pt", format="state_dict")
    rng = np.random.default_rng(5)
    for image in study.images.select_related("reference"):
        logits = rng.normal(size=4)
        logits[LABELS.index(image.reference.label)] += 1.5
        p = np.exp(logits) / np.exp(logits).sum()
        Prediction.objects.create(model_version=version, image=image,
                                  probabilities=[float(x) for x in p],
                                  predicted_label=LABELS[int(np.argmax(p))])
    return study


@pytest.fixture
def built(report_study):
    return reports.study_report_build(study=report_study, n_bootstrap=N_BOOT, seed=4)


def test_the_report_holds_compare_of_the_exported_long_table(report_study, built):
    df = study_export_long_table(study=report_study)
    direct = compare(df, labels=LABELS, endpoints=report_study.endpoints, n_bootstrap=N_BOOT,
                     seed=4).to_dict()
    assert built.status == StudyReport.Status.DONE and built.progress == 100
    assert built.result == json.loads(json.dumps(direct))
    stored = reports.report_directory(built) / "result.json"
    assert json.loads(stored.read_text()) == built.result
    assert built.code_version == reports.code_version()
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
                                            built.figures[0]["name"]])]
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
    again = reports.study_report_build(study=report_study, n_bootstrap=N_BOOT, seed=4)
    assert again.pk == built.pk and StudyReport.objects.count() == 1
    # a setting is an input too
    other_seed = reports.study_report_build(study=report_study, n_bootstrap=N_BOOT, seed=5)
    assert other_seed.input_hash != built.input_hash
    frank = django_user_model.objects.create_user("frank")
    ReaderProfile.objects.create(user=frank, seniority="resident", years_experience=2)
    Membership.objects.create(study=report_study, user=frank, role="reader")
    session = session_create(study=report_study, reader=frank, name="R1", condition="unaided")
    item = session.items.first()
    read_submit(item=item, stage="unaided", label="A", confidence=40, time_ms=1500,
                request_id=uuid.uuid4())
    _, _, digest = reports.study_report_inputs(study=report_study, n_bootstrap=N_BOOT, seed=4)
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
    from readers.tasks import build_study_report
    assert build_study_report.run(report_id=report.pk) == "done"
    report.refresh_from_db()
    assert report.status == StudyReport.Status.DONE and report.pdf_path.endswith("report.pdf")
    # asking again with the same inputs queues nothing
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        client.post(reverse("reports:build", args=[report_study.slug]))
    assert callbacks == [] and StudyReport.objects.count() == 1
