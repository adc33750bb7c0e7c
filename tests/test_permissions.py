"""The permission matrix: a fixed cast — alice (reader, owner of the session), bob (another
reader), rachel (researcher), charlie (no role in the study), anonymous — against every URL of
the project outside the Django admin and the login pages, enumerated from the URLconf so a new
URL cannot escape. Anything that is not the reader's own is a 404 (never a 403: existence does
not leak), whatever the token — real, guessed, or borrowed from another reader."""

from __future__ import annotations

import json
import secrets
import uuid

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from readers.models import Read

pytestmark = pytest.mark.django_db

# URLs that are not reading URLs, with the reason they are outside this matrix.
OUTSIDE = {
    "admin": "Django admin: staff only (tests/studies/test_admin.py, test_reading_admin.py)",
    "api-v1": "REST API: its own matrix in tests/api/test_rest_api.py",
    "api-tokens": "a user's own API tokens only: tests/security/test_auth_tokens.py",
    "login": "Django's login page", "logout": "Django's logout",
    "password_change": "Django auth", "password_change_done": "Django auth",
    "password_reset": "Django auth", "password_reset_done": "Django auth",
    "password_reset_confirm": "Django auth", "password_reset_complete": "Django auth",
}

CAST = ["alice", "bob", "rachel", "charlie", "anonymous"]


def _names(patterns, prefix="") -> set[str]:
    names = set()
    for p in patterns:
        if isinstance(p, URLResolver):
            if p.namespace in {"admin", "api-v1"}:
                names.add(p.namespace)
                continue
            ns = f"{prefix}{p.namespace}:" if p.namespace else prefix
            names |= _names(p.url_patterns, ns)
        elif isinstance(p, URLPattern):
            names.add(f"{prefix}{p.name}" if p.name else f"{prefix}<unnamed {p.pattern}>")
    return names


@pytest.fixture
def rs(small_reading_study):
    return small_reading_study


def _read_body():
    return json.dumps({
        "stage": "unaided", "label": "A", "confidence": 10, "time_ms": 100,
        "request_id": str(uuid.uuid4()),
    })


# name -> (method, kwargs needed, {role: expected status}).
# alice owns the session; everyone else gets a 404; anonymous is sent to log in (pages) or told
# to (API, 401) — the same answer for a real token as for a made-up one.
PAGE = {"alice": None, "bob": 404, "rachel": 404, "charlie": 404, "anonymous": 302}
API = {"alice": None, "bob": 404, "rachel": 404, "charlie": 404, "anonymous": 401}
READERS_OUT = {"alice": 404, "bob": 404, "rachel": None, "charlie": 404, "anonymous": 302}
UPLOADS_OUT = {"alice": 404, "bob": 404, "rachel": 404, "charlie": 404, "anonymous": 302}
SETUP_OUT = {"alice": 404, "bob": 404, "rachel": 404, "charlie": 404, "anonymous": 302}
MATRIX = {
    "home": ("get", (), dict.fromkeys(CAST, 200) | {"anonymous": 302}),
    "health": ("get", (), dict.fromkeys(CAST, 200)),
    "reading:worklist": ("get", (), dict.fromkeys(CAST, 200) | {"anonymous": 302}),
    "reading:session": ("get", ("session",), PAGE | {"alice": 302}),
    "reading:case": ("get", ("session", "case"), PAGE | {"alice": 200}),
    "reading:api-sessions": ("get", (), dict.fromkeys(CAST, 200) | {"anonymous": 401}),
    "reading:api-next": ("get", ("session",), API | {"alice": 200}),
    "reading:api-case": ("get", ("session", "case"), API | {"alice": 200}),
    "reading:api-pixels": ("get", ("session", "case"), API | {"alice": 200}),
    # an unaided session: the model's heat map does not exist for its reader either
    "reading:api-heatmap": ("get", ("session", "case"), API | {"alice": 404}),
    # the study does not show both hips: no other hip for its own reader either
    "reading:api-other-hip": ("get", ("session", "case"), API | {"alice": 404}),
    "reading:api-read": ("post", ("session", "case"), API | {"alice": 201}),
    # Reading progress of every reader: the study's admins and researchers only.
    "reading:progress": ("get", ("slug",), READERS_OUT | {"rachel": 200}),
    # The researcher's inference pages show model output: readers must never reach them. The
    # researcher's own access is tested with the inference app (None: not checked here).
    "inference:study": ("get", ("slug",), READERS_OUT | {"rachel": 200}),
    "inference:job": ("get", ("slug", "job"), READERS_OUT),
    "inference:job-create": ("post", ("slug",), READERS_OUT),
    "inference:job-retry": ("post", ("slug", "job"), READERS_OUT),
    # The study report shows truth, every reader's reads and the model: researchers only.
    "reports:study": ("get", ("slug",), READERS_OUT),
    "reports:build": ("post", ("slug",), READERS_OUT),
    "reports:detail": ("get", ("slug", "report"), READERS_OUT | {"rachel": 200}),
    "reports:pdf": ("get", ("slug", "report"), READERS_OUT),
    "reports:figure": ("get", ("slug", "report", "figure"), READERS_OUT),
    "reports:export": ("get", ("slug", "report", "export"), READERS_OUT),
    # A study's sites and uploads: its admins and site coordinators only, no one of this cast
    # (tests/studies/test_uploads.py has the admin's and the site coordinators' own matrix).
    **{f"uploads:{name}": (method, needs, UPLOADS_OUT) for name, method, needs in [
        ("sites", "get", ("slug",)), ("upload", "get", ("slug", "site")),
        ("detail", "get", ("slug", "upload")), ("status", "get", ("slug", "upload")),
        ("csv", "get", ("slug", "upload")), ("chunk", "post", ("slug", "upload")),
        ("finish", "post", ("slug", "upload"))]},
    # The coordinator's setup pages: the study's admins only, no one of this cast
    # (tests/studies/test_setup_pages.py has the admins' own tests); the list of one's own
    # coordinated studies and the new-study form are for anyone logged in.
    "setup:list": ("get", (), dict.fromkeys(CAST, 200) | {"anonymous": 302}),
    "setup:new": ("get", (), dict.fromkeys(CAST, 200) | {"anonymous": 302}),
    **{f"setup:{name}": (method, needs, SETUP_OUT) for name, method, needs in [
        ("study", "get", ("slug",)), ("labels", "post", ("slug",)),
        ("labels-apply", "post", ("slug",)), ("labels-dry-run", "get", ("slug", "labels")),
        ("split", "post", ("slug",)), ("readers", "post", ("slug",)),
        ("cases", "get", ("slug",)), ("thumbnail", "get", ("slug", "image")),
        ("case", "post", ("slug", "image")),
        ("slice-thumbnail", "get", ("slug", "image", "slice"))]},
    # The coordinator's sessions page (readers app): the study's admins only.
    "reading:study-sessions": ("post", ("slug",), SETUP_OUT),
}


def test_every_url_is_in_the_matrix_or_named_outside_it():
    names = _names(get_resolver().url_patterns)
    assert names - set(OUTSIDE) == set(MATRIX), "a URL is missing from the permission matrix"


def _url(name, needs, session_token, case_token, *, slug=None, job=None, report=None,
         upload=None, image=None):
    kwargs = {}
    if "site" in needs:
        kwargs["code"] = "SITE1"
    if "upload" in needs:
        kwargs["upload_id"] = upload
    if "slug" in needs:
        kwargs["slug"] = slug
    if "image" in needs:
        kwargs["pk"] = image
    if "slice" in needs:
        kwargs["index"] = 0
    if "labels" in needs:
        kwargs["token"] = str(uuid.uuid4())
    if "job" in needs:
        kwargs["pk"] = job
    if "report" in needs:
        kwargs["pk"] = report
    if "figure" in needs:
        kwargs["name"] = "roc-all"
    if "export" in needs:
        kwargs["name"] = "long_table.csv"
    if "session" in needs:
        kwargs["session_token"] = session_token
    if "case" in needs:
        kwargs["case_token"] = case_token
    return reverse(name, kwargs=kwargs)


def _request(client, method, url):
    if method == "post" and url.startswith(("/inference/", "/reports/")):
        return client.post(url, data={})
    if method == "post":
        return client.post(url, data=_read_body(), content_type="application/json")
    return client.get(url)


def _job(rs):
    from inference.models import InferenceJob, ModelVersion

    mv, _ = ModelVersion.objects.get_or_create(
        sha256="b" * 64,
        defaults={
            "name": "cnn", "architecture": "resnet18", "input_size": 224,
            "labels": ["A", "B", "C1", "C2"], "card": {}, "weights_file": "models/b.pt",
            "format": "state_dict",
        },
    )
    job = InferenceJob.objects.filter(study=rs.study).first()
    return job or InferenceJob.objects.create(
        study=rs.study, model_version=mv, case_ids=[], status="done"
    )


def _report(rs):
    from reports.models import StudyReport

    report, _ = StudyReport.objects.get_or_create(
        study=rs.study, input_hash="c" * 64,
        defaults={"status": "failed", "error": "inputs changed", "code_version": "test"},
    )
    return report


def _upload(rs):
    from studies.models import Site, StudySite, Upload

    site = Site.objects.get(code="SITE1")
    StudySite.objects.get_or_create(study=rs.study, site=site)
    return Upload.objects.filter(study=rs.study).first() or Upload.objects.create(
        study=rs.study, site=site, files=[{"label": "a.dcm", "size": 1, "received": 0}],
        bytes_expected=1)


def _client_for(client, rs, role):
    client.logout()
    if role != "anonymous":
        client.force_login(rs.users[role])
    return client


@pytest.mark.parametrize("name", sorted(MATRIX))
def test_the_matrix(client, rs, name):
    method, needs, expected = MATRIX[name]
    session = rs.session("alice")
    item = session.items.order_by("position").first()
    url = _url(name, needs, session.token, item.token, slug=rs.study.slug, job=_job(rs).pk,
               report=_report(rs).pk, image=item.image_id, upload=_upload(rs).pk)
    for role in CAST:
        Read.objects.all().delete()
        if expected[role] is None:
            continue
        response = _request(_client_for(client, rs, role), method, url)
        assert response.status_code == expected[role], (role, url, response.status_code)
        if expected[role] == 302 and role == "anonymous":
            assert response.url.startswith("/accounts/login/")
        if name.startswith("reading:api") and response.status_code >= 400:
            assert set(response.json()) == {"error"}  # one error shape
    if "session" in needs:
        # Made-up tokens and tokens borrowed from bob's session answer exactly like a stranger.
        bob_s = rs.session("bob")
        bob_item = bob_s.items.order_by("position").first()
        guesses = [
            (secrets.token_urlsafe(16), item.token),
            (session.token, secrets.token_urlsafe(16)),
            (session.token, bob_item.token),  # bob's case inside alice's session
            (bob_s.token, item.token),
            (str(session.pk), str(item.pk)),  # database ids are not tokens
        ]
        for role in CAST:
            stranger = {"anonymous": expected["anonymous"]}.get(role, 404)
            for s_token, c_token in guesses:
                if "case" not in needs and c_token != item.token:
                    continue
                if "case" not in needs and s_token == bob_s.token and role == "bob":
                    continue  # bob's own session
                url = _url(name, needs, s_token, c_token)
                response = _request(_client_for(client, rs, role), method, url)
                assert response.status_code == stranger, (role, url, response.status_code)
    assert not Read.objects.exclude(item__session__reader=rs.users["alice"]).exists()


def test_the_worklist_and_session_list_show_only_ones_own_sessions(client, rs):
    alice_s, bob_s = rs.session("alice"), rs.session("bob")
    for role, own, other in [("alice", alice_s, bob_s), ("bob", bob_s, alice_s)]:
        _client_for(client, rs, role)
        page = client.get(reverse("reading:worklist")).content.decode()
        listed = client.get(reverse("reading:api-sessions")).json()["sessions"]
        assert own.token in page and other.token not in page
        assert [s["token"] for s in listed] == [own.token]
    for role in ("rachel", "charlie"):
        _client_for(client, rs, role)
        assert client.get(reverse("reading:api-sessions")).json() == {"sessions": []}
        page = client.get(reverse("reading:worklist")).content.decode()
        assert alice_s.token not in page and bob_s.token not in page


def test_a_reader_never_sees_another_readers_answers(client, rs):
    """bob answers the case alice is looking at; alice's view of it has only her own."""
    alice_s, bob_s = rs.session("alice"), rs.session("bob")
    image = alice_s.items.order_by("position").first().image
    bob_item = bob_s.items.get(image=image)
    _client_for(client, rs, "bob")
    url = reverse("reading:api-read", kwargs={
        "session_token": bob_s.token, "case_token": bob_item.token})
    assert client.post(url, data=_read_body(), content_type="application/json").status_code == 201
    _client_for(client, rs, "alice")
    item = alice_s.items.get(image=image)
    data = client.get(reverse("reading:api-case", kwargs={
        "session_token": alice_s.token, "case_token": item.token})).json()
    assert data["reads"] == {} and data["n_done"] == 0
