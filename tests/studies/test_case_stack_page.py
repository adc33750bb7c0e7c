"""The coordinator's case page (issue 12 items 1 and 4): the hip's series as a stack of
thumbnails, the graded slice marked, another slice designated from the page, refused once the
case is in a reading session; only the study's admins reach it."""

from __future__ import annotations

import io

import pytest
from django.urls import reverse
from PIL import Image as PILImage

from readers.services.reading import session_create
from studies.models import Image, Membership
from studies.services.dicom_import import import_dicom_files
from tests.studies.test_series import original_number, write_series
from tests.studies.test_setup_pages import cast  # noqa: F401 - the fixture

pytestmark = pytest.mark.django_db


@pytest.fixture
def stack_case(tmp_path, study, site):
    import_dicom_files(paths=write_series(tmp_path / "s", 5), study=study, site=site)
    return Image.objects.get()


def test_the_stack_page_shows_every_slice_and_moves_the_graded_one(client, cast, study, stack_case):  # noqa: F811
    client.force_login(cast["alice"])
    url = reverse("setup:case", args=[study.slug, stack_case.pk])
    page = client.get(url).content.decode()
    assert page.count('<li class="graded" data-index="2">') == 1
    assert page.count("Grade this slice") == 4
    for k in range(5):
        png = client.get(reverse("setup:slice-thumbnail", args=[study.slug, stack_case.pk, k]))
        assert png.status_code == 200 and png["Content-Type"] == "image/png"
        assert PILImage.open(io.BytesIO(png.content)).size == (32, 32)
    cases = client.get(reverse("setup:cases", args=[study.slug])).content.decode()
    assert "5 <span class=\"muted\">(graded: 3)</span>" in cases

    response = client.post(url, {"index": 4}, follow=True)
    assert "Slice 5 is now the graded slice." in response.content.decode()
    stack_case.refresh_from_db()
    assert (stack_case.designated_index, stack_case.designation) == (4, "coordinator")
    assert original_number(stack_case) == 5
    assert client.post(url, {"index": 9}, follow=True).status_code == 200
    stack_case.refresh_from_db()
    assert stack_case.designated_index == 4


def test_once_in_a_reading_session_the_graded_slice_stays(client, cast, study, stack_case):  # noqa: F811
    Image.objects.filter(pk=stack_case.pk).update(partition="test")
    session_create(study=study, reader=cast["bob"], name="r1", condition="unaided",
                   images=[stack_case])
    client.force_login(cast["alice"])
    url = reverse("setup:case", args=[study.slug, stack_case.pk])
    page = client.get(url).content.decode()
    assert "is in a reading session: the graded slice can no longer change" in page
    assert "Grade this slice" not in page
    response = client.post(url, {"index": 0}, follow=True)
    assert "can no longer change" in response.content.decode()
    stack_case.refresh_from_db()
    assert stack_case.designated_index == 2


@pytest.mark.parametrize("who", ["bob", "rachel", "charlie"])
def test_anyone_but_the_studys_admins_gets_404(client, cast, study, stack_case, who):  # noqa: F811
    client.force_login(cast[who])
    url = reverse("setup:case", args=[study.slug, stack_case.pk])
    assert client.get(url).status_code == 404
    assert client.post(url, {"index": 0}).status_code == 404
    thumb = reverse("setup:slice-thumbnail", args=[study.slug, stack_case.pk, 0])
    assert client.get(thumb).status_code == 404
    assert Membership.objects.filter(study=study, user=cast[who], role="admin").count() == 0
