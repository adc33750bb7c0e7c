"""The reading pages and API through real URLs: worklist, resume, the viewer's case data and
pixels, submits (idempotent, validated, versioned), washout, sequential AI display, and what a
reader's responses must never contain."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import numpy as np
import pydicom
import pytest
from django.urls import reverse
from django.utils import timezone

from readers import selectors
from readers.models import Read, ReadingSession
from readers.services.reading import read_submit, session_create
from studies.models import Image, Study
from studies.storage import media_path
from tests.readers import reading_study
from tests.studies.dicom_files import IDENTIFYING

pytestmark = pytest.mark.django_db

CASE_KEYS = {
    "session_token", "session_name", "condition", "condition_display", "token", "number",
    "total", "n_done", "stage", "reads", "revisions_allowed", "ai", "prev_token", "next_token",
    "labels", "confidence_max", "pixels", "slices", "designated_slice", "other_hip",
}
# Only what the viewer uses (issue 15 S4: no bits stored, nothing else that tells sites apart).
PIXEL_KEYS = {
    "rows", "columns", "dtype", "rescale_slope", "rescale_intercept",
    "window_center", "window_width", "pixel_spacing", "invert", "min_value", "max_value",
}


@pytest.fixture
def rs(tmp_path, study, site, external_site, django_user_model):
    return reading_study.build(
        tmp_path=tmp_path, study=study, site=site, external_site=external_site,
        django_user_model=django_user_model,
    )


def login(client, rs, name):
    client.force_login(rs.users[name])
    return client


def case_url(name, session, item, **kw):
    return reverse(f"reading:{name}", kwargs={
        "session_token": session.token, "case_token": item.token, **kw
    })


def submit(client, session, item, *, label="B", confidence=60, request_id=None, stage="unaided",
           time_ms=3100, comment=""):
    body = {
        "stage": stage, "label": label, "confidence": confidence, "comment": comment,
        "time_ms": time_ms, "request_id": str(request_id or uuid.uuid4()),
    }
    return client.post(
        case_url("api-read", session, item), data=json.dumps(body),
        content_type="application/json",
    )


def identifying_strings(study: Study) -> list[str]:
    """Everything about the cases that a reader must never see."""
    out = list(IDENTIFYING)
    for image in Image.objects.filter(study=study).select_related("hip__patient__site"):
        out += [
            image.sop_instance_uid, image.content_hash, image.file.name, image.array_file.name,
            image.hip.patient.pseudonym, image.hip.patient.site.code,
            image.hip.patient.site.name, image.imported_at.strftime("%Y-%m-%d"),
        ]
    return [s for s in out if s]


def assert_nothing_leaks(text: str, study: Study):
    for secret in identifying_strings(study):
        assert secret not in text, f"{secret!r} leaked"
    for word in ("partition", "external", "train", "truth", "reference", "pseudonym",
                 "site", "patient", "sop_instance", "content_hash"):
        assert word not in text.lower(), f"{word!r} appears in a reader's response"


# --- worklist ---------------------------------------------------------------------------------


def test_the_worklist_shows_only_the_readers_own_sessions_with_progress(client, rs):
    alice_s = rs.session("alice")
    first = selectors.session_next_item(session=alice_s)
    read_submit(item=first, stage="unaided", label="A", confidence=50, time_ms=10,
                request_id=uuid.uuid4())
    response = login(client, rs, "alice").get(reverse("reading:worklist"))
    assert response.status_code == 200
    html = response.content.decode()
    total = alice_s.items.count()
    assert alice_s.token in html and rs.session("bob").token not in html
    assert f"1 / {total}" in html
    assert "unaided" in html and "continue" in html
    assert "Round 1 (bob)" not in html


def test_the_worklist_and_session_list_leak_nothing_about_the_cases(client, rs):
    login(client, rs, "alice")
    assert_nothing_leaks(client.get(reverse("reading:worklist")).content.decode(), rs.study)
    assert_nothing_leaks(
        client.get(reverse("reading:api-sessions")).content.decode(), rs.study
    )


def test_a_session_in_washout_shows_the_date_it_opens(client, rs):
    alice_s = rs.session("alice")
    ReadingSession.objects.filter(pk=alice_s.pk).update(opens_at=timezone.now() + timedelta(days=9))
    opens = (timezone.now() + timedelta(days=9)).strftime("%Y-%m-%d")
    login(client, rs, "alice")
    assert f"opens on {opens}" in client.get(reverse("reading:worklist")).content.decode()
    page = client.get(reverse("reading:session", args=[alice_s.token]))
    assert page.status_code == 200 and opens in page.content.decode()
    item = alice_s.items.first()
    for name in ("api-case", "api-pixels"):
        response = client.get(case_url(name, alice_s, item))
        assert response.status_code == 409
        assert response.json()["error"]["code"] == "session_not_open"
    assert submit(client, alice_s, item).status_code == 409
    assert client.get(case_url("case", alice_s, item)).status_code == 302


# --- resume -------------------------------------------------------------------------------------


def test_opening_a_session_resumes_at_the_first_unread_case_in_the_readers_order(client, rs):
    alice_s = rs.session("alice")
    items = list(alice_s.items.order_by("position"))
    login(client, rs, "alice")
    start = reverse("reading:session", args=[alice_s.token])
    assert client.get(start).url == case_url("case", alice_s, items[0])
    assert submit(client, alice_s, items[0]).status_code == 201
    assert client.get(start).url == case_url("case", alice_s, items[1])
    for item in items[1:]:
        assert submit(client, alice_s, item).status_code == 201
    done = client.get(start)
    assert done.status_code == 200 and "done" in done.content.decode()
    assert client.get(reverse("reading:api-next", args=[alice_s.token])).json() == {
        "done": True, "case": None,
    }


def test_the_next_endpoint_returns_the_next_unread_case_in_full(client, rs):
    alice_s = rs.session("alice")
    items = list(alice_s.items.order_by("position"))
    login(client, rs, "alice")
    submit(client, alice_s, items[0])
    data = client.get(reverse("reading:api-next", args=[alice_s.token])).json()
    assert data["done"] is False
    case = data["case"]
    assert case["token"] == items[1].token and case["number"] == 2
    assert case["n_done"] == 1 and case["total"] == len(items)
    assert case["prev_token"] == items[0].token and case["next_token"] == items[2].token


# --- the viewer's data -------------------------------------------------------------------------


def test_the_case_page_and_its_data_leak_nothing_about_the_case(client, rs):
    alice_s = rs.session("alice")
    item = alice_s.items.order_by("position").first()
    login(client, rs, "alice")
    page = client.get(case_url("case", alice_s, item))
    assert page.status_code == 200
    html = page.content.decode()
    assert "viewer.js" in html and item.token in html
    assert_nothing_leaks(html, rs.study)
    data = client.get(case_url("api-case", alice_s, item)).json()
    assert set(data) == CASE_KEYS and set(data["pixels"]) == PIXEL_KEYS
    assert_nothing_leaks(json.dumps(data), rs.study)
    counts = ("number", "total", "n_done", "confidence_max", "slices", "designated_slice")
    assert str(item.image_id) not in {str(v) for k, v in data.items() if k not in counts}
    assert data["ai"] is None
    assert [c["code"] for c in data["labels"]] == ["A", "B", "C1", "C2"]
    assert all(c["definition"] for c in data["labels"])


def test_the_pixels_are_the_stored_values_as_16_bit_little_endian(client, rs):
    alice_s = rs.session("alice")
    item = alice_s.items.order_by("position").first()
    image = item.image
    login(client, rs, "alice")
    meta = client.get(case_url("api-case", alice_s, item)).json()["pixels"]
    response = client.get(case_url("api-pixels", alice_s, item))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/octet-stream"
    assert "Content-Disposition" not in response
    body = response.content
    assert len(body) == image.rows * image.columns * 2
    stored = pydicom.dcmread(media_path(image.file.name)).pixel_array
    np.testing.assert_array_equal(
        np.frombuffer(body, dtype="<u2").reshape(image.rows, image.columns), stored
    )
    assert meta["rows"] == image.rows and meta["columns"] == image.columns
    assert meta["dtype"] == "uint16" and meta["invert"] is False
    # the window the DICOM file carried (tests/studies/dicom_files.py: 2000/4000), spacing 0.7
    assert (meta["window_center"], meta["window_width"]) == (2000.0, 4000.0)
    assert meta["pixel_spacing"] == [0.7, 0.7]
    assert meta["min_value"] == float(stored.min()) and meta["max_value"] == float(stored.max())


# --- submits --------------------------------------------------------------------------------------


def test_a_repeated_submit_with_the_same_request_id_stores_one_read(client, rs):
    alice_s = rs.session("alice")
    item = alice_s.items.order_by("position").first()
    login(client, rs, "alice")
    request_id = uuid.uuid4()
    first = submit(client, alice_s, item, request_id=request_id, label="C1", confidence=80)
    again = submit(client, alice_s, item, request_id=request_id, label="C1", confidence=80)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["created"] is True and again.json()["created"] is False
    read = Read.objects.get(item=item)
    assert (read.label, read.confidence, read.time_ms, read.stage) == ("C1", 80, 3100, "unaided")
    assert first.json()["case"]["stage"] is None  # no revisions in this study
    assert first.json()["case"]["reads"]["unaided"]["label"] == "C1"


def test_a_second_answer_is_refused_without_revisions_and_a_new_version_with_them(client, rs):
    alice_s = rs.session("alice")
    item = alice_s.items.order_by("position").first()
    login(client, rs, "alice")
    submit(client, alice_s, item, label="A")
    refused = submit(client, alice_s, item, label="B")
    assert refused.status_code == 409 and "no revisions" in refused.json()["error"]["message"]
    Study.objects.filter(pk=rs.study.pk).update(revisions_allowed=True)
    revised = submit(client, alice_s, item, label="B")
    assert revised.status_code == 201 and revised.json()["read"]["version"] == 2
    assert list(Read.objects.filter(item=item).values_list("label", "version")) == [
        ("A", 1), ("B", 2),
    ]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"label": "D"}, "label"),
        ({"confidence": 101}, "confidence"),
        ({"confidence": -1}, "confidence"),
        ({"time_ms": -5}, "time_ms"),
        ({"request_id": "not-a-uuid"}, "request_id"),
        ({"stage": "final"}, "stage"),
    ],
)
def test_it_refuses_malformed_submits_naming_the_field(client, rs, change, field):
    alice_s = rs.session("alice")
    item = alice_s.items.order_by("position").first()
    login(client, rs, "alice")
    body = {"stage": "unaided", "label": "A", "confidence": 5, "time_ms": 1,
            "request_id": str(uuid.uuid4()), **change}
    response = client.post(case_url("api-read", alice_s, item), data=json.dumps(body),
                           content_type="application/json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid" and field in error["fields"]
    assert not Read.objects.exists()


def test_an_aided_answer_in_an_unaided_session_is_refused(client, rs):
    alice_s = rs.session("alice")
    item = alice_s.items.first()
    response = submit(login(client, rs, "alice"), alice_s, item, stage="aided")
    assert response.status_code == 409 and response.json()["error"]["code"] == "refused"


def test_the_api_rejects_a_submit_without_the_csrf_token(rs):
    from django.test import Client

    csrf_client = Client(enforce_csrf_checks=True)
    alice_s = rs.session("alice")
    response = submit(login(csrf_client, rs, "alice"), alice_s, alice_s.items.first())
    assert response.status_code == 403
    assert not Read.objects.exists()


# --- AI output ---------------------------------------------------------------------------------


def _prediction_for(item, *, heatmap=None):
    from inference.models import ModelVersion, Prediction

    mv, _ = ModelVersion.objects.get_or_create(
        sha256="a" * 64,
        defaults={
            "name": "cnn", "architecture": "resnet18", "input_size": 224,
            "labels": ["A", "B", "C1", "C2"], "card": {}, "weights_file": "models/a.pt",
            "format": "state_dict",
        },
    )
    Prediction.objects.create(
        model_version=mv, image=item.image, probabilities=[0.1, 0.2, 0.3, 0.4],
        predicted_label="C2", heatmap_file=heatmap or "",
    )
    return mv


def test_session_prediction_shows_the_model_output_only_when_the_session_allows_it(rs):
    """The one selector that decides: never in an unaided session, in a sequential session only
    after the unaided answer is locked, always in an AI-aided one (from its model version)."""
    alice_s = rs.session("alice")
    item = alice_s.items.order_by("position").first()
    mv = _prediction_for(item)
    alice_s.model_version_id = mv.pk  # the session's model (the field arrives with the lead)
    assert selectors.session_prediction(session=alice_s, item=item) is None  # unaided
    alice_s.condition = ReadingSession.Condition.SEQUENTIAL
    assert selectors.session_prediction(session=alice_s, item=item) is None  # not locked yet
    read_submit(item=item, stage="unaided", label="A", confidence=3, time_ms=1,
                request_id=uuid.uuid4())
    assert selectors.session_prediction(session=alice_s, item=item).predicted_label == "C2"
    alice_s.condition = ReadingSession.Condition.AI_AIDED
    other = alice_s.items.order_by("position")[1]
    assert selectors.session_prediction(session=alice_s, item=other) is None  # none stored
    alice_s.model_version_id = None
    assert selectors.session_prediction(session=alice_s, item=item) is None


def test_a_sequential_session_shows_the_ai_output_after_the_unaided_answer(
    tmp_path, client, rs
):
    # Alice reads these cases in one sequential session: her unaided session on the same cases
    # would come first (an AI-showing session waits for the unaided one of its round).
    rs.session("alice").delete()
    session = session_create(
        study=rs.study, reader=rs.users["alice"], name="Seq", condition="sequential_ai",
    )
    item = session.items.order_by("position").first()
    heat = media_path("heatmaps/h.npy")
    heat.parent.mkdir(parents=True, exist_ok=True)
    np.save(heat, np.linspace(0, 1, 16 * 16, dtype=np.float16).reshape(16, 16))
    mv = _prediction_for(item, heatmap="heatmaps/h.npy")
    ReadingSession.objects.filter(pk=session.pk).update(model_version=mv)
    login(client, rs, "alice")
    before = client.get(case_url("api-case", session, item)).json()
    assert before["ai"] is None and before["stage"] == "unaided"
    assert client.get(case_url("api-heatmap", session, item)).status_code == 404
    locked = submit(client, session, item, label="A").json()["case"]
    assert locked["stage"] == "aided"
    assert locked["ai"]["predicted_label"] == "C2"
    assert [p["p"] for p in locked["ai"]["probabilities"]] == [0.1, 0.2, 0.3, 0.4]
    heat_response = client.get(case_url("api-heatmap", session, item))
    assert heat_response.status_code == 200
    assert (heat_response["X-Heatmap-Rows"], heat_response["X-Heatmap-Columns"]) == ("16", "16")
    assert len(heat_response.content) == 256 and heat_response.content[-1] == 255
    final = submit(client, session, item, label="C1", stage="aided")
    assert final.status_code == 201
    assert list(Read.objects.filter(item=item).values_list("stage", "label")) == [
        ("aided", "C1"), ("unaided", "A"),
    ]


def test_an_unaided_session_never_shows_the_model_output(client, rs):
    alice_s = rs.session("alice")
    item = alice_s.items.order_by("position").first()
    mv = _prediction_for(item, heatmap="heatmaps/none.npy")
    ReadingSession.objects.filter(pk=alice_s.pk).update(model_version=mv)
    login(client, rs, "alice")
    assert client.get(case_url("api-case", alice_s, item)).json()["ai"] is None
    assert client.get(case_url("api-heatmap", alice_s, item)).status_code == 404
    page = client.get(case_url("case", alice_s, item)).content.decode()
    assert '"ai": null' in page and "probabilities" not in page


# --- pixels of other kinds of stored images ------------------------------------------------------


def _stored_dicom(name, pixels, *, signed, photometric, bits):
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = MRImageStorage
    meta.MediaStorageSOPInstanceUID = "2.25.1"
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(name, {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID, ds.SOPInstanceUID = MRImageStorage, "2.25.1"
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated = ds.BitsStored = bits
    ds.HighBit = bits - 1
    ds.PixelRepresentation = int(signed)
    ds.PixelData = pixels.tobytes()
    path = media_path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return Image(file=name, rows=pixels.shape[0], columns=pixels.shape[1], bits_stored=bits,
                 pixel_signed=signed, rescale_slope=2.0, rescale_intercept=-100.0)


def test_signed_monochrome1_pixels_keep_their_sign_and_ask_for_inversion():
    from studies.pixels import image_pixel_meta, image_pixels

    values = np.array([[-1200, 0], [5, 3000]], dtype="<i2")
    image = _stored_dicom("cases/signed.dcm", values, signed=True, photometric="MONOCHROME1",
                          bits=16)
    meta = image_pixel_meta(image=image)
    assert (meta.dtype, meta.invert) == ("int16", True)
    np.testing.assert_array_equal(np.frombuffer(image_pixels(image=image), "<i2"), values.ravel())
    # no window in the file: the full range of modality values, 2 × stored − 100
    assert (meta.min_value, meta.max_value) == (-2500.0, 5900.0)
    assert (meta.window_center, meta.window_width) == (1700.0, 8400.0)


def test_8_bit_pixels_arrive_as_16_bit():
    from studies.pixels import image_pixels

    values = np.array([[0, 17], [200, 255]], dtype=np.uint8)
    image = _stored_dicom("cases/eight.dcm", values, signed=False, photometric="MONOCHROME2",
                          bits=8)
    np.testing.assert_array_equal(np.frombuffer(image_pixels(image=image), "<u2"), values.ravel())


def test_the_pixel_cache_is_bounded_by_bytes(monkeypatch):
    from studies import pixels

    reads = []

    def fake_read(name, frame=0):
        reads.append(name)
        return pixels._Decoded(b"x" * 100, "uint16", False, 0, 1)

    monkeypatch.setattr(pixels, "_read", fake_read)
    cache = pixels._ByteBoundedCache(limit=250)
    for name in ["a", "b", "a", "c", "a", "b"]:
        cache.get(name)
    # a, b cached; c evicts b (a was used more recently); b comes back and evicts c
    assert reads == ["a", "b", "c", "b"] and cache.size == 200


# --- cases that cannot be graded (indeterminate reads) -------------------------------------------


def cannot_grade(client, session, item, *, comment="motion artefact", request_id=None,
                 stage="unaided", **extra):
    body = {
        "stage": stage, "indeterminate": True, "comment": comment, "time_ms": 2500,
        "request_id": str(request_id or uuid.uuid4()), **extra,
    }
    return client.post(
        case_url("api-read", session, item), data=json.dumps(body),
        content_type="application/json",
    )


def test_a_reader_marks_a_case_indeterminate_with_a_reason_and_moves_on(client, rs):
    alice_s = rs.session("alice")
    items = list(alice_s.items.order_by("position"))
    login(client, rs, "alice")
    request_id = uuid.uuid4()
    first = cannot_grade(client, alice_s, items[0], request_id=request_id)
    again = cannot_grade(client, alice_s, items[0], request_id=request_id)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["read"] == {
        "stage": "unaided", "version": 1, "label": "", "confidence": None, "indeterminate": True,
    }
    assert again.json()["created"] is False
    read = Read.objects.get(item=items[0])
    assert (read.indeterminate, read.label, read.confidence, read.comment, read.time_ms) == (
        True, "", None, "motion artefact", 2500,
    )
    case = first.json()["case"]
    assert case["reads"]["unaided"] == {
        "stage": "unaided", "version": 1, "label": "", "confidence": None,
        "comment": "motion artefact", "indeterminate": True, "measurements": [],
    }
    assert case["stage"] is None and case["n_done"] == 1  # done, like a graded case
    assert set(case) == CASE_KEYS
    assert client.get(case_url("api-case", alice_s, items[0])).json()["reads"] == case["reads"]
    # the reader moves on: next case, worklist and session list count it as done
    data = client.get(reverse("reading:api-next", args=[alice_s.token])).json()
    assert data["case"]["token"] == items[1].token and data["case"]["n_done"] == 1
    assert client.get(reverse("reading:api-sessions")).json()["sessions"][0]["done"] == 1
    assert f"1 / {len(items)}" in client.get(reverse("reading:worklist")).content.decode()
    assert_nothing_leaks(json.dumps(first.json()), rs.study)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"comment": ""}, "comment"),
        ({"comment": "   "}, "comment"),
        ({"label": "B"}, "label"),
        ({"label": "D"}, "label"),
    ],
)
def test_it_refuses_an_indeterminate_submit_without_a_reason_or_with_a_label(
    client, rs, change, field
):
    alice_s = rs.session("alice")
    item = alice_s.items.order_by("position").first()
    response = cannot_grade(login(client, rs, "alice"), alice_s, item, **change)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid" and list(error["fields"]) == [field]
    assert not Read.objects.exists()


def test_a_graded_submit_without_a_label_or_a_confidence_is_refused(client, rs):
    alice_s = rs.session("alice")
    item = alice_s.items.order_by("position").first()
    login(client, rs, "alice")
    for missing in ("label", "confidence"):
        body = {"stage": "unaided", "label": "A", "confidence": 5, "time_ms": 1,
                "request_id": str(uuid.uuid4())}
        del body[missing]
        response = client.post(case_url("api-read", alice_s, item), data=json.dumps(body),
                               content_type="application/json")
        assert response.status_code == 400
        assert list(response.json()["error"]["fields"]) == [missing]
    not_indeterminate = cannot_grade(client, alice_s, item, indeterminate=False)
    assert not_indeterminate.status_code == 400
    assert set(not_indeterminate.json()["error"]["fields"]) == {"label", "confidence"}
    assert not Read.objects.exists()


def test_an_indeterminate_submit_drops_a_confidence_sent_with_it(client, rs):
    alice_s = rs.session("alice")
    item = alice_s.items.order_by("position").first()
    response = cannot_grade(login(client, rs, "alice"), alice_s, item, confidence=70)
    assert response.status_code == 201
    assert Read.objects.get(item=item).confidence is None


def test_a_revision_turns_an_indeterminate_answer_into_a_graded_one_where_allowed(client, rs):
    alice_s = rs.session("alice")
    item = alice_s.items.order_by("position").first()
    login(client, rs, "alice")
    assert cannot_grade(client, alice_s, item).status_code == 201
    refused = submit(client, alice_s, item, label="B")
    assert refused.status_code == 409 and "no revisions" in refused.json()["error"]["message"]
    Study.objects.filter(pk=rs.study.pk).update(revisions_allowed=True)
    revised = submit(client, alice_s, item, label="B", confidence=40)
    assert revised.status_code == 201
    own = revised.json()["case"]["reads"]["unaided"]
    assert (own["version"], own["label"], own["confidence"], own["indeterminate"]) == (
        2, "B", 40, False,
    )
    back = cannot_grade(client, alice_s, item, comment="wrong or missing slice")
    assert back.status_code == 201 and back.json()["read"]["version"] == 3
    assert back.json()["case"]["reads"]["unaided"]["indeterminate"] is True


def test_an_indeterminate_unaided_answer_unlocks_the_ai_output_where_the_study_says_so(
    client, rs
):
    rs.study.indeterminate_unlocks_ai = True  # off by default (issue 15 S7)
    rs.study.save()
    # Alice reads these cases in one sequential session: her unaided session on the same cases
    # would come first (an AI-showing session waits for the unaided one of its round).
    rs.session("alice").delete()
    session = session_create(
        study=rs.study, reader=rs.users["alice"], name="Seq", condition="sequential_ai",
    )
    item = session.items.order_by("position").first()
    mv = _prediction_for(item)
    ReadingSession.objects.filter(pk=session.pk).update(model_version=mv)
    login(client, rs, "alice")
    early = cannot_grade(client, session, item, stage="aided")
    assert early.status_code == 409 and client.get(
        case_url("api-case", session, item)
    ).json()["ai"] is None
    locked = cannot_grade(client, session, item).json()["case"]
    assert locked["stage"] == "aided" and locked["ai"]["predicted_label"] == "C2"
    assert locked["n_done"] == 0  # the final (aided) answer is still to come
    final = submit(client, session, item, label="C2", stage="aided").json()["case"]
    assert final["stage"] is None and final["n_done"] == 1
