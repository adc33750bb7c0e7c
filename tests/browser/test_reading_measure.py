"""Measurement in the viewer, in a real browser (Debian's Chromium through Playwright): a ruler
drawn on a case of known, anisotropic Pixel Spacing shows the length computed from the spacing
(to 1 %) at fit and after zoom and pan; the thirds overlay draws two ticks across the segment;
Esc cancels a line being drawn; submit stores the measurements on the read and a draft keeps
them; the image fills the viewport at the common screen sizes, on load and on resize; pixels
are interpolated below 400 % zoom and shown as blocks from there. Screenshots go to
``test-artifacts/``."""

from __future__ import annotations

import math
import re

import pytest

from readers.models import Read
from studies.models import Image
from tests.browser import test_reading_browser as reading_browser
from tests.browser.conftest import ARTIFACTS, needs_chromium
from tests.browser.test_reading_browser import log_in, open_session

page, rs = reading_browser.page, reading_browser.rs  # the same fixtures as the reading tests

pytestmark = [
    needs_chromium,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]

ROW_MM, COL_MM = 0.5, 0.8  # anisotropic: a swap of rows and columns shows as a wrong length
SIZES = [(1024, 768), (1280, 800), (1440, 900), (1920, 1080), (2560, 1440)]

CANVAS_STATE = """() => {
  const c = document.getElementById('canvas');
  const [x, y, w, h] = c.dataset.imageBox.split(',').map(Number);
  return {x, y, w, h, cw: c.clientWidth, ch: c.clientHeight,
          smoothing: c.dataset.smoothing,
          ctxSmoothing: c.getContext('2d').imageSmoothingEnabled};
}"""

PIXEL = """([x, y]) => {
  const c = document.getElementById('canvas');
  const dpr = window.devicePixelRatio || 1;
  return Array.from(c.getContext('2d')
    .getImageData(Math.floor(x * dpr), Math.floor(y * dpr), 1, 1).data);
}"""

ROW = """([y, x0, x1]) => {
  const c = document.getElementById('canvas');
  const dpr = window.devicePixelRatio || 1;
  const d = c.getContext('2d')
    .getImageData(Math.floor(x0 * dpr), Math.floor(y * dpr), Math.floor((x1 - x0) * dpr), 1).data;
  const out = [];
  for (let i = 0; i < d.length; i += 4) out.push(d[i]);
  return out;
}"""


@pytest.fixture
def spaced(rs):
    """Every case of the study with a pixel spacing of 0.5 mm (rows) x 0.8 mm (columns)."""
    Image.objects.filter(study=rs.study).update(pixel_spacing_row=ROW_MM, pixel_spacing_col=COL_MM)
    return rs


def state(page) -> dict:
    return page.evaluate(CANVAS_STATE)


def to_image(page, sx: float, sy: float, *, rows: int, columns: int) -> tuple[float, float]:
    """A point in css px on the canvas -> image pixels, from where the image is drawn."""
    s = state(page)
    return (sx - s["x"]) * columns / s["w"], (sy - s["y"]) * rows / s["h"]


def drag(page, a, b):
    box = page.locator("#canvas").bounding_box()
    page.mouse.move(box["x"] + a[0], box["y"] + a[1])
    page.mouse.down()
    page.mouse.move(box["x"] + b[0], box["y"] + b[1], steps=8)
    page.mouse.up()


def expected_mm(page, a, b, image) -> float:
    (x0, y0), (x1, y1) = (
        to_image(page, *p, rows=image.rows, columns=image.columns) for p in (a, b)
    )
    return math.hypot((x1 - x0) * COL_MM, (y1 - y0) * ROW_MM)


def shown_lengths(page) -> list[float]:
    return [float(re.match(r"([\d.]+) mm", t).group(1))
            for t in page.locator("#measure-list .length").all_inner_texts()]


def first_image(session):
    return session.items.order_by("position").first().image


def zoom_to(page, target: float, columns: int):
    """Zoom with the wheel at the canvas centre until the image is ``target`` x its pixels."""
    box = page.locator("#canvas").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    scale = state(page)["w"] / columns
    page.mouse.wheel(0, -math.log(target / scale) / 0.0015)
    page.wait_for_function(
        f"() => Math.abs(Number(document.getElementById('canvas').dataset.imageBox"
        f".split(',')[2]) / {columns} - {target}) < {target * 0.02}"
    )


def test_the_ruler_shows_the_length_from_pixel_spacing_at_any_zoom_and_is_saved(
        page, live_server, spaced):
    session = spaced.session("alice")
    image = first_image(session)
    log_in(page, live_server, "alice")
    open_session(page, live_server, session)
    page.keyboard.press("m")
    assert page.get_attribute("#tool-line", "aria-pressed") == "true"
    a, b = (120, 150), (330, 260)
    drag(page, a, b)
    first = expected_mm(page, a, b, image)
    assert shown_lengths(page) == [pytest.approx(first, rel=0.01)]
    # zoomed in and panned: the same physical length is still measured right
    zoom_to(page, 3.0, image.columns)
    page.keyboard.down("Shift")
    drag(page, (300, 300), (250, 220))
    page.keyboard.up("Shift")
    z = state(page)  # inside the image as it is now drawn (a point outside is clamped to it)
    assert z["w"] / image.columns == pytest.approx(3.0, rel=0.02) and z["x"] > 0
    a2 = (z["x"] + 0.15 * z["w"], z["y"] + 0.8 * z["h"])
    b2 = (z["x"] + 0.75 * z["w"], z["y"] + 0.3 * z["h"])
    drag(page, a2, b2)
    second = expected_mm(page, a2, b2, image)
    assert shown_lengths(page) == [pytest.approx(first, rel=0.01),
                                   pytest.approx(second, rel=0.01)]
    # Esc cancels a line being drawn: nothing is added
    box = page.locator("#canvas").bounding_box()
    page.mouse.move(box["x"] + 100, box["y"] + 100)
    page.mouse.down()
    page.mouse.move(box["x"] + 220, box["y"] + 160, steps=4)
    page.keyboard.press("Escape")
    page.mouse.up()
    assert len(shown_lengths(page)) == 2
    page.screenshot(path=str(ARTIFACTS / "ruler-zoomed.png"))
    # three keys still grade the case; the measurements go with the answer
    page.keyboard.press("2")
    page.keyboard.press("7")
    page.keyboard.press("Enter")
    page.wait_for_selector("#message:has-text('Saved case 1 (B, confidence 70)')")
    read = Read.objects.get(item__session=session)
    assert [m["kind"] for m in read.measurements] == ["line", "line"]
    assert [m["length_mm"] for m in read.measurements] == [
        pytest.approx(first, rel=0.01), pytest.approx(second, rel=0.01)]
    # back on the case, the reader sees their saved rulers again
    page.wait_for_function("() => document.getElementById('status-case').textContent"
                           ".startsWith('Case 2 ')")
    page.keyboard.press("p")
    page.wait_for_function("() => document.getElementById('status-case').textContent"
                           ".startsWith('Case 1 ')")
    assert shown_lengths(page) == [pytest.approx(first, rel=0.01),
                                   pytest.approx(second, rel=0.01)]


def test_the_thirds_overlay_draws_two_ticks_and_is_stored(page, live_server, spaced):
    session = spaced.session("alice")
    image = first_image(session)
    log_in(page, live_server, "alice")
    open_session(page, live_server, session)
    page.keyboard.press("t")
    a, b = (90.0, 200.0), (390.0, 200.0)  # horizontal: the ticks are vertical
    drag(page, a, b)
    assert page.locator("#measure-list li").evaluate_all(
        "(items) => items.map((li) => li.dataset.kind)") == ["thirds"]
    assert shown_lengths(page) == [pytest.approx(expected_mm(page, a, b, image), rel=0.01)]

    def orange(x, y) -> bool:
        r, g, bl, _ = page.evaluate(PIXEL, [x, y])
        return r > 200 and r - bl > 120 and g < 180  # the tick colour, not the grey image

    ticks = [a[0] + (b[0] - a[0]) * t for t in (1 / 3, 2 / 3)]
    for x in ticks:  # across the line, on the side away from the length label
        assert orange(x, a[1] - 6), x
    for x in (a[0] + (b[0] - a[0]) / 6, a[0] + (b[0] - a[0]) / 2, a[0] + 5 * (b[0] - a[0]) / 6):
        assert not orange(x, a[1] - 6), x  # no tick anywhere else: exactly two
    page.screenshot(path=str(ARTIFACTS / "thirds-overlay.png"))
    # a draft keeps the overlay: away (kept as a draft) and back
    page.keyboard.press("Escape")  # the tool off
    page.keyboard.press("n")
    assert page.is_visible("#leave")
    assert "1 measurement" in page.inner_text("#leave-answer")
    page.keyboard.press("n")
    page.wait_for_function("() => document.getElementById('status-case').textContent"
                           ".startsWith('Case 2 ')")
    page.keyboard.press("p")
    page.wait_for_selector("#message:has-text('Draft restored on case 1')")
    assert page.locator("#measure-list li").count() == 1
    page.keyboard.press("4")
    page.keyboard.press("5")
    page.keyboard.press("Enter")
    page.wait_for_selector("#message:has-text('Saved case 1 (C2, confidence 50)')")
    (stored,) = Read.objects.get(item__session=session).measurements
    assert stored["kind"] == "thirds" and stored["points"][0][1] == stored["points"][1][1]


def test_without_pixel_spacing_the_ruler_says_lengths_are_in_pixels(page, live_server, rs):
    Image.objects.filter(study=rs.study).update(pixel_spacing_row=None, pixel_spacing_col=None)
    log_in(page, live_server, "alice")
    open_session(page, live_server, rs.session("alice"))
    assert "No pixel spacing: lengths in pixels" in page.inner_text("#measure-note")
    page.keyboard.press("m")
    drag(page, (100, 100), (200, 100))
    assert re.fullmatch(r"[\d.]+ px", page.inner_text("#measure-list .length"))


def assert_fills(page, name: str):
    s = state(page)
    assert s["w"] <= s["cw"] + 1 and s["h"] <= s["ch"] + 1, s
    assert abs(s["w"] - s["cw"]) < 1 or abs(s["h"] - s["ch"]) < 1, s  # one dimension filled
    assert abs(s["x"] - (s["cw"] - s["w"]) / 2) < 1 and abs(s["y"] - (s["ch"] - s["h"]) / 2) < 1
    # what is drawn: image inside the box, black around it, along the middle row
    y = s["y"] + s["h"] / 2
    inside = page.evaluate(ROW, [y, s["x"] + 1, s["x"] + s["w"] - 1])
    assert sum(v > 0 for v in inside) > 0.5 * len(inside), name
    if s["x"] > 3:
        assert not any(page.evaluate(ROW, [y, 0, s["x"] - 1])), name
    page.screenshot(path=str(ARTIFACTS / f"viewer-fit-{name}.png"))


def test_the_image_fills_the_viewport_at_every_common_size_on_load_and_on_resize(
        page, live_server, spaced):
    log_in(page, live_server, "alice")
    for width, height in SIZES:
        page.set_viewport_size({"width": width, "height": height})
        open_session(page, live_server, spaced.session("alice"))  # fitted on load
        assert_fills(page, f"{width}x{height}")
    for width, height in reversed(SIZES[:-1]):
        page.set_viewport_size({"width": width, "height": height})  # fitted again on resize
        page.wait_for_function(
            f"() => document.getElementById('canvas').clientWidth === {width - 300}")
        page.wait_for_timeout(100)
        assert_fills(page, f"{width}x{height}-resized")


def test_pixels_are_interpolated_below_400_percent_and_blocks_from_there(page, live_server, rs):
    session = rs.session("alice")
    columns = first_image(session).columns
    log_in(page, live_server, "alice")
    open_session(page, live_server, session)
    zoom_to(page, 2.0, columns)
    s = state(page)
    assert (s["smoothing"], s["ctxSmoothing"]) == ("true", True)
    page.screenshot(path=str(ARTIFACTS / "zoom-200.png"))
    zoom_to(page, 8.0, columns)
    s = state(page)
    assert (s["smoothing"], s["ctxSmoothing"]) == ("false", False)
    page.screenshot(path=str(ARTIFACTS / "zoom-800.png"))
    # nearest neighbour: runs of 8 equal screen pixels, so few changes along 64 of them
    y = s["ch"] / 2 + 0.5
    row = page.evaluate(ROW, [y, s["cw"] / 2 - 32, s["cw"] / 2 + 32])
    changes = sum(1 for p, q in zip(row, row[1:], strict=False) if p != q)
    assert changes <= 64 / 8 + 1, row
