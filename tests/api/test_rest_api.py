"""The REST API permission matrix: a fixed cast — alice and bob (readers of ``onfh``), rachel
(researcher of ``onfh``), otto (admin of another study, ``other``) and anonymous — against
every ``/api/v1/`` URL, enumerated from the URLconf (list and detail) so that none escapes.
Each answer is checked for its status and, for lists, for exactly the objects the user may
see: alice never sees bob's reads, readers never see cases, predictions, truth or reports, and
otto sees nothing of ``onfh`` (nor rachel of ``other``). A report's numbers, PDF and export files
go by the same rules. Then token auth, filters and the OpenAPI schema. (What the report
endpoints do: tests/api/test_rest_reports.py.)
"""

from __future__ import annotations

import re
import uuid

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from knox.models import AuthToken

from inference.models import InferenceJob, ModelVersion, Prediction
from readers.models import Read, ReadingSession, SessionCase
from reports.models import StudyReport
from reports.services import build
from studies.models import Membership, Site, Study
from tests.readers import reading_study
from tests.studies.factories import make_case

pytestmark = pytest.mark.django_db

CAST = ["alice", "bob", "rachel", "otto", "anonymous"]
NS = "api-v1"


def _api_names(patterns, namespace="") -> set[str]:
    """Every URL name under the API's namespace (the router's format-suffix twins share them)."""
    names = set()
    for p in patterns:
        if isinstance(p, URLResolver):
            ns = p.namespace or namespace
            names |= _api_names(p.url_patterns, ns)
        elif isinstance(p, URLPattern) and namespace == NS:
            names.add(p.name or f"<unnamed {p.pattern}>")
    return names


def _model_version(sha: str, **extra) -> ModelVersion:
    return ModelVersion.objects.create(
        sha256=sha * 64, name=f"cnn-{sha}", architecture="resnet18", input_size=224,
        labels=["A", "B", "C1", "C2"], card={"metrics": {"test": {"accuracy": 0.8}}},
        weights_file=f"models/{sha}.pt", format="state_dict", **extra,
    )


def _read(item: SessionCase, label="A") -> Read:
    return Read.objects.create(
        item=item, stage="unaided", label=label, confidence=50, time_ms=1000,
        request_id=uuid.uuid4(),
    )


class World:
    """``onfh`` (the reading study) and ``other`` (otto's), with sessions, reads, a model
    version trained on each, an inference job, predictions and a report (queued) in each."""

    def __init__(self, rs, django_user_model):
        self.rs = rs
        self.users = {**rs.users}
        onfh = rs.study
        self.alice_s, self.bob_s = rs.session("alice"), rs.session("bob")
        self.alice_read = _read(self.alice_s.items.order_by("position").first())
        self.bob_read = _read(self.bob_s.items.order_by("position").first(), label="C2")

        other = Study.objects.create(slug="other", title="Another study")
        other_site = Site.objects.create(code="SITE9", name="Elsewhere")
        otto = django_user_model.objects.create_user("otto", password="pw-otto-admin-5")
        olga = django_user_model.objects.create_user("olga", password="pw-olga-reads-6")
        Membership.objects.create(study=other, user=otto, role="admin")
        Membership.objects.create(study=other, user=olga, role="reader")
        self.users["otto"] = otto
        other_case = make_case(study=other, site=other_site, patient="P-other", label="B")
        other_case.partition = "test"  # a reading case, as sessions draw them
        other_case.save(update_fields=["partition"])
        self.other_s = ReadingSession.objects.create(
            study=other, reader=olga, token="other-session-token", name="Other round",
            condition="unaided", seed=3, opens_at=self.alice_s.opens_at,
        )
        other_item = SessionCase.objects.create(
            session=self.other_s, image=other_case, position=0, token="other-case-token"
        )
        self.other_read = _read(other_item)

        self.mv = _model_version("a", training_study=onfh)
        self.other_mv = _model_version("c", training_study=other)
        self.job = InferenceJob.objects.create(
            study=onfh, model_version=self.mv, case_ids=[], status="done"
        )
        self.other_job = InferenceJob.objects.create(
            study=other, model_version=self.other_mv, case_ids=[], status="done"
        )
        onfh_case = self.alice_s.items.order_by("position").first().image
        self.prediction = Prediction.objects.create(
            model_version=self.mv, image=onfh_case, job=self.job,
            probabilities=[0.7, 0.1, 0.1, 0.1], predicted_label="A",
        )
        self.other_prediction = Prediction.objects.create(
            model_version=self.other_mv, image=other_case, job=self.other_job,
            probabilities=[0.1, 0.7, 0.1, 0.1], predicted_label="B",
        )
        self.onfh, self.other, self.onfh_case, self.other_case = onfh, other, onfh_case, other_case
        # Queued: the tests run in a transaction that never commits, so no task starts.
        self.report = build.study_report_request(study=onfh, user=self.users["rachel"])
        self.other_report = build.study_report_request(study=other, user=otto)

    def expected_keys(self) -> dict[str, dict[str, set]]:
        """For each list endpoint: the identifiers each role must see, written out by hand."""
        onfh_cases = {i.pk for i in self.onfh.images.all()}
        return {
            "study": {"alice": {"onfh"}, "bob": {"onfh"}, "rachel": {"onfh"},
                      "otto": {"other"}},
            "site": {"rachel": {"SITE1", "SITE4"}, "otto": {"SITE9"}},
            "case": {"rachel": onfh_cases, "otto": {self.other_case.pk}},
            "session": {
                "alice": {self.alice_s.token}, "bob": {self.bob_s.token},
                "rachel": {self.alice_s.token, self.bob_s.token}, "otto": {self.other_s.token},
            },
            # Readers see no read ids (issue 15 S15): their reads are known by session, case
            # token, stage and version.
            "read": {
                "alice": {_read_key(self.alice_read)}, "bob": {_read_key(self.bob_read)},
                "rachel": {self.alice_read.pk, self.bob_read.pk}, "otto": {self.other_read.pk},
            },
            "model-version": {"rachel": {self.mv.pk}, "otto": {self.other_mv.pk}},
            "inference-job": {"rachel": {self.job.pk}, "otto": {self.other_job.pk}},
            "prediction": {"rachel": {self.prediction.pk}, "otto": {self.other_prediction.pk}},
            "report": {"rachel": {self.report.pk}, "otto": {self.other_report.pk}},
        }

    def detail_kwargs(self) -> dict[str, dict]:
        """One object of ``onfh`` (alice's where it is a reader's) per detail endpoint."""
        return {
            "study": {"slug": "onfh"},
            "site": {"code": "SITE1"},
            "case": {"pk": self.onfh_case.pk},
            "session": {"token": self.alice_s.token},
            "read": {"pk": self.alice_read.pk},
            "model-version": {"pk": self.mv.pk},
            "inference-job": {"pk": self.job.pk},
            "prediction": {"pk": self.prediction.pk},
            "report": {"pk": self.report.pk},
        }


KEY = {
    "study": "slug", "site": "code", "case": "id", "session": "token", "read": "id",
    "model-version": "id", "inference-job": "id", "prediction": "id", "report": "id",
}
# Who may open the onfh object of each detail endpoint (everyone else: 404; anonymous: 401).
def _read_key(read) -> tuple:
    """A read as a reader knows it, from a Read or from a row of the API."""
    if isinstance(read, dict):
        return (read["session"], read["case_token"], read["stage"], read["version"])
    return (read.item.session.token, read.item.token, read.stage, read.version)


DETAIL_ALLOWED = {
    "study": {"alice", "bob", "rachel"},
    "site": {"rachel"},
    "case": {"rachel"},
    "session": {"alice", "rachel"},
    "read": {"rachel"},  # by id for staff only: a reader's reads are listed, without ids
    "model-version": {"rachel"},
    "inference-job": {"rachel"},
    "prediction": {"rachel"},
    "report": {"rachel"},
}
# A done report's numbers and files: as its detail (DETAIL_ALLOWED["report"]).
REPORT_FILES = {"report-result": {}, "report-pdf": {}, "report-export": {"name": "long_table.csv"}}
OTHER_ENDPOINTS = {"api-root", "schema", "docs"}  # any logged-in user: 200
# A user's own API tokens: each user sees only their own (tests/security/test_auth_tokens.py).
TOKEN_ENDPOINTS = {"token-list", "token-detail"}


@pytest.fixture
def world(tmp_path, study, site, external_site, django_user_model, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    rs = reading_study.build(
        tmp_path=tmp_path, study=study, site=site, external_site=external_site,
        django_user_model=django_user_model, n_internal=4, n_external=2,
    )
    return World(rs, django_user_model)


@pytest.fixture
def built_report(world) -> StudyReport:
    """A done report of ``onfh``: every case of alice's and bob's sessions read, and the
    model's predictions on every case (the world alone is too thin to compare)."""
    for session in (world.alice_s, world.bob_s):
        for item in session.items.filter(reads__isnull=True).select_related("image__reference"):
            _read(item, label=item.image.reference.label)
    for case in world.onfh.images.filter(predictions__isnull=True):
        Prediction.objects.create(model_version=world.mv, image=case,
                                  probabilities=[0.4, 0.3, 0.2, 0.1], predicted_label="A")
    report = build.study_report_build(study=world.onfh, n_bootstrap=30, seed=4)
    assert report.status == StudyReport.Status.DONE, report.error
    return report


def _as(client, world, role):
    client.logout()
    if role != "anonymous":
        client.force_login(world.users[role])
    return client


def _all_results(client, url) -> list[dict]:
    results = []
    while url:
        data = client.get(url).json()
        assert set(data) == {"count", "next", "previous", "results"}
        results += data["results"]
        url = data["next"]
    return results


def test_every_api_url_is_in_the_matrix():
    names = _api_names(get_resolver().url_patterns)
    expected = (
        {f"{b}-list" for b in KEY} | {f"{b}-detail" for b in KEY} | set(REPORT_FILES)
        | OTHER_ENDPOINTS | TOKEN_ENDPOINTS
    )
    assert names == expected, "an /api/v1/ URL is missing from the permission matrix"


@pytest.mark.parametrize("basename", sorted(KEY))
def test_lists_show_exactly_what_each_role_may_see(client, world, basename):
    expected = world.expected_keys()[basename]
    url = reverse(f"{NS}:{basename}-list")
    for role in CAST:
        response = _as(client, world, role).get(url)
        if role == "anonymous":
            assert response.status_code == 401, (role, url)
            assert response["WWW-Authenticate"] == "Token"
            continue
        if role not in expected:
            assert response.status_code == 404, (role, url, response.status_code)
            continue
        assert response.status_code == 200, (role, url, response.status_code)
        got = {row[KEY[basename]] if KEY[basename] in row else _read_key(row)
               for row in _all_results(client, url)}
        assert got == expected[role], (role, basename)


@pytest.mark.parametrize("basename", sorted(KEY))
def test_details_answer_404_outside_what_a_role_may_see(client, world, basename):
    kwargs = world.detail_kwargs()[basename]
    url = reverse(f"{NS}:{basename}-detail", kwargs=kwargs)
    for role in CAST:
        response = _as(client, world, role).get(url)
        status = 401 if role == "anonymous" else 200 if role in DETAIL_ALLOWED[basename] else 404
        assert response.status_code == status, (role, url, response.status_code)
        if status == 200:
            assert response.json()[KEY[basename]] == next(iter(kwargs.values()))
    # A made-up key is the same 404 as a real one out of reach.
    made_up = {k: ("no-such-thing" if k != "pk" else 10**9) for k in kwargs}
    for role in ("alice", "rachel", "otto"):
        url = reverse(f"{NS}:{basename}-detail", kwargs=made_up)
        assert _as(client, world, role).get(url).status_code == 404


def test_a_reports_numbers_and_files_answer_404_outside_what_a_role_may_see(
    client, world, built_report
):
    for name, extra in sorted(REPORT_FILES.items()):
        url = reverse(f"{NS}:{name}", kwargs={"pk": built_report.pk, **extra})
        for role in CAST:
            response = _as(client, world, role).get(url)
            status = (401 if role == "anonymous"
                      else 200 if role in DETAIL_ALLOWED["report"] else 404)
            assert response.status_code == status, (role, url, response.status_code)
        # Another study's report, and a made-up one, are the same 404 for its researcher.
        for pk in (world.other_report.pk, 10**9):
            url = reverse(f"{NS}:{name}", kwargs={"pk": pk, **extra})
            assert _as(client, world, "rachel").get(url).status_code == 404, url
    # Not done yet: no numbers or files to hand out.
    url = reverse(f"{NS}:report-result", kwargs={"pk": world.report.pk})
    assert world.report.status == "queued"
    assert _as(client, world, "rachel").get(url).status_code == 404


@pytest.mark.parametrize("name", sorted(OTHER_ENDPOINTS))
def test_root_schema_and_docs_need_a_login(client, world, name):
    url = reverse(f"{NS}:{name}")
    for role in CAST:
        response = _as(client, world, role).get(url, HTTP_ACCEPT="text/html")
        assert response.status_code == (401 if role == "anonymous" else 200), (role, url)
    _as(client, world, "alice")
    page = client.get(reverse(f"{NS}:docs"), HTTP_ACCEPT="text/html").content.decode()
    assert "listCases" in page and "/api/v1/predictions/" in page  # the schema, readable
    # No outside assets at run time: scripts and styles come from our own static files.
    outside = re.findall(r'<(?:script|link|img)[^>]+(?:src|href)="(?:https?:)?//[^"]*"', page)
    assert outside == []


def test_writes_are_refused(client, world):
    _as(client, world, "rachel")
    url = reverse(f"{NS}:session-detail", kwargs={"token": world.alice_s.token})
    assert client.delete(url).status_code == 405
    assert client.post(reverse(f"{NS}:study-list"), {"slug": "x"}).status_code == 405
    # Reports may be asked for (POST to the list; test_rest_reports.py), never changed.
    report = reverse(f"{NS}:report-detail", kwargs={"pk": world.report.pk})
    for method in (client.put, client.patch, client.delete, client.post):
        assert method(report, {"seed": 1}, content_type="application/json").status_code == 405
    assert StudyReport.objects.filter(pk=world.report.pk).exists()


def test_a_reader_sees_own_sessions_and_reads_by_tokens_only(client, world):
    _as(client, world, "alice")
    sessions = _all_results(client, reverse(f"{NS}:session-list"))
    reads = _all_results(client, reverse(f"{NS}:read-list"))
    assert [set(s) for s in sessions] == [
        {"token", "study", "name", "condition", "round", "opens_at", "n_items", "n_read",
         "n_done"}
    ]
    assert sessions[0]["n_read"] == sessions[0]["n_done"] == 1
    # No read id: global and sequential, its gaps would show others' activity (issue 15 S15).
    assert [set(r) for r in reads] == [{
        "study", "session", "case_token", "position", "stage", "version", "label",
        "confidence", "indeterminate", "comment", "time_ms", "submitted_at",
    }]
    assert reads[0]["session"] == world.alice_s.token
    # Nothing of bob, his answer, or case ids and truth anywhere alice can reach.
    for basename in ("study", "session", "read"):
        body = client.get(reverse(f"{NS}:{basename}-list")).content.decode()
        assert world.bob_s.token not in body and "bob" not in body
        assert '"truth":' not in body and '"reader":' not in body and '"case":' not in body
    assert [r["label"] for r in reads] == ["A"]  # bob answered C2 on the same case
    # Filters cannot widen the view: bob's reads by name, or by his session's token.
    assert _all_results(client, reverse(f"{NS}:read-list") + "?reader=bob") == []
    assert _all_results(
        client, reverse(f"{NS}:read-list") + f"?session={world.bob_s.token}"
    ) == []


def test_a_researcher_sees_readers_and_truth_of_the_own_study_only(client, world):
    _as(client, world, "rachel")
    reads = _all_results(client, reverse(f"{NS}:read-list") + "?reader=bob")
    assert [(r["reader"], r["label"]) for r in reads] == [("bob", "C2")]
    cases = _all_results(client, reverse(f"{NS}:case-list") + "?partition=test")
    assert cases and {c["partition"] for c in cases} == {"test"}
    assert {c["truth"] for c in cases} <= {"A", "B", "C1", "C2"}
    assert {c["site"] for c in cases} == {"SITE1"}
    # ?study= of a study rachel is not in shows nothing (not even on many-valued relations).
    for basename in KEY:
        url = reverse(f"{NS}:{basename}-list") + "?study=other"
        assert _all_results(client, url) == [], basename
    sessions = _all_results(client, reverse(f"{NS}:session-list") + "?study=onfh")
    assert {s["reader"] for s in sessions} == {"alice", "bob"}
    [mv] = _all_results(client, reverse(f"{NS}:model-version-list"))
    assert mv["training_study"] == "onfh" and mv["card"] is not None


def test_a_model_trained_elsewhere_but_run_here_shows_no_card_or_origin(client, world):
    InferenceJob.objects.create(
        study=world.onfh, model_version=world.other_mv, case_ids=[], status="queued"
    )
    _as(client, world, "rachel")
    rows = {
        r["id"]: r for r in _all_results(client, reverse(f"{NS}:model-version-list"))
    }
    assert set(rows) == {world.mv.pk, world.other_mv.pk}
    assert rows[world.other_mv.pk]["training_study"] is None
    assert rows[world.other_mv.pk]["card"] is None


def test_bad_filter_values_are_a_400_naming_the_parameter(client, world):
    _as(client, world, "rachel")
    response = client.get(reverse(f"{NS}:prediction-list") + "?model_version=abc")
    assert response.status_code == 400
    assert response.json() == {"model_version": "expected an integer id, received 'abc'"}
    response = client.get(reverse(f"{NS}:site-list") + "?external=yes")
    assert response.status_code == 400 and "external" in response.json()
    external = _all_results(client, reverse(f"{NS}:site-list") + "?external=true")
    assert [s["code"] for s in external] == ["SITE4"]


def test_token_auth(client, world):
    _row, token = AuthToken.objects.create(user=world.users["alice"])
    client.logout()
    url = reverse(f"{NS}:session-list")
    response = client.get(url, HTTP_AUTHORIZATION=f"Token {token}")
    assert response.status_code == 200
    assert [s["token"] for s in response.json()["results"]] == [world.alice_s.token]
    assert client.get(url, HTTP_AUTHORIZATION="Token not-a-key").status_code == 401
    bob_read = reverse(f"{NS}:read-detail", kwargs={"pk": world.bob_read.pk})
    assert client.get(bob_read, HTTP_AUTHORIZATION=f"Token {token}").status_code == 404


def test_pagination(client, world):
    _as(client, world, "rachel")
    url = reverse(f"{NS}:case-list") + "?page_size=4"
    first = client.get(url).json()
    assert first["count"] == world.onfh.images.count() == 6
    assert len(first["results"]) == 4 and first["next"] and first["previous"] is None
    paged = _all_results(client, url)
    assert [c["id"] for c in paged] == sorted(world.onfh.images.values_list("id", flat=True))


def _resolve(schema, ref: str):
    node = schema
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


def _refs(node):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "$ref":
                yield v
            else:
                yield from _refs(v)
    elif isinstance(node, list):
        for v in node:
            yield from _refs(v)


def test_the_openapi_schema_describes_every_endpoint_and_is_well_formed(client, world):
    _as(client, world, "otto")  # what it describes does not depend on who asks
    response = client.get(reverse(f"{NS}:schema"), {"format": "openapi-json"})
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.0.")
    assert schema["info"]["title"] == "ReaderBench API" and schema["info"]["version"] == "1"
    paths = schema["paths"]
    assert "/api/v1/studies/" in paths and "/api/v1/studies/{slug}/" in paths
    for prefix in ("sites", "cases", "sessions", "reads", "model-versions", "inference-jobs",
                   "predictions", "reports"):
        assert f"/api/v1/{prefix}/" in paths
        assert any(p.startswith(f"/api/v1/{prefix}/{{") for p in paths), prefix
    assert all(p.startswith("/api/v1/") for p in paths), "only the REST API is described"
    operation_ids = []
    for path, item in paths.items():
        # Read-only, except asking for a report and one's own API tokens.
        methods = {
            "/api/v1/reports/": {"get", "post"},
            "/api/v1/auth/tokens/": {"get", "post", "delete"},
            "/api/v1/auth/tokens/{prefix}/": {"delete"},
        }.get(path, {"get"})
        assert set(item) == methods, (path, set(item))
        for op in item.values():
            operation_ids.append(op["operationId"])
            assert op["responses"], path
            for param in op.get("parameters", []):
                assert param["in"] in {"path", "query"} and "schema" in param
                if param["in"] == "path":
                    assert param["required"] is True and f"{{{param['name']}}}" in path
    assert len(operation_ids) == len(set(operation_ids)), "operationIds must be unique"
    for ref in set(_refs(schema)):
        assert ref.startswith("#/components/") and _resolve(schema, ref), ref
    case_params = {p["name"] for p in paths["/api/v1/cases/"]["get"]["parameters"]}
    assert {"page", "study", "partition", "site", "truth"} <= case_params
    yaml_response = client.get(reverse(f"{NS}:schema"))
    assert yaml_response.status_code == 200 and b"openapi:" in yaml_response.content


def test_roles_are_per_study_an_admin_elsewhere_reading_here_sees_no_cases_here(client, world):
    """otto also reads in onfh: in onfh he is a reader, so its cases, model output, sites and
    other people's sessions stay out of his lists, while other's stay in."""
    Membership.objects.create(study=world.onfh, user=world.users["otto"], role="reader")
    expected = world.expected_keys()
    _as(client, world, "otto")
    for basename in ("site", "case", "model-version", "inference-job", "prediction",
                     "session", "read", "report"):
        got = {r[KEY[basename]] for r in _all_results(client, reverse(f"{NS}:{basename}-list"))}
        assert got == expected[basename]["otto"], basename
    studies = {s["slug"]: s["role"] for s in _all_results(client, reverse(f"{NS}:study-list"))}
    assert studies == {"onfh": "reader", "other": "admin"}
    for basename, kwargs in world.detail_kwargs().items():
        status = 200 if basename == "study" else 404
        url = reverse(f"{NS}:{basename}-detail", kwargs=kwargs)
        assert client.get(url).status_code == status, basename
