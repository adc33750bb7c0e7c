"""No answer is ever lost, in a real browser (Debian's Chromium through Playwright): Enter
submits whatever has focus (a window preset clicked a moment ago included) and moves on; N with
an unsaved answer asks first and keeps it as a draft; reloading or closing the tab with one asks
too and the draft comes back; confidence is typed as digits after the class key; errors name
the field and its range next to the field; "?" lists every key; and a 20-case session is read
with three keys per case. Screenshots go to ``test-artifacts/``."""

from __future__ import annotations

import re
import time

import pytest

from readers.models import Read
from tests.browser import test_reading_browser as reading_browser
from tests.browser.conftest import ARTIFACTS, needs_chromium
from tests.browser.test_reading_browser import log_in, open_session, status, wait_for_image
from tests.readers import reading_study

page, rs = reading_browser.page, reading_browser.rs  # the same fixtures as the reading tests

pytestmark = [
    needs_chromium,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]


def wait_for_case(page, n: int):
    page.wait_for_function(
        f"() => document.getElementById('status-case').textContent.startsWith('Case {n} ')"
    )
    wait_for_image(page)


def checked_class(page) -> str | None:
    return page.evaluate(
        "() => { const b = document.querySelector('#classes [aria-checked=true]');"
        " return b ? b.dataset.code : null; }"
    )


def reads(session) -> list[tuple[int, str, int | None]]:
    return [
        (r.item.position + 1, r.label, r.confidence)
        for r in Read.objects.filter(item__session=session).select_related("item")
        .order_by("item__position", "version")
    ]


def test_a_window_preset_clicked_then_enter_submits_the_answer(page, live_server, rs):
    session = rs.session("alice")
    log_in(page, live_server, "alice")
    open_session(page, live_server, session)
    page.keyboard.press("2")
    page.keyboard.press("7")
    wl = page.inner_text("#status-wl")
    page.click("#presets button:has-text('Narrow')")  # the mouse, then the keyboard again
    page.wait_for_function(f"() => document.getElementById('status-wl').textContent !== {wl!r}")
    assert page.evaluate("document.activeElement.tagName") != "BUTTON"
    page.click("#invert")
    page.keyboard.press("Enter")
    page.wait_for_selector("#message:has-text('Saved case 1 (B, confidence 70)')")
    wait_for_case(page, 2)
    assert reads(session) == [(1, "B", 70)]
    # a button given focus from the keyboard (Tab) does not take Enter either
    page.keyboard.press("3")
    page.keyboard.press("4")
    page.focus("#next")
    page.keyboard.press("Enter")
    page.wait_for_selector("#message:has-text('Saved case 2 (C1, confidence 40)')")
    assert reads(session) == [(1, "B", 70), (2, "C1", 40)]


def test_n_with_an_unsaved_answer_asks_and_the_answer_is_never_lost(page, live_server, rs):
    session = rs.session("alice")
    dialogs = []

    def on_dialog(dialog):
        dialogs.append(dialog.type)
        dialog.accept()

    page.on("dialog", on_dialog)
    log_in(page, live_server, "alice")
    open_session(page, live_server, session)
    page.keyboard.press("3")
    page.keyboard.press("6")
    page.keyboard.press("n")  # the answer is not submitted: asked, not moved
    assert page.is_visible("#leave")
    assert page.inner_text("#leave-answer") == "C1, confidence 60"
    assert status(page).startswith("Case 1 ")
    page.screenshot(path=str(ARTIFACTS / "unsaved-answer-asks.png"))
    page.keyboard.press("Escape")  # stay: the answer is as it was
    assert page.is_hidden("#leave") and checked_class(page) == "C1"
    assert page.input_value("#confidence") == "60"
    page.wait_for_timeout(1500)  # time spent on the case before leaving it counts too
    page.keyboard.press("ArrowRight")
    page.keyboard.press("n")  # go on without submitting: kept as a draft
    wait_for_case(page, 2)
    assert reads(session) == []
    page.keyboard.press("p")  # back: the draft is restored, still not a read
    wait_for_case(page, 1)
    page.wait_for_selector("#message:has-text('Draft restored on case 1')")
    assert checked_class(page) == "C1" and page.input_value("#confidence") == "60"
    page.screenshot(path=str(ARTIFACTS / "draft-restored.png"))
    page.keyboard.press("Enter")
    page.wait_for_selector("#message:has-text('Saved case 1 (C1, confidence 60)')")
    wait_for_case(page, 2)
    assert Read.objects.get(item__session=session, item__position=0).time_ms >= 1500
    page.keyboard.press("1")
    page.keyboard.press("9")
    page.keyboard.press("n")
    page.keyboard.press("Enter")  # in the question: submit it and go on
    wait_for_case(page, 3)
    assert reads(session) == [(1, "C1", 60), (2, "A", 90)]
    # a reload with an unsaved answer asks (beforeunload) and the draft survives it
    page.keyboard.press("4")
    page.keyboard.press("2")
    page.reload()
    wait_for_image(page)
    assert "beforeunload" in dialogs
    page.wait_for_selector("#message:has-text('Draft restored on case 3')")
    assert checked_class(page) == "C2" and page.input_value("#confidence") == "20"
    # the next case by the button, a mouse user's way: asked too
    page.click("#next")
    assert page.is_visible("#leave")
    page.click("#leave-save")
    wait_for_case(page, 4)
    assert reads(session)[-1] == (3, "C2", 20)
    # closing a tab with an unsaved answer asks first
    tab = page.context.new_page()
    tab.on("dialog", on_dialog)
    tab.goto(page.url)
    wait_for_image(tab)
    tab.keyboard.press("2")
    dialogs.clear()
    tab.close(run_before_unload=True)
    deadline = time.monotonic() + 5
    while not dialogs and time.monotonic() < deadline:
        page.wait_for_timeout(50)
    assert dialogs == ["beforeunload"]


def test_digits_after_the_class_key_set_the_confidence(page, live_server, rs):
    session = rs.session("alice")
    page.set_viewport_size({"width": 1024, "height": 768})  # the smallest common screen
    log_in(page, live_server, "alice")
    open_session(page, live_server, session)
    page.keyboard.press("2")
    assert page.is_visible("#entry-hint")
    page.keyboard.press("8")
    assert page.input_value("#confidence") == "80"  # one digit: tenths of 0-100
    page.keyboard.press("5")
    assert page.input_value("#confidence") == "85"
    page.keyboard.press("Backspace")
    assert page.input_value("#confidence") == "80"
    page.screenshot(path=str(ARTIFACTS / "confidence-digits.png"))
    box = page.locator("#submit").bounding_box()  # the answer fits the panel without scrolling
    assert box["y"] + box["height"] <= 768, box
    page.keyboard.press("Escape")  # done with digits: the next digit is a class again
    page.keyboard.press("4")
    assert checked_class(page) == "C2"
    for key in "100":
        page.keyboard.press(key)
    assert page.input_value("#confidence") == "100"
    page.keyboard.press("Enter")
    page.wait_for_selector("#message:has-text('Saved case 1 (C2, confidence 100)')")
    wait_for_case(page, 2)
    page.keyboard.press("1")
    page.keyboard.press("0")
    assert page.input_value("#confidence") == "0"  # zero is a confidence, not "cannot grade"
    assert page.is_hidden("#indeterminate")
    page.keyboard.press("ArrowUp")  # arrows still step
    assert page.input_value("#confidence") == "5"
    page.keyboard.press("Enter")
    wait_for_case(page, 3)
    page.keyboard.press("3")
    # the slider, a mouse user's way
    box = page.locator("#confidence-slider").bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.25, box["y"] + box["height"] / 2)
    slid = int(page.input_value("#confidence"))
    assert 15 <= slid <= 35
    page.keyboard.press("Enter")
    wait_for_case(page, 4)
    assert reads(session) == [(1, "C2", 100), (2, "A", 5), (3, "C1", slid)]


def test_an_invalid_confidence_is_named_next_to_the_field(page, live_server, rs):
    session = rs.session("alice")
    log_in(page, live_server, "alice")
    open_session(page, live_server, session)
    page.keyboard.press("Enter")  # nothing given: both fields say what they need
    assert "Class: choose one of A, B, C1, C2" in page.inner_text("#error-class")
    assert "Confidence: give 0–100" in page.inner_text("#error-confidence")
    page.keyboard.press("2")
    page.keyboard.press("c")  # into the box
    page.keyboard.type("150")
    page.keyboard.press("Enter")
    assert page.inner_text("#error-confidence") == (
        "Confidence must be a whole number 0–100 (got 150)."
    )
    assert page.is_hidden("#error-class")
    # the server's range wins where the page is out of date (the coordinator changed it)
    rs.study.confidence_max = 50
    rs.study.save(update_fields=["confidence_max"])
    page.fill("#confidence", "80")
    page.keyboard.press("Enter")
    page.wait_for_selector("#error-confidence:has-text('from 0 to 50 (got 80)')")
    assert page.inner_text("#error-confidence") == (
        "Confidence must be a whole number from 0 to 50 (got 80)."
    )
    assert "Not saved" in page.inner_text("#message")
    assert checked_class(page) == "B" and page.input_value("#confidence") == "80"  # kept
    page.screenshot(path=str(ARTIFACTS / "confidence-error-next-to-field.png"))
    assert reads(session) == []
    page.fill("#confidence", "45")
    page.keyboard.press("Enter")
    wait_for_case(page, 2)
    assert reads(session) == [(1, "B", 45)]


def test_question_mark_shows_every_key(page, live_server, rs):
    log_in(page, live_server, "alice")
    open_session(page, live_server, rs.session("alice"))
    assert page.is_hidden("#help")
    page.keyboard.press("?")
    assert page.is_visible("#help")
    text = page.inner_text("#help")
    for key in ("Enter", "Backspace", "Esc", "N", "P", "D", "W", "R", "I", "F", "H", "C", "?"):
        assert re.search(rf"(^|\W){re.escape(key)}(\W|$)", text), key
    assert "1–4" in text.replace(" ", "")  # the study's four classes
    page.screenshot(path=str(ARTIFACTS / "keys-overlay.png"))
    page.keyboard.press("2")  # keys do nothing behind the list
    page.keyboard.press("Escape")
    assert page.is_hidden("#help") and checked_class(page) is None
    page.click("#help-toggle")
    assert page.is_visible("#help")
    page.click("#help-close")
    assert page.is_hidden("#help")


@pytest.fixture
def rs20(tmp_path, study, site, external_site, django_user_model, settings):
    """20 cases to read: 18 internal test cases (2 more go to train) and 2 external."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    return reading_study.build(
        tmp_path=tmp_path, study=study, site=site, external_site=external_site,
        django_user_model=django_user_model, n_internal=20, n_external=2, size=128,
    )


def test_a_20_case_session_by_keyboard_only_at_three_keys_per_case(page, live_server, rs20):
    session = rs20.session("alice")
    assert session.items.count() == 20
    log_in(page, live_server, "alice")
    open_session(page, live_server, session)
    presses = []

    def press(key):
        presses.append(key)
        page.keyboard.press(key)

    expected = []
    times = []
    for n in range(1, 21):
        assert status(page).startswith(f"Case {n} of 20")
        cls, digit = 1 + n % 4, n % 10
        started = time.monotonic()
        press(str(cls))  # class
        press(str(digit))  # confidence: one digit, tenths (7 -> 70)
        press("Enter")  # submit and move on
        if n < 20:
            wait_for_case(page, n + 1)
        else:
            page.wait_for_selector("#review")  # the last Enter: the review of the session
        times.append(time.monotonic() - started)
        expected.append((n, ["A", "B", "C1", "C2"][cls - 1], 10 * digit))
    assert len(presses) == 3 * 20
    assert reads(session) == expected
    assert re.search(rf"/read/{session.token}/$", page.url)
    page.screenshot(path=str(ARTIFACTS / "keyboard-session-review.png"), full_page=True)
    rows = page.locator("#review tbody tr")
    assert rows.count() == 20
    times.sort()
    print(f"\n20 cases, 3 keys each: median {1000 * times[10]:.0f} ms, "
          f"max {1000 * times[-1]:.0f} ms from the class key to the next case drawn")


def test_keys_typed_ahead_while_the_next_case_loads_go_to_that_case(page, live_server, rs):
    session = rs.session("alice")
    log_in(page, live_server, "alice")
    open_session(page, live_server, session)
    page.route("**/next/", lambda route: (time.sleep(0.4), route.continue_()))  # a slow network
    for key in ("2", "8", "Enter", "3", "7", "Enter", "1", "0", "5", "Enter"):
        page.keyboard.press(key)  # no waiting: a fast reader types on
    wait_for_case(page, 4)
    assert reads(session) == [(1, "B", 80), (2, "C1", 70), (3, "A", 5)]
