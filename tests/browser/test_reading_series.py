"""Scrolling the hip's series in the viewer, in Chromium (issue 11 item 4 on issue 12's series):
the case opens on its designated slice, PageUp/PageDown, shift + arrows, shift + wheel and the
slider move through the stack in order, the window and level stay as the reader set them,
Home comes back to the graded slice, and the answer is one per hip. Screenshot in
``test-artifacts/``."""

from __future__ import annotations

import pytest

from readers.models import Read
from readers.services.reading import session_create
from studies.models import Image
from studies.services.dicom_import import import_dicom_files
from tests.browser import test_reading_browser as reading_browser
from tests.browser.conftest import ARTIFACTS, needs_chromium
from tests.browser.test_reading_browser import canvas_sum, log_in, open_session, status
from tests.studies.test_series import write_series

page, rs = reading_browser.page, reading_browser.rs  # the same fixtures as the reading tests

pytestmark = [
    needs_chromium,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture
def series_session(rs, tmp_path, site):
    """alice's session on one hip whose coronal series has 5 slices."""
    paths = write_series(tmp_path / "series", 5, patient="PAT-SERIES", seed=7)
    import_dicom_files(paths=paths, study=rs.study, site=site)
    image = Image.objects.get(study=rs.study, slices__index=4)
    image.partition = "test"
    image.save(update_fields=["partition"])
    return session_create(study=rs.study, reader=rs.users["alice"], name="series",
                          condition="unaided", images=[image])


def wl(page) -> str:
    return page.inner_text("#status-wl").split(" · zoom")[0]


def test_the_reader_scrolls_the_series_and_grades_the_hip(page, live_server, rs, series_session):
    requests = []
    page.on("request", lambda r: requests.append(r.url) if "/pixels/" in r.url else None)
    log_in(page, live_server, "alice")
    open_session(page, live_server, series_session)
    assert "slice 3 of 5 (graded)" in status(page)
    assert page.is_visible("#slices")
    graded = canvas_sum(page)

    page.keyboard.press("w")  # another window preset: it must survive scrolling
    page.wait_for_timeout(100)
    window = wl(page)
    page.keyboard.press("PageDown")
    page.wait_for_function("() => document.getElementById('status-case').textContent"
                           ".includes('slice 4 of 5, graded: 3')")
    assert wl(page) == window
    assert canvas_sum(page) != graded  # another slice's pixels are drawn
    assert any(u.endswith("/pixels/?slice=3") for u in requests), requests
    page.screenshot(path=str(ARTIFACTS / "reading-series-slice-4-of-5.png"))

    page.keyboard.press("Shift+ArrowUp")
    page.keyboard.press("Shift+ArrowUp")
    page.wait_for_function("() => document.getElementById('status-case').textContent"
                           ".includes('slice 2 of 5')")
    assert page.input_value("#slice-slider") == "2"
    box = page.locator("#canvas").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.keyboard.down("Shift")
    page.mouse.wheel(0, -120)
    page.keyboard.up("Shift")
    page.wait_for_function("() => document.getElementById('status-case').textContent"
                           ".includes('slice 1 of 5')")
    page.keyboard.press("PageUp")  # the first slice stays the first
    page.wait_for_timeout(100)
    assert "slice 1 of 5" in status(page)
    assert wl(page) == window

    page.keyboard.press("Home")
    page.wait_for_function("() => document.getElementById('status-case').textContent"
                           ".includes('slice 3 of 5 (graded)')")
    page.keyboard.press("r")  # reset window: the graded slice looks as it did on opening
    page.wait_for_timeout(100)
    assert canvas_sum(page) == graded

    page.keyboard.press("PageDown")  # answer while looking at another slice: still one per hip
    page.keyboard.press("3")
    page.keyboard.press("7")
    page.keyboard.press("Enter")
    page.wait_for_url("**/read/*/")
    read = Read.objects.get(item__session=series_session)
    assert (read.label, read.confidence) == ("C1", 70)


@pytest.fixture
def both_hips_session(rs, tmp_path, site):
    """alice's session on one patient's two hips, in a study that shows both hips."""
    images = []
    for side, seed in (("R", 11), ("L", 12)):
        paths = write_series(tmp_path / side, 1, series_name=f"both-{side}", patient="PAT-BOTH",
                             side=side, seed=seed)
        report = import_dicom_files(paths=paths, study=rs.study, site=site)
        images.append(Image.objects.get(pk=report.files[0].case))
    Image.objects.filter(pk__in=[i.pk for i in images]).update(partition="test")
    rs.study.show_both_hips = True
    rs.study.save(update_fields=["show_both_hips"])
    return session_create(study=rs.study, reader=rs.users["alice"], name="both hips",
                          condition="unaided", images=images)


BOX = """(name) => {
  const v = document.getElementById('canvas').dataset[name];
  return v ? v.split(',').map(Number) : null;
}"""


def test_the_other_hip_is_shown_beside_the_case_and_b_hides_it(page, live_server, rs,
                                                               both_hips_session):
    log_in(page, live_server, "alice")
    open_session(page, live_server, both_hips_session)
    page.wait_for_function("() => document.getElementById('canvas').dataset.otherBox")
    main, other = page.evaluate(BOX, "imageBox"), page.evaluate(BOX, "otherBox")
    assert other[0] > main[0] + main[2]  # to the right of the case
    assert abs(other[3] - main[3]) < 0.5  # at the same height
    width = page.evaluate("() => document.getElementById('canvas').clientWidth")
    assert other[0] + other[2] <= width + 0.5  # both fit in the viewport
    page.screenshot(path=str(ARTIFACTS / "reading-both-hips.png"))
    page.keyboard.press("b")
    page.wait_for_function("() => !document.getElementById('canvas').dataset.otherBox")
    assert page.evaluate(BOX, "imageBox")[2] > main[2]  # the case alone fills the view
    page.keyboard.press("b")
    page.wait_for_function("() => document.getElementById('canvas').dataset.otherBox")
