"""The reading UI in a real browser: headless Chromium (Debian's /usr/bin/chromium) driven by
Playwright against pytest-django's live server. A reader logs in, reads by keyboard only, drags
window/level and sees the pixels change, reloads and resumes, double-submits and stores one
read, and sees the model's output in an AI-aided session only. Screenshots go to
``test-artifacts/``."""

from __future__ import annotations

import re
import time

import pytest

from readers.models import Read, ReadingSession
from readers.services.reading import session_create
from tests.browser.conftest import ARTIFACTS, needs_chromium
from tests.readers import reading_study

pytestmark = [
    needs_chromium,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture
def rs(tmp_path, study, site, external_site, django_user_model, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    return reading_study.build(
        tmp_path=tmp_path, study=study, site=site, external_site=external_site,
        django_user_model=django_user_model, n_internal=6, n_external=2, size=128,
    )


@pytest.fixture
def page(browser, request):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"))
    context.close()
    assert not errors, f"JavaScript errors: {errors}"


def log_in(page, live_server, name):
    page.goto(f"{live_server.url}/read/")
    assert "/accounts/login/" in page.url
    page.fill("input[name=username]", name)
    page.fill("input[name=password]", reading_study.PASSWORDS[name])
    page.press("input[name=password]", "Enter")
    page.wait_for_url(re.compile(r"/read/$"))


def open_session(page, live_server, session):
    page.goto(f"{live_server.url}/read/{session.token}/")
    wait_for_image(page)


CANVAS_SUM = """() => {
  const c = document.getElementById('canvas');
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let s = 0;
  for (let i = 0; i < d.length; i += 4) s += d[i] + 3 * d[i + 1] + 7 * d[i + 2];
  return s;
}"""


def canvas_sum(page) -> int:
    return page.evaluate(CANVAS_SUM)


def wait_for_image(page):
    page.wait_for_function(f"() => ({CANVAS_SUM})() > 0")


def status(page) -> str:
    return page.inner_text("#status-case")


def grade_by_keyboard(page, key: str, ups: int):
    """Class key, ↑ presses for the confidence, Enter: submits and moves on to the next case
    without an answer (the message names the case saved)."""
    page.keyboard.press(key)
    for _ in range(ups):
        page.keyboard.press("ArrowUp")
    page.keyboard.press("Enter")
    page.wait_for_selector("#message:has-text('Saved')")


def test_a_reader_logs_in_and_reads_three_cases_by_keyboard_only(page, live_server, rs):
    session = rs.session("alice")
    log_in(page, live_server, "alice")
    assert session.token in page.content() and rs.session("bob").token not in page.content()
    page.click(f"tr[data-session='{session.token}'] a")
    wait_for_image(page)
    definition_a = rs.study.label_scheme[0]["definition"]
    assert page.is_hidden("#definitions")
    page.keyboard.press("d")  # the class definitions, one key (or click) away
    assert page.is_visible("#definitions") and definition_a in page.inner_text("#definitions")
    page.keyboard.press("d")
    total = session.items.count()
    for n, (key, ups) in enumerate([("2", 1), ("4", 3), ("1", 2)], start=1):
        assert status(page).startswith(f"Case {n} of {total}")
        grade_by_keyboard(page, key, ups)  # Enter submits and moves on
        page.wait_for_function(
            f"() => document.getElementById('status-case').textContent.startsWith('Case {n + 1} ')"
        )
        wait_for_image(page)
    reads = list(Read.objects.filter(item__session=session).order_by("item__position"))
    assert [(r.item.position, r.label, r.stage) for r in reads] == [
        (0, "B", "unaided"), (1, "C2", "unaided"), (2, "A", "unaided"),
    ]
    # ↑ from an empty confidence starts at the middle of 0..100 in steps of 5
    assert [r.confidence for r in reads] == [50, 60, 55]
    assert all(0 < r.time_ms < 120_000 for r in reads)
    assert "3 done" in status(page)


HIDE = """(hidden) => {
  Object.defineProperty(document, 'hidden', {value: hidden, configurable: true});
  document.dispatchEvent(new Event('visibilitychange'));
}"""


def test_time_on_case_pauses_while_the_tab_is_hidden(page, live_server, rs):
    session = rs.session("alice")
    log_in(page, live_server, "alice")
    started = time.monotonic()
    open_session(page, live_server, session)
    page.evaluate(HIDE, True)
    page.wait_for_timeout(2500)
    page.evaluate(HIDE, False)
    grade_by_keyboard(page, "1", 1)
    wall_ms = (time.monotonic() - started) * 1000
    read = Read.objects.get(item__session=session)
    assert 0 < read.time_ms < wall_ms - 2400, (read.time_ms, wall_ms)


def test_dragging_window_level_changes_the_pixels_and_reset_restores_them(page, live_server, rs):
    log_in(page, live_server, "alice")
    open_session(page, live_server, rs.session("alice"))
    before = canvas_sum(page)
    box = page.locator("#canvas").bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    wl_before = page.inner_text("#status-wl")
    page.mouse.move(cx, cy)
    page.mouse.down()
    page.mouse.move(cx - 120, cy + 90, steps=6)
    page.mouse.up()
    page.wait_for_function(f"() => ({CANVAS_SUM})() !== {before}")
    assert page.inner_text("#status-wl") != wl_before
    page.screenshot(path=str(ARTIFACTS / "window-level-dragged.png"))
    page.keyboard.press("r")
    page.wait_for_function(f"() => ({CANVAS_SUM})() === {before}")
    page.keyboard.press("i")
    page.wait_for_function(f"() => ({CANVAS_SUM})() !== {before}")
    page.keyboard.press("i")
    page.wait_for_function(f"() => ({CANVAS_SUM})() === {before}")
    zoom = page.inner_text("#status-wl")
    page.mouse.move(cx, cy)
    page.mouse.wheel(0, -400)
    page.wait_for_function(
        f"() => document.getElementById('status-wl').textContent !== {zoom!r}"
    )
    zoomed = canvas_sum(page)
    assert zoomed != before
    # shift-drag pans: the pixels move, the window does not change
    wl = page.inner_text("#status-wl")
    page.keyboard.down("Shift")
    page.mouse.move(cx, cy)
    page.mouse.down()
    page.mouse.move(cx + 200, cy + 150, steps=5)
    page.mouse.up()
    page.keyboard.up("Shift")
    page.wait_for_function(f"() => ({CANVAS_SUM})() !== {zoomed}")
    assert page.inner_text("#status-wl") == wl
    page.keyboard.press("f")  # fit to screen: back to the first view
    page.wait_for_function(f"() => ({CANVAS_SUM})() === {before}")


def test_the_next_cases_pixels_are_fetched_before_the_reader_moves_on(page, live_server, rs):
    session = rs.session("alice")
    items = list(session.items.order_by("position"))
    pixel_requests = []
    page.on("request", lambda r: "/pixels/" in r.url and pixel_requests.append(r.url))
    log_in(page, live_server, "alice")
    open_session(page, live_server, session)
    page.wait_for_timeout(500)  # the prefetch starts once the shown case is drawn
    assert any(items[1].token in url for url in pixel_requests), pixel_requests
    before = len(pixel_requests)
    page.keyboard.press("n")
    page.wait_for_function(
        "() => document.getElementById('status-case').textContent.startsWith('Case 2 ')"
    )
    wait_for_image(page)
    page.wait_for_timeout(500)
    assert not any(items[1].token in url for url in pixel_requests[before:])  # from the cache
    assert any(items[2].token in url for url in pixel_requests[before:])


def test_a_reload_mid_session_lands_on_the_next_unread_case(page, live_server, rs):
    session = rs.session("alice")
    items = list(session.items.order_by("position"))
    log_in(page, live_server, "alice")
    open_session(page, live_server, session)
    grade_by_keyboard(page, "3", 2)
    page.wait_for_url(re.compile(re.escape(items[1].token)))
    page.reload()
    wait_for_image(page)
    assert status(page).startswith("Case 2 of")
    page.goto(f"{live_server.url}/read/{session.token}/")  # the session's entry point
    wait_for_image(page)
    assert items[1].token in page.url and status(page).startswith("Case 2 of")


def test_a_double_submit_and_a_replayed_request_store_one_read(page, live_server, rs):
    session = rs.session("alice")
    log_in(page, live_server, "alice")
    open_session(page, live_server, session)
    posts = []
    page.on("request", lambda r: r.method == "POST" and posts.append(r))
    page.keyboard.press("2")
    page.keyboard.press("ArrowUp")
    page.dblclick("#submit")
    page.wait_for_selector("#message:has-text('Saved')")
    assert len(posts) >= 1
    first = posts[0]
    replay = page.request.post(
        first.url, data=first.post_data,
        headers={"Content-Type": "application/json", "X-CSRFToken": first.headers["x-csrftoken"]},
    )
    assert replay.status == 200 and replay.json()["created"] is False
    assert Read.objects.filter(item__session=session).count() == 1




def test_an_ai_aided_session_shows_the_model_output_and_an_unaided_one_does_not(
    page, live_server, rs
):
    import numpy as np

    from inference.models import ModelVersion, Prediction
    from studies.storage import media_path

    # Alice reads these cases in one AI-aided session (her unaided session on the same cases
    # would have to come first); bob's unaided session is the one that must not show the model.
    rs.session("alice").delete()
    aided = session_create(
        study=rs.study, reader=rs.users["alice"], name="AI round", condition="ai_aided",
    )
    mv = ModelVersion.objects.create(
        sha256="c" * 64, name="cnn", architecture="resnet18", input_size=224,
        labels=["A", "B", "C1", "C2"], card={}, weights_file="models/c.pt", format="state_dict",
    )
    heat = media_path("heatmaps/c.npy")
    heat.parent.mkdir(parents=True, exist_ok=True)
    yy, xx = np.mgrid[0:32, 0:32]
    np.save(heat, np.exp(-((yy - 16) ** 2 + (xx - 16) ** 2) / 50).astype(np.float16))
    for item in aided.items.all():
        Prediction.objects.create(
            model_version=mv, image=item.image, probabilities=[0.05, 0.15, 0.2, 0.6],
            predicted_label="C2", heatmap_file="heatmaps/c.npy",
        )
    ReadingSession.objects.filter(pk__in=[aided.pk, rs.session("bob").pk]).update(
        model_version=mv
    )
    log_in(page, live_server, "bob")
    open_session(page, live_server, rs.session("bob"))
    assert page.is_hidden("#ai")
    assert "60.0 %" not in page.inner_text("#panel")
    page.context.clear_cookies()
    log_in(page, live_server, "alice")
    open_session(page, live_server, aided)
    assert page.is_visible("#ai")
    assert page.inner_text("#ai-class") == "C2"
    assert "60.0 %" in page.inner_text("#ai-probs")
    without = canvas_sum(page)
    page.keyboard.press("h")
    page.wait_for_function(f"() => ({CANVAS_SUM})() !== {without}")
    page.screenshot(path=str(ARTIFACTS / "ai-aided-heatmap.png"))
    grade_by_keyboard(page, "4", 1)
    read = Read.objects.get(item__session=aided)
    assert (read.stage, read.label) == ("aided", "C2")


def test_a_sequential_session_locks_the_unaided_answer_then_shows_the_ai_output(
    page, live_server, rs
):
    from inference.models import ModelVersion, Prediction

    # Alice reads these cases in one sequential session: her unaided session on the same cases
    # would come first (an AI-showing session waits for the unaided one of its round).
    rs.session("alice").delete()
    sequential = session_create(
        study=rs.study, reader=rs.users["alice"], name="Sequential", condition="sequential_ai",
    )
    mv = ModelVersion.objects.create(
        sha256="d" * 64, name="cnn", architecture="resnet18", input_size=224,
        labels=["A", "B", "C1", "C2"], card={}, weights_file="models/d.pt", format="state_dict",
    )
    for item in sequential.items.all():
        Prediction.objects.create(
            model_version=mv, image=item.image, probabilities=[0.7, 0.1, 0.1, 0.1],
            predicted_label="A",
        )
    ReadingSession.objects.filter(pk=sequential.pk).update(model_version=mv)
    log_in(page, live_server, "alice")
    open_session(page, live_server, sequential)
    assert page.is_hidden("#ai")
    page.keyboard.press("3")
    page.keyboard.press("ArrowUp")
    page.keyboard.press("Enter")
    page.wait_for_selector("#message:has-text('Unaided answer locked')")
    assert page.is_visible("#ai") and page.inner_text("#ai-class") == "A"
    assert "Unaided: C1" in page.inner_text("#answers")
    grade_by_keyboard(page, "1", 2)
    reads = dict(Read.objects.filter(item__session=sequential).values_list("stage", "label"))
    assert reads == {"unaided": "C1", "aided": "A"}


def test_a_reader_marks_a_case_they_cannot_grade_with_a_reason_and_moves_on(
    page, live_server, rs
):
    session = rs.session("alice")
    total = session.items.count()
    log_in(page, live_server, "alice")
    open_session(page, live_server, session)
    assert page.is_hidden("#indeterminate")
    # keyboard only: 0 asks for the reason, 2 picks one, Enter submits
    page.keyboard.press("0")
    assert page.is_visible("#indeterminate")
    page.keyboard.press("2")
    assert page.is_checked("input[name=reason][value='wrong or missing slice']")
    assert page.get_attribute("#classes button[data-code='B']", "aria-checked") == "false"
    page.screenshot(path=str(ARTIFACTS / "cannot-grade-reasons.png"))
    page.keyboard.press("Enter")  # submits and moves on
    page.wait_for_selector("#message:has-text('Saved case 1 as indeterminate')")
    page.wait_for_function(
        "() => document.getElementById('status-case').textContent.startsWith('Case 2 ')"
    )
    wait_for_image(page)
    assert page.is_hidden("#indeterminate")
    assert status(page).startswith(f"Case 2 of {total} · 1 done")
    page.keyboard.press("p")  # back: the answer is shown as given
    page.wait_for_function(
        "() => document.getElementById('status-case').textContent.startsWith('Case 1 ')"
    )
    assert status(page).startswith(f"Case 1 of {total} (indeterminate) · 1 done")
    assert "Unaided: indeterminate (wrong or missing slice)" in page.inner_text("#answers")
    page.screenshot(path=str(ARTIFACTS / "cannot-grade-saved.png"))
    page.keyboard.press("n")
    page.wait_for_function(
        "() => document.getElementById('status-case').textContent.startsWith('Case 2 ')"
    )
    wait_for_image(page)
    # 0 then Esc cancels; keyboard grading works as before
    page.keyboard.press("0")
    assert page.is_visible("#indeterminate")
    page.keyboard.press("Escape")
    assert page.is_hidden("#indeterminate")
    grade_by_keyboard(page, "3", 1)
    page.wait_for_function(
        "() => document.getElementById('status-case').textContent.startsWith('Case 3 ')"
    )
    assert status(page).startswith(f"Case 3 of {total} · 2 done")
    wait_for_image(page)
    # by mouse: "other" needs the reader's own words
    page.click("#cannot-grade")
    page.check("input[name=reason][value='other']")
    page.click("#indeterminate-submit")
    page.wait_for_selector("#message.error:has-text('describe it in Details')")
    page.fill("#reason-details", "contrast injected, not a T1 slice")
    page.keyboard.press("Enter")
    page.wait_for_selector("#message:has-text('Saved case 3 as indeterminate')")
    reads = list(Read.objects.filter(item__session=session).order_by("item__position"))
    assert [
        (r.item.position, r.indeterminate, r.label, r.confidence, r.comment) for r in reads
    ] == [
        (0, True, "", None, "wrong or missing slice"),
        (1, False, "C1", 50, ""),
        (2, True, "", None, "other: contrast injected, not a T1 slice"),
    ]
    assert all(0 < r.time_ms < 120_000 for r in reads)
    page.goto(f"{live_server.url}/read/")
    assert f"3 / {total}" in page.inner_text(f"tr[data-session='{session.token}']")
    page.goto(f"{live_server.url}/read/{session.token}/")  # resumes after the three
    wait_for_image(page)
    assert status(page).startswith(f"Case 4 of {total}")
