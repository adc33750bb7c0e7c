"""The REST API's OpenAPI schema, checked with real validators: the document served at
``/api/v1/schema/`` (YAML and JSON) and ``/api/v1/docs/`` against the OpenAPI 3.0
specification, then real responses — every list and every object in it, as a researcher and as
a reader — against the response schema the document gives for that path, following the links
a response holds (a report's numbers, PDF and export files). The data holds the awkward values
on purpose: nulls, an unassigned partition, JSON fields, staff-only fields a reader does not
get, a report done and one queued. A field the serializer returns that the schema leaves out,
types wrongly or does not mark nullable fails here. A file download is checked for a media type
the schema lists as binary, and its body is not validated (it is not JSON).
"""

from __future__ import annotations

import copy
import datetime
import re
import uuid
from urllib.parse import urlsplit

import pytest
import yaml
from django.urls import reverse
from django.utils import timezone
from openapi_schema_validator import (
    OAS30ReadValidator,
    OAS30WriteValidator,
    oas30_format_checker,
)
from openapi_spec_validator import OpenAPIV30SpecValidator, validate

from api.urls import router
from inference.models import InferenceJob, ModelVersion, Prediction
from readers.models import Read, ReadingSession, SessionCase
from readers.services.reading import read_submit, session_create
from reports.models import StudyReport
from reports.services import build
from studies.models import Membership, Study
from tests.studies.factories import make_case

pytestmark = pytest.mark.django_db

NS = "api-v1"
# The formats each schema URL offers (api/urls.py): YAML and JSON; the docs page's JSON.
SERVED = [("schema", "openapi"), ("schema", "openapi-json"), ("docs", "openapi-json")]

# OAS 3.0 formats plus the two the API's responses use, which jsonschema checks only with
# optional packages installed: a check that never runs would pass anything.
FORMATS = copy.deepcopy(oas30_format_checker)


@FORMATS.checks("date-time", raises=ValueError)
def _is_date_time(value) -> bool:
    if not isinstance(value, str):
        return True
    parsed = datetime.datetime.fromisoformat(value)
    return "T" in value and parsed.tzinfo is not None


@FORMATS.checks("uri")
def _is_uri(value) -> bool:
    if not isinstance(value, str):
        return True
    parts = urlsplit(value)
    return bool(parts.scheme and parts.netloc)


class World:
    """``onfh`` with rachel (researcher) and alice (reader): two of alice's sessions (the
    second AI-aided, repeating the first), reads, a labelled and an unlabelled case (one with
    no partition yet), a model trained here and one trained on ``other`` but run here, a
    finished and a queued inference job, and predictions with and without job and heat map."""

    def __init__(self, *, study, site, external_site, django_user_model):
        self.users = {}
        for name, role in (("rachel", "researcher"), ("alice", "reader")):
            self.users[name] = django_user_model.objects.create_user(name, password=f"pw-{name}")
            Membership.objects.create(study=study, user=self.users[name], role=role)
        other = Study.objects.create(slug="other", title="Another study")
        labelled = make_case(study=study, site=site, patient="P-1", label="A")
        labelled.partition, labelled.modality = "test", "DX"
        labelled.pixel_spacing_row = labelled.pixel_spacing_col = 0.5
        labelled.save()
        unlabelled = make_case(study=study, site=external_site, patient="P-2")  # partition ""

        mv = ModelVersion.objects.create(
            sha256="a" * 64, name="cnn-a", architecture="resnet18", input_size=224,
            labels=["A", "B", "C1", "C2"], card={"metrics": {"test": {"accuracy": 0.8}}},
            weights_file="models/a.pt", format="state_dict", training_study=study,
        )
        elsewhere = ModelVersion.objects.create(  # run here: no card, no origin shown
            sha256="c" * 64, name="cnn-c", architecture="resnet18", input_size=224,
            labels=["A", "B", "C1", "C2"], card={"metrics": {}}, weights_file="models/c.pt",
            format="torchscript", training_study=other,
        )
        now = timezone.now()
        first = ReadingSession.objects.create(
            study=study, reader=self.users["alice"], token="alice-first", name="Round 1",
            condition="unaided", seed=-7, opens_at=now,
        )
        second = ReadingSession.objects.create(
            study=study, reader=self.users["alice"], token="alice-second", name="Round 2",
            condition="ai_aided", seed=2**40, opens_at=now, model_version=mv, repeat_of=first,
        )
        for session, images in ((first, [labelled, unlabelled]), (second, [labelled])):
            for position, image in enumerate(images):
                item = SessionCase.objects.create(
                    session=session, image=image, position=position,
                    token=f"{session.token}-{position}",
                )
                cannot = session is first and position == 1  # indeterminate: no class
                Read.objects.create(  # the stages read_submit allows in each condition
                    item=item, stage="aided" if session.condition == "ai_aided" else "unaided",
                    label="" if cannot else "B", confidence=None if cannot else 40,
                    indeterminate=cannot, time_ms=1200,
                    comment="hard one" if position else "", request_id=uuid.uuid4(),
                )
        job = InferenceJob.objects.create(
            study=study, model_version=mv, case_ids=[labelled.pk], partitions=["test"],
            status="done", n_total=1, n_done=1, timings={"predict": 0.25, "write": 0.01},
            started_at=now, finished_at=now,
        )
        InferenceJob.objects.create(
            study=study, model_version=elsewhere, case_ids=[], status="queued"
        )
        Prediction.objects.create(
            model_version=mv, image=labelled, job=job, probabilities=[0.7, 0.1, 0.1, 0.1],
            predicted_label="A", heatmap_file="heatmaps/a.npy",
        )
        Prediction.objects.create(
            model_version=mv, image=unlabelled, job=None, probabilities=[0.1, 0.2, 0.3, 0.4],
            predicted_label="C2",
        )


@pytest.fixture
def world(study, site, external_site, django_user_model, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    return World(
        study=study, site=site, external_site=external_site, django_user_model=django_user_model
    )


@pytest.fixture
def study_reports(world, site, external_site, django_user_model) -> list[StudyReport]:
    """Two reports of a third study, ``reported``, where rachel is researcher too: one done
    (model version ``a`` only; its PDF and exports on disk), one queued (every model version,
    another seed; nothing built, so no links). Its reader bea has read twelve labelled cases,
    on which model ``a`` has predictions. (Not ``onfh``: a report of it fails, since alice read
    its unlabelled case; see reports.services.exports.study_export_long_table.)"""
    labels = ["A", "B", "C1", "C2"]
    reported = Study.objects.create(slug="reported", title="A study with a report")
    bea = django_user_model.objects.create_user("bea", password="pw-bea")
    Membership.objects.create(study=reported, user=world.users["rachel"], role="researcher")
    Membership.objects.create(study=reported, user=bea, role="reader")
    mv = ModelVersion.objects.get(sha256="a" * 64)
    for n in range(12):
        case = make_case(study=reported, site=site if n < 8 else external_site,
                         patient=f"R-{n}", label=labels[n % 4])
        case.partition = "test" if n < 8 else "external"
        case.save(update_fields=["partition"])
        Prediction.objects.create(
            model_version=mv, image=case, probabilities=[0.4, 0.3, 0.2, 0.1],
            predicted_label=labels[(n // 3) % 4],
        )
    session = session_create(study=reported, reader=bea, name="Round 1", condition="unaided")
    for item in session.items.select_related("image__reference"):
        read_submit(item=item, stage="unaided", label=item.image.reference.label,
                    confidence=70, time_ms=900, request_id=uuid.uuid4())
    done = build.study_report_build(study=reported, model_version=mv, n_bootstrap=30, seed=4)
    assert done.status == StudyReport.Status.DONE, done.error
    # Bea's second round, not started: no median time, no last activity (null in the API).
    session_create(study=reported, reader=bea, name="Round 2", condition="unaided", round=2)
    queued = build.study_report_request(study=reported, seed=5)  # no commit: no task runs
    assert queued.status == StudyReport.Status.QUEUED and queued.model_version is None
    return [done, queued]


def _served(client, name: str, fmt: str) -> dict:
    response = client.get(reverse(f"{NS}:{name}"), {"format": fmt})
    assert response.status_code == 200, (name, fmt, response.status_code)
    if fmt == "openapi":
        assert response["Content-Type"].startswith("application/vnd.oai.openapi")
        return yaml.safe_load(response.content)
    assert response["Content-Type"].startswith("application/vnd.oai.openapi+json")
    return response.json()


def _schema(client, world) -> dict:
    client.force_login(world.users["alice"])  # the schema is public to anyone logged in
    return _served(client, "schema", "openapi-json")


def _operation(schema: dict, url: str, media_type: str = "application/json") -> tuple[str, dict]:
    """The documented GET of ``url``: its path template in the schema, and the schema of the
    200 body in ``media_type``. A URL or media type the schema does not describe fails here."""
    path = urlsplit(url).path
    matches = [
        template for template in schema["paths"]
        if re.fullmatch(re.sub(r"\{[^/}]+\}", "[^/]+", template), path)
    ]
    assert len(matches) == 1, f"{path} matches {matches} in the schema"
    content = schema["paths"][matches[0]]["get"]["responses"]["200"]["content"]
    assert media_type in content, f"{path} answers {media_type}; documented: {sorted(content)}"
    return matches[0], content[media_type]["schema"]


BINARY = {"type": "string", "format": "binary"}


def _api_links(value) -> list[str]:
    """The URLs of the REST API that a response body holds (a report's result, PDF and
    exports), anywhere in it."""
    if isinstance(value, dict):
        return [url for v in value.values() for url in _api_links(v)]
    if isinstance(value, list):
        return [url for v in value for url in _api_links(v)]
    if isinstance(value, str) and urlsplit(value).path.startswith("/api/v1/"):
        return [value] if urlsplit(value).scheme else []
    return []


def _refs(node) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"]} if isinstance(node.get("$ref"), str) else set()
        return found.union(*(_refs(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(_refs(v) for v in node))
    return set()


def _closed(schema: dict) -> dict:
    """The schema with every component closed to undocumented properties, and its components
    at the root so that ``#/components/...`` references resolve."""
    components = copy.deepcopy(schema["components"])
    for component in components["schemas"].values():
        component.setdefault("additionalProperties", False)
    return components


def _errors(body, body_schema: dict, components: dict) -> list[str]:
    validator = OAS30ReadValidator(
        {**body_schema, "components": components}, format_checker=FORMATS
    )
    return [
        f"{'/'.join(map(str, e.absolute_path)) or '(body)'}: {_shorten(e.message)}"
        for e in validator.iter_errors(body)
    ]


def _shorten(message: str, width: int = 160) -> str:
    return message if len(message) <= width else f"{message[:width - 25]}...{message[-22:]}"


def _component(body_schema: dict) -> str:
    ref = body_schema.get("$ref") or body_schema["properties"]["results"]["items"]["$ref"]
    return ref.rsplit("/", 1)[1]


def _follow(client, schema: dict, components: dict, url: str):
    """GET a link found in a response and check it against the schema: JSON validated, a
    file's media type documented as binary (its body is a file, not validated). Returns
    (url, template, None, body or None for a file, errors)."""
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    media_type = response["Content-Type"].split(";")[0].strip()
    template, body_schema = _operation(schema, url, media_type)
    if body_schema == BINARY:
        assert response["Content-Disposition"].startswith("attachment;"), url
        assert b"".join(response.streaming_content), f"{url}: an empty file"
        return url, template, None, None, []
    body = response.json()
    return url, template, None, body, _errors(body, body_schema, components)


def _walk_the_api(client, world, role: str):
    """Every list the role may call (``?page_size`` large enough for one page), every object
    in it and every API link in that (:func:`_follow`), each checked against its documented
    schema. Yields (url, template, component or None, body, errors) for each response."""
    schema = _schema(client, world)
    components = _closed(schema)
    client.force_login(world.users[role])
    for _prefix, viewset, basename in router.registry:
        if viewset.staff_only and role != "rachel":
            continue  # a 404 for a reader: nothing to validate (test_rest_api checks that)
        url = reverse(f"{NS}:{basename}-list") + "?page_size=500"
        response = client.get(url)
        assert response.status_code == 200, (role, url, response.status_code)
        template, body_schema = _operation(schema, url)
        body = response.json()
        assert body["results"], f"{role} sees no {basename}: nothing would be validated"
        yield url, template, _component(body_schema), body, _errors(
            body, body_schema, components)
        key = "id" if viewset.lookup_field == "pk" else viewset.lookup_field
        for row in body["results"]:
            if key not in row:
                continue  # a reader's reads carry no id: nothing to follow (issue 15 S15)
            url = reverse(f"{NS}:{basename}-detail", kwargs={viewset.lookup_field: row[key]})
            response = client.get(url)
            assert response.status_code == 200, (role, url, response.status_code)
            template, body_schema = _operation(schema, url)
            detail = response.json()
            assert detail == row, "a detail shows what the list shows"
            yield url, template, _component(body_schema), detail, _errors(
                detail, body_schema, components)
            for link in _api_links(detail):
                yield _follow(client, schema, components, link)


@pytest.mark.parametrize("name, fmt", SERVED)
def test_the_served_schema_is_valid_openapi_3_0(client, world, name, fmt):
    client.force_login(world.users["alice"])
    document = _served(client, name, fmt)
    assert document["openapi"].startswith("3.0.")
    validate(document, cls=OpenAPIV30SpecValidator)  # raises with the first error found
    errors = [e.message for e in OpenAPIV30SpecValidator(document).iter_errors()]
    assert errors == []


def test_yaml_and_json_serve_the_same_schema(client, world):
    client.force_login(world.users["alice"])
    assert _served(client, "schema", "openapi") == _served(client, "schema", "openapi-json")


def test_every_field_of_every_component_has_a_type(client, world):
    """A property without ``type`` accepts any value, so the response checks below would pass
    it whatever it holds: every field must say what it is (JSON fields included)."""
    schema = _schema(client, world)
    untyped = [
        f"{name}.{prop}"
        for name, component in schema["components"]["schemas"].items()
        for prop, prop_schema in component["properties"].items()
        if "type" not in prop_schema
    ]
    assert untyped == []


def test_lists_are_described_as_paginated_envelopes(client, world):
    schema = _schema(client, world)
    lists = [
        (template, op["get"]) for template, op in schema["paths"].items()
        if "{" not in template and not template.startswith("/api/v1/auth/")
    ]
    assert len(lists) == len(router.registry)
    for template, op in lists:
        body = op["responses"]["200"]["content"]["application/json"]["schema"]
        assert body["type"] == "object", template
        assert set(body["properties"]) == {"count", "next", "previous", "results"}, template
        assert {"count", "results"} <= set(body["required"]), template
        assert body["properties"]["count"]["type"] == "integer"
        for link in ("next", "previous"):
            link_schema = body["properties"][link]
            assert (link_schema["type"], link_schema["format"]) == ("string", "uri"), template
            assert link_schema["nullable"] is True, template
        results = body["properties"]["results"]
        assert results["type"] == "array" and results["items"]["$ref"].startswith(
            "#/components/schemas/"), template
        assert {"page", "page_size"} <= {p["name"] for p in op["parameters"]}, template


def test_a_researchers_responses_conform_to_the_schema(client, world, study_reports):
    schema = _schema(client, world)
    seen: dict[tuple[str, str], set[str]] = {}  # (component, field) -> "null" / "value"
    errors, templates, files = [], set(), []
    for url, template, component, body, found in _walk_the_api(client, world, "rachel"):
        templates.add(template)
        errors += [f"GET {url} -> {e}" for e in found]
        if body is None:
            files.append(template)
        if component is None:
            continue  # a file or a report's result: no component to account for
        for row in body.get("results", [body]):
            for field, value in row.items():
                seen.setdefault((component, field), set()).add(
                    "null" if value is None else "value")
    assert not errors, "\n".join(errors)
    documented = {t for t in schema["paths"] if t not in TOKEN_PATHS}  # checked below
    assert templates == documented, "every documented path was called and checked"
    assert sorted(set(files)) == [
        "/api/v1/reports/{id}/exports/{name}/", "/api/v1/reports/{id}/pdf/"]
    # The data exercised every field of every component a response holds: each with a value
    # (so its type was checked), and each field documented as nullable also as null.
    in_responses = {
        ref.rsplit("/", 1)[1]
        for template, item in schema["paths"].items() if template not in TOKEN_PATHS
        for op in item.values()
        for ref in _refs(op["responses"])
    }
    for name, component in schema["components"]["schemas"].items():
        if name not in in_responses:
            continue  # a request body (test_a_report_request_and_its_answer_conform)
        for field, field_schema in component["properties"].items():
            kinds = seen.get((name, field), set())
            assert "value" in kinds, f"{name}.{field} was never seen with a value"
            if field_schema.get("nullable"):
                assert "null" in kinds, f"{name}.{field} is nullable but was never null"


def test_a_readers_responses_conform_to_the_schema_without_staff_fields(client, world):
    errors, components = [], set()
    for url, _template, component, body, found in _walk_the_api(client, world, "alice"):
        components.add(component)
        errors += [f"GET {url} -> {e}" for e in found]
        if component in ("Session", "Read"):
            for row in body.get("results", [body]):
                assert "reader" not in row, url  # the staff-only fields really were absent
    assert not errors, "\n".join(errors)
    assert components == {"Study", "Session", "Read"}


def test_a_report_request_and_its_answer_conform_to_the_schema(client, world):
    """The one write of the API: POST /api/v1/reports/ with a body its documented request
    schema accepts (and one it refuses, so the check can fail), answered 202 with a report
    that conforms to the documented 202 body."""
    schema = _schema(client, world)
    operation = schema["paths"]["/api/v1/reports/"]["post"]
    components = _closed(schema)
    request_schema = operation["requestBody"]["content"]["application/json"]["schema"]

    def request_errors(body) -> list[str]:
        validator = OAS30WriteValidator(
            {**request_schema, "components": components}, format_checker=FORMATS)
        return [e.message for e in validator.iter_errors(body)]

    body = {"study": "onfh", "seed": 3, "n_bootstrap": 50}
    assert request_errors(body) == []
    assert request_errors({"study": "onfh", "model_version": None}) == []
    assert len(request_errors({"seed": -1, "n_bootstrap": 10_001, "model_version": "abc"})) == 4
    client.force_login(world.users["rachel"])
    response = client.post(reverse(f"{NS}:report-list"), body, content_type="application/json")
    assert response.status_code == 202, response.content
    answer = operation["responses"]["202"]["content"]["application/json"]["schema"]
    assert _errors(response.json(), answer, components) == []
    assert response.json()["status"] == "queued" and response.json()["pdf"] is None


TOKEN_PATHS = {"/api/v1/auth/tokens/", "/api/v1/auth/tokens/{prefix}/"}


def test_the_token_endpoints_answer_what_the_schema_says(client, world):
    """A user's own API tokens: the token made (201, the only answer that holds it), the list
    (without it) and the revocations (204), each against its documented answer."""
    schema = _schema(client, world)
    assert set(schema["paths"]) >= TOKEN_PATHS
    components = _closed(schema)
    tokens = schema["paths"]["/api/v1/auth/tokens/"]
    client.force_login(world.users["rachel"])
    url = reverse(f"{NS}:token-list")
    made = client.post(url, {"days": 3}, content_type="application/json")
    assert made.status_code == 201, made.content
    answer = tokens["post"]["responses"]["201"]["content"]["application/json"]["schema"]
    assert _errors(made.json(), answer, components) == []
    assert _errors({**made.json(), "token": 5}, answer, components)  # the check can fail
    listed = client.get(url)
    answer = tokens["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert _errors(listed.json(), answer, components) == [] and len(listed.json()) == 1
    assert "token" not in listed.json()[0]
    revoke = reverse(f"{NS}:token-detail", args=[made.json()["prefix"]])
    assert "204" in schema["paths"]["/api/v1/auth/tokens/{prefix}/"]["delete"]["responses"]
    assert client.delete(revoke).status_code == 204
    assert "204" in tokens["delete"]["responses"] and client.delete(url).status_code == 204


def test_a_wrongly_typed_or_undocumented_field_fails_the_check(client, world):
    """The check above can fail: a real prediction against the schema as DRF would write it
    unaided (``has_heatmap`` a string, ``probabilities`` an object) and with a field missing
    from the schema."""
    schema = _schema(client, world)
    client.force_login(world.users["rachel"])
    url = reverse(f"{NS}:prediction-detail", kwargs={"pk": Prediction.objects.first().pk})
    body = client.get(url).json()
    _template, body_schema = _operation(schema, url)
    components = _closed(schema)
    assert _errors(body, body_schema, components) == []

    mistyped = copy.deepcopy(components)
    fields = mistyped["schemas"]["Prediction"]["properties"]
    fields["has_heatmap"] = {"type": "string", "readOnly": True}
    fields["probabilities"] = {"type": "object"}
    found = _errors(body, body_schema, mistyped)
    assert any(e.startswith("has_heatmap:") for e in found), found
    assert any(e.startswith("probabilities:") for e in found), found

    undocumented = copy.deepcopy(components)
    del undocumented["schemas"]["Prediction"]["properties"]["predicted_label"]
    assert any("predicted_label" in e for e in _errors(body, body_schema, undocumented))

    not_nullable = copy.deepcopy(components)
    del not_nullable["schemas"]["Prediction"]["properties"]["job"]["nullable"]
    no_job = Prediction.objects.get(job=None).pk
    body = client.get(reverse(f"{NS}:prediction-detail", kwargs={"pk": no_job})).json()
    assert any(e.startswith("job:") for e in _errors(body, body_schema, not_nullable))
