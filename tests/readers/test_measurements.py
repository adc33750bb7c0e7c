"""Measurements saved with a read (issue 11 item 4): the reading API checks them against the
case's image (kind, two points inside the image, a length that agrees with Pixel Spacing),
stores them on the read with the length the server computes, and shows them back to the
reader who made them only."""

from __future__ import annotations

import json
import math
import uuid

import pytest
from django.urls import reverse

from readers.forms import MAX_MEASUREMENTS
from readers.models import Read
from tests.readers import reading_study

pytestmark = pytest.mark.django_db

ROW_MM, COL_MM = 0.5, 0.8  # anisotropic on purpose: rows and columns must not be swapped


@pytest.fixture
def rs(tmp_path, study, site, external_site, django_user_model):
    return reading_study.build(
        tmp_path=tmp_path, study=study, site=site, external_site=external_site,
        django_user_model=django_user_model, n_internal=4, n_external=1,
    )


@pytest.fixture
def item(rs):
    item = rs.session("alice").items.order_by("position").first()
    image = item.image
    image.pixel_spacing_row, image.pixel_spacing_col = ROW_MM, COL_MM
    image.save(update_fields=["pixel_spacing_row", "pixel_spacing_col"])
    return item


def url(name, session, item):
    return reverse(f"reading:{name}",
                   kwargs={"session_token": session.token, "case_token": item.token})


def submit(client, rs, item, measurements, **extra):
    body = {"stage": "unaided", "label": "B", "confidence": 70, "time_ms": 2000,
            "request_id": str(uuid.uuid4()), "measurements": measurements, **extra}
    return client.post(url("api-read", rs.session("alice"), item), data=json.dumps(body),
                       content_type="application/json")


def expected_mm(points):
    (x0, y0), (x1, y1) = points
    return math.hypot((x1 - x0) * COL_MM, (y1 - y0) * ROW_MM)


def test_it_stores_a_ruler_and_a_thirds_overlay_with_the_length_from_pixel_spacing(
        client, rs, item):
    client.force_login(rs.users["alice"])
    line = [[10, 20], [40, 60]]  # 30 columns x 0.8 mm, 40 rows x 0.5 mm -> 24 mm x 20 mm
    thirds = [[5, 30], [50.5, 30]]
    response = submit(client, rs, item, [
        {"kind": "line", "points": line, "length_mm": expected_mm(line)},
        {"kind": "thirds", "points": thirds, "length_mm": None},
    ])
    assert response.status_code == 201, response.json()
    read = Read.objects.get(item=item)
    assert read.measurements == [
        {"kind": "line", "points": [[10.0, 20.0], [40.0, 60.0]],
         "length_mm": round(math.hypot(24, 20), 2)},
        {"kind": "thirds", "points": [[5.0, 30.0], [50.5, 30.0]], "length_mm": 36.4},
    ]
    # the answer comes back with the case, measurements included
    assert response.json()["case"]["reads"]["unaided"]["measurements"] == read.measurements


def test_a_read_without_measurements_stores_an_empty_list(client, rs, item):
    client.force_login(rs.users["alice"])
    body = {"stage": "unaided", "label": "A", "confidence": 50, "time_ms": 10,
            "request_id": str(uuid.uuid4())}
    response = client.post(url("api-read", rs.session("alice"), item), data=json.dumps(body),
                           content_type="application/json")
    assert response.status_code == 201
    assert Read.objects.get(item=item).measurements == []


def test_the_case_shows_the_readers_own_measurements_back(client, rs, item):
    client.force_login(rs.users["alice"])
    line = [[0, 0], [64, 64]]
    assert submit(client, rs, item, [{"kind": "line", "points": line}]).status_code == 201
    case = client.get(url("api-case", rs.session("alice"), item)).json()
    assert case["reads"]["unaided"]["measurements"] == [
        {"kind": "line", "points": [[0.0, 0.0], [64.0, 64.0]],
         "length_mm": round(expected_mm(line), 2)}
    ]
    # Bob reads the same image in his own session: he sees none of alice's measurements.
    client.force_login(rs.users["bob"])
    bob_item = rs.session("bob").items.get(image=item.image)
    bob_case = client.get(url("api-case", rs.session("bob"), bob_item)).json()
    assert bob_case["reads"] == {}
    assert "measurements" not in json.dumps(bob_case)


def test_without_pixel_spacing_lengths_are_null_and_a_sent_length_is_refused(client, rs, item):
    image = item.image
    image.pixel_spacing_row = image.pixel_spacing_col = None
    image.save(update_fields=["pixel_spacing_row", "pixel_spacing_col"])
    client.force_login(rs.users["alice"])
    response = submit(client, rs, item, [{"kind": "line", "points": [[1, 1], [5, 5]],
                                          "length_mm": 3.0}])
    assert response.status_code == 400
    assert "no pixel spacing" in response.json()["error"]["fields"]["measurements"][0]
    response = submit(client, rs, item, [{"kind": "line", "points": [[1, 1], [5, 5]],
                                          "length_mm": None}])
    assert response.status_code == 201
    assert Read.objects.get(item=item).measurements[0]["length_mm"] is None


@pytest.mark.parametrize("measurements, message", [
    ("a ruler", "must be a list"),
    ({"kind": "line"}, "must be a list"),
    ([{"kind": "line", "points": [[1, 1], [2, 2]]}] * (MAX_MEASUREMENTS + 1),
     f"at most {MAX_MEASUREMENTS}"),
    (["line"], "must be an object"),
    ([{"kind": "circle", "points": [[1, 1], [2, 2]]}], "kind must be 'line' or 'thirds'"),
    ([{"kind": "line", "points": [[1, 1]]}], "two [x, y] pairs"),
    ([{"kind": "line", "points": [[1, 1], [2, "2"]]}], "two [x, y] pairs"),
    ([{"kind": "line", "points": [[1, 1], [2, True]]}], "two [x, y] pairs"),
    ([{"kind": "line", "points": [[1, 1], [65, 2]]}], "outside the image"),
    ([{"kind": "line", "points": [[-0.5, 1], [2, 2]]}], "outside the image"),
    ([{"kind": "line", "points": [[1, 1], [2, 2]], "length_mm": "12"}], "length_mm must be"),
    ([{"kind": "line", "points": [[1, 1], [2, 2]], "length_mm": -1}], "length_mm must be"),
    ([{"kind": "line", "points": [[0, 0], [10, 0]], "length_mm": 5.0}], "disagrees"),
    ([{"kind": "line", "points": [[1, 1], [2, 2]], "note": "<b>x</b>"}], "unknown keys"),
])
def test_it_refuses_bad_measurements_with_a_400_naming_the_field_and_stores_nothing(
        client, rs, item, measurements, message):
    client.force_login(rs.users["alice"])
    response = submit(client, rs, item, measurements)
    assert response.status_code == 400
    error = response.json()["error"]
    assert list(error["fields"]) == ["measurements"]
    assert message in error["fields"]["measurements"][0]
    assert not Read.objects.filter(item=item).exists()


def test_a_length_within_one_percent_is_accepted_and_stored_as_computed(client, rs, item):
    client.force_login(rs.users["alice"])
    points = [[0, 0], [10, 0]]  # 10 columns x 0.8 mm = 8 mm
    response = submit(client, rs, item, [{"kind": "line", "points": points, "length_mm": 8.07}])
    assert response.status_code == 201, response.json()
    assert Read.objects.get(item=item).measurements[0]["length_mm"] == 8.0
