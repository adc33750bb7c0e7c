"""A reader scrolls the hip's series (issue 11 item 4, on issue 12's series): the case data say
how many slices there are and which is graded; the pixels endpoint serves any slice of the
reader's own case, with its display numbers, and nothing of anyone else's."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pydicom
import pytest
from django.conf import settings
from django.urls import reverse

from readers.services.reading import session_create
from studies.models import Image, Membership
from studies.services.dicom_import import import_dicom_files
from tests.studies.test_series import write_series

pytestmark = pytest.mark.django_db

PIXEL_KEYS = {
    "rows", "columns", "dtype", "rescale_slope", "rescale_intercept",
    "window_center", "window_width", "pixel_spacing", "invert", "min_value", "max_value",
}


@pytest.fixture
def series_session(tmp_path, study, site, django_user_model):
    import_dicom_files(paths=write_series(tmp_path / "s", 3), study=study, site=site)
    image = Image.objects.get()
    image.partition = "test"
    image.save(update_fields=["partition"])
    readers = {}
    for name in ("rita", "otto"):
        readers[name] = django_user_model.objects.create_user(name, password=f"pw-{name}-12345")
        Membership.objects.create(study=study, user=readers[name], role=Membership.Role.READER)
    sessions = {
        name: session_create(study=study, reader=user, name="round 1", condition="unaided",
                             images=[image])
        for name, user in readers.items()
    }
    return image, readers, sessions


def url(name, session, item, query=""):
    path = reverse(f"reading:{name}", kwargs={"session_token": session.token,
                                               "case_token": item.token})
    return path + query


def test_the_reader_gets_every_slice_of_their_case_and_nothing_beyond(client, series_session):
    image, readers, sessions = series_session
    session = sessions["rita"]
    item = session.items.get()
    client.force_login(readers["rita"])
    case = client.get(url("api-case", session, item)).json()
    assert (case["slices"], case["designated_slice"]) == (3, 1)
    designated = client.get(url("api-pixels", session, item)).content
    for k, piece in enumerate(image.slices.order_by("index")):
        response = client.get(url("api-pixels", session, item, f"?slice={k}"))
        assert response.status_code == 200
        stored = pydicom.dcmread(Path(settings.MEDIA_ROOT) / piece.file.name).pixel_array
        assert response.content == stored.astype("<u2").tobytes()
        meta = json.loads(response["X-Pixel-Meta"])
        assert set(meta) == PIXEL_KEYS and (meta["rows"], meta["columns"]) == (32, 32)
        if k == 1:
            assert response.content == designated
    assert client.get(url("api-pixels", session, item, "?slice=3")).status_code == 404
    for bad in ("-1", "x", "1.5", "9999999"):
        assert client.get(url("api-pixels", session, item, f"?slice={bad}")).status_code == 400
    # another reader's session: 404, slice or not
    client.force_login(readers["otto"])
    assert client.get(url("api-pixels", session, item, "?slice=0")).status_code == 404
    assert np.frombuffer(designated, "<u2").size == 32 * 32


@pytest.fixture
def two_hips(tmp_path, study, site, django_user_model):
    """One patient's right and left hips (two series), both in rita's session."""
    for side, seed in (("R", 1), ("L", 2)):
        import_dicom_files(paths=write_series(tmp_path / side, 1, series_name=f"cor-{side}",
                                              side=side, seed=seed), study=study, site=site)
    Image.objects.update(partition="test")
    rita = django_user_model.objects.create_user("rita", password="pw-rita-12345")
    Membership.objects.create(study=study, user=rita, role=Membership.Role.READER)
    session = session_create(study=study, reader=rita, name="r1", condition="unaided")
    return rita, session


def test_the_other_hip_is_shown_only_where_the_study_allows_it(client, study, two_hips):
    rita, session = two_hips
    client.force_login(rita)
    for item in session.items.select_related("image__hip"):
        assert client.get(url("api-case", session, item)).json()["other_hip"] is None
        assert client.get(url("api-other-hip", session, item)).status_code == 404
    study.show_both_hips = True
    study.save(update_fields=["show_both_hips"])
    for item in session.items.select_related("image__hip"):
        case = client.get(url("api-case", session, item)).json()
        other = Image.objects.exclude(pk=item.image_id).get()
        assert case["other_hip"]["side"] == other.hip.side != item.image.hip.side
        assert set(case["other_hip"]["pixels"]) == PIXEL_KEYS
        got = client.get(url("api-other-hip", session, item)).content
        stored = pydicom.dcmread(Path(settings.MEDIA_ROOT) / other.file.name).pixel_array
        assert got == stored.astype("<u2").tobytes()
        # nothing of the other case but its side and display numbers: no truth, no id, no AI
        assert set(case["other_hip"]) == {"side", "pixels"}
