"""S4 (issue 15): the case JSON a reader gets carries only what the viewer uses of the display
metadata — every extra field (bits stored, say) helps tell the sites apart."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.urls import reverse

from readers.selectors import VIEWER_PIXEL_FIELDS

pytestmark = pytest.mark.django_db
VIEWER_JS = Path(__file__).resolve().parents[2] / "static" / "readers" / "viewer.js"


def test_every_display_field_sent_is_one_the_viewer_reads():
    script = VIEWER_JS.read_text()
    unused = [f for f in VIEWER_PIXEL_FIELDS if not re.search(rf"\.{f}\b", script)]
    assert not unused, f"sent to readers but not used by the viewer: {unused}"


def test_the_case_json_carries_no_other_display_field(client, small_reading_study):
    rs = small_reading_study
    session = rs.session("alice")
    item = session.items.order_by("position").first()
    client.force_login(rs.users["alice"])
    data = client.get(reverse("reading:api-case", args=[session.token, item.token])).json()
    assert set(data["pixels"]) == set(VIEWER_PIXEL_FIELDS)
    assert "bits_stored" not in data["pixels"]
