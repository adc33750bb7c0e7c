"""Study reports through the REST API (``/api/v1/reports/``): what a script with a token gets —
the report's state and links, its numbers, its PDF and each export file, byte for byte the files
the report wrote — and asking for a report by POST, queued and built by the task, the same
inputs giving the same report. The cast of tests/reports/report_study.py — alice (researcher),
bob (reader), charlie (no access) — and otto, admin of another study. The permission matrix
over every endpoint is in test_rest_api.py, the schema checks in test_openapi.py."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from django.urls import reverse
from knox.models import AuthToken

from inference.models import Prediction
from reports import files as report_files
from reports.models import StudyReport
from reports.services import build
from studies.models import Membership, Site, Study
from tests.inference.inference_fixtures import eager_celery  # noqa: F401 (a fixture)
from tests.studies.factories import make_case

pytestmark = pytest.mark.django_db
NS = "api-v1"
N_BOOT = 30


@pytest.fixture
def cast(built_study, django_user_model):
    """alice researcher, bob reader of ``onfh``; otto admin of ``other``; charlie nothing."""
    other = Study.objects.create(slug="other", title="Another study")
    otto = django_user_model.objects.create_user("otto", password="pw-otto-admin-5")
    Membership.objects.create(study=other, user=otto, role="admin")
    return {**built_study.users, "otto": otto}


@pytest.fixture
def built(built_study):
    return build.study_report_build(study=built_study.study, n_bootstrap=N_BOOT, seed=4)


def _token(user) -> dict:
    return {"HTTP_AUTHORIZATION": f"Token {AuthToken.objects.create(user=user)[1]}"}


def _report_urls(report: StudyReport) -> list[str]:
    pk = report.pk
    return [
        reverse(f"{NS}:report-list"),
        reverse(f"{NS}:report-detail", args=[pk]),
        reverse(f"{NS}:report-result", args=[pk]),
        reverse(f"{NS}:report-pdf", args=[pk]),
        reverse(f"{NS}:report-export", args=[pk, "long_table.csv"]),
    ]


def test_a_researchers_token_downloads_the_reports_files(client, cast, built):
    auth = _token(cast["alice"])
    listed = client.get(reverse(f"{NS}:report-list"), **auth)
    assert listed.status_code == 200
    [row] = listed.json()["results"]
    assert (row["id"], row["study"], row["status"], row["progress"]) == (
        built.pk, "onfh", "done", 100)
    assert (row["seed"], row["n_bootstrap"], row["model_version"]) == (4, N_BOOT, None)
    assert row["input_hash"] == built.input_hash and row["inputs"] == built.inputs
    assert row["design"]["slug"] == "onfh" and row["finished_at"] is not None
    assert "site_groups" not in row  # the numbers only at result/
    assert row["page"] == "http://testserver" + reverse("reports:detail", args=["onfh", built.pk])

    # Every file of the export bundle, byte for byte what the report wrote.
    folder = report_files.report_directory(built) / "exports"
    names = [e["name"] for e in row["exports"]]
    assert names == report_files.report_exports(built)
    assert {"long_table.csv", "long_table_dictionary.csv", "results.json", "study.xlsx"} <= set(
        names)
    assert any(n.endswith(".imrmc") for n in names)
    types = {".csv": "text/csv", ".json": "application/json", ".imrmc": "text/plain",
             ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
    for export in row["exports"]:
        response = client.get(export["url"], **auth)
        assert response.status_code == 200, export
        assert response["Content-Type"] == types["." + export["name"].rsplit(".", 1)[1]]
        assert response["Content-Disposition"].startswith("attachment;")
        assert b"".join(response.streaming_content) == (folder / export["name"]).read_bytes()
    long_table = client.get(reverse(f"{NS}:report-export", args=[built.pk, "long_table.csv"]),
                            HTTP_ACCEPT="text/csv", **auth)  # a client that asks for CSV only
    assert long_table.status_code == 200
    assert long_table["Content-Disposition"] == (
        f'attachment; filename="onfh-{built.input_hash[:12]}-long_table.csv"')
    assert b"".join(long_table.streaming_content).startswith(b"study,reader,reader_kind,")

    pdf = client.get(row["pdf"], **auth)
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    assert b"".join(pdf.streaming_content) == (
        report_files.report_directory(built) / "report.pdf").read_bytes()
    result = client.get(row["result"], **auth)
    assert result.status_code == 200 and result.json() == built.result
    exported = client.get(reverse(f"{NS}:report-export", args=[built.pk, "results.json"]),
                          **auth)
    assert result.json() == json.loads(b"".join(exported.streaming_content))


def test_only_the_listed_export_names_are_served(client, cast, built):
    auth = _token(cast["alice"])
    # beside the exports, not in them
    assert (report_files.report_directory(built) / "result.json").is_file()
    for name in ("result.json", "report.pdf", "nope.csv", "long_table.CSV", "..", "exports"):
        url = reverse(f"{NS}:report-export", args=[built.pk, name])
        response = client.get(url, **auth)
        assert response.status_code == 404, name
        assert response["Content-Type"] == "application/json"  # an error, not a file
    # A made-up report, and one not done yet, have no files either.
    queued = build.study_report_request(study=built.study, seed=9)
    for pk in (10**9, queued.pk):
        for name in ("report-pdf", "report-result"):
            assert client.get(reverse(f"{NS}:{name}", args=[pk]), **auth).status_code == 404
        url = reverse(f"{NS}:report-export", args=[pk, "long_table.csv"])
        assert client.get(url, **auth).status_code == 404
    listed = {r["id"]: r for r in client.get(reverse(f"{NS}:report-list"), **auth).json()[
        "results"]}
    assert listed[queued.pk]["status"] == "queued"
    assert (listed[queued.pk]["pdf"], listed[queued.pk]["result"]) == (None, None)
    assert listed[queued.pk]["exports"] == []


def test_readers_and_other_studies_people_get_nothing(client, cast, built_study, built):
    """bob (a reader here) and charlie (nothing anywhere): 404 on everything; otto (admin of
    another study, with a report of his own): only his."""
    other = Study.objects.get(slug="other")
    case = make_case(study=other, site=Site.objects.create(code="SITE9", name="Elsewhere"),
                     patient="P-other", label="B")
    case.partition = "test"
    case.save(update_fields=["partition"])
    Prediction.objects.create(model_version=built_study.model_version, image=case,
                              probabilities=[0.1, 0.7, 0.1, 0.1], predicted_label="B")
    other_report = build.study_report_request(study=other, user=cast["otto"])
    ask = {"study": "onfh", "seed": 4, "n_bootstrap": N_BOOT}
    for name in ("bob", "charlie"):
        auth = _token(cast[name])
        for url in _report_urls(built):
            response = client.get(url, **auth)
            assert response.status_code == 404, (name, url)
            assert built.input_hash not in response.content.decode()
        response = client.post(reverse(f"{NS}:report-list"), ask, content_type="application/json",
                               **auth)
        assert response.status_code == 404, name
    auth = _token(cast["otto"])
    rows = client.get(reverse(f"{NS}:report-list"), **auth).json()["results"]
    assert [r["id"] for r in rows] == [other_report.pk]
    assert client.get(reverse(f"{NS}:report-list") + "?study=onfh", **auth).json()[
        "results"] == []
    for url in _report_urls(built)[1:]:
        assert client.get(url, **auth).status_code == 404, url
    # Asking for onfh's report: the same 404 as for a study that does not exist.
    for study in ("onfh", "no-such-study"):
        response = client.post(reverse(f"{NS}:report-list"), {**ask, "study": study},
                               content_type="application/json", **auth)
        assert response.status_code == 404, study
    assert StudyReport.objects.filter(study__slug="onfh").count() == 1
    # Roles are per study: otto reading in onfh too still sees nothing of its reports.
    Membership.objects.create(study=built.study, user=cast["otto"], role="reader")
    rows = client.get(reverse(f"{NS}:report-list"), **auth).json()["results"]
    assert [r["id"] for r in rows] == [other_report.pk]
    for url in _report_urls(built)[1:]:
        assert client.get(url, **auth).status_code == 404, url
    response = client.post(reverse(f"{NS}:report-list"), ask, content_type="application/json",
                           **auth)
    assert response.status_code == 404
    # Anonymous: 401, asking for a token.
    client.logout()
    for url in _report_urls(built):
        response = client.get(url)
        assert response.status_code == 401 and response["WWW-Authenticate"] == "Token"
    assert client.post(reverse(f"{NS}:report-list"), ask).status_code == 401


def test_a_post_queues_the_report_and_the_same_inputs_return_it(
    client, cast, built_study, eager_celery, django_capture_on_commit_callbacks  # noqa: F811
):
    auth = _token(cast["alice"])
    url = reverse(f"{NS}:report-list")
    ask = {"study": "onfh", "seed": 4, "n_bootstrap": N_BOOT}
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = client.post(url, ask, content_type="application/json", **auth)
        assert response.status_code == 202, response.content
        queued = response.json()
        assert (queued["status"], queued["pdf"], queued["exports"]) == ("queued", None, [])
        assert response["Location"] == f"http://testserver{url}{queued['id']}/"
    assert len(callbacks) == 1  # the build task, queued after commit and run inline here
    report = StudyReport.objects.get(pk=queued["id"])
    assert report.status == StudyReport.Status.DONE, report.error
    assert report.created_by == cast["alice"] and report.seed == 4
    assert report.n_bootstrap == N_BOOT and report.model_version is None

    detail = client.get(response["Location"], **auth).json()
    assert detail["status"] == "done" and detail["exports"] and detail["pdf"]
    # The same inputs: the same report, done, at once (200), and no new task.
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        again = client.post(url, ask, content_type="application/json", **auth)
    assert again.status_code == 200 and again.json() == detail and callbacks == []
    assert StudyReport.objects.count() == 1
    # What the web page builds (study_report_build) with those inputs is that report too.
    assert build.study_report_build(study=built_study.study, n_bootstrap=N_BOOT,
                                      seed=4).pk == report.pk

    # Other settings make another report: one model version, another seed.
    sha = built_study.model_version.sha256
    with django_capture_on_commit_callbacks(execute=False):
        other = client.post(url, {"study": "onfh", "seed": 5, "model_version": sha},
                            content_type="application/json", **auth)
    assert other.status_code == 202 and other.json()["id"] != report.pk
    assert (other.json()["model_version"], other.json()["seed"]) == (sha, 5)
    assert other.json()["n_bootstrap"] == 2000  # the default
    filtered = client.get(url + f"?model_version={sha[:8]}", **auth).json()["results"]
    assert [r["id"] for r in filtered] == [other.json()["id"]]
    done = client.get(url + "?status=done&study=onfh", **auth).json()["results"]
    assert [r["id"] for r in done] == [report.pk]


def test_bad_input_is_a_400_naming_each_field(client, cast, built_study):
    auth = _token(cast["alice"])
    url = reverse(f"{NS}:report-list")
    response = client.post(url, {"seed": -1, "n_bootstrap": 10_001, "model_version": "abc"},
                           content_type="application/json", **auth)
    assert response.status_code == 400
    assert set(response.json()) == {"study", "seed", "n_bootstrap", "model_version"}
    response = client.post(url, {"study": "onfh", "seed": "x", "n_bootstrap": 1.5},
                           content_type="application/json", **auth)
    assert response.status_code == 400 and set(response.json()) == {"seed", "n_bootstrap"}
    # A well-formed SHA-256 of no model version with predictions here.
    response = client.post(url, {"study": "onfh", "model_version": "0" * 64},
                           content_type="application/json", **auth)
    assert response.status_code == 400
    assert response.json() == {"model_version": [
        "no model version with this SHA-256 has predictions on onfh"]}
    assert not StudyReport.objects.exists()
    # A study with nothing to compare yet: said so, nothing queued.
    response = client.post(url, {"study": "other"}, content_type="application/json",
                           **_token(cast["otto"]))
    assert response.status_code == 400
    assert "nothing to export" in response.json()["non_field_errors"][0]
    assert not StudyReport.objects.exists()
    # The limits themselves are allowed.
    response = client.post(url, {"study": "onfh", "seed": 0, "n_bootstrap": 10_000},
                           content_type="application/json", **auth)
    assert response.status_code == 202


def test_a_session_post_needs_the_csrf_token_and_a_token_post_does_not(cast, built_study):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(cast["alice"])
    url = reverse(f"{NS}:report-list")
    ask = {"study": "onfh", "seed": 1}
    refused = browser.post(url, ask, content_type="application/json")
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
    assert not StudyReport.objects.exists()
    browser.get(reverse("reports:study", args=["onfh"]))  # the page sets the CSRF cookie
    csrf = browser.cookies["csrftoken"].value
    accepted = browser.post(url, ask, content_type="application/json", HTTP_X_CSRFTOKEN=csrf)
    assert accepted.status_code == 202

    script = Client(enforce_csrf_checks=True)  # a script with a token: no cookie, no CSRF
    response = script.post(url, {"study": "onfh", "seed": 2}, content_type="application/json",
                           **_token(cast["alice"]))
    assert response.status_code == 202
    assert StudyReport.objects.count() == 2
