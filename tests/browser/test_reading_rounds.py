"""Rounds and washout in a real browser (issue 11, item 2): a round-2 session planned ahead is
shown as waiting on the worklist and cannot be opened; the reader finishes round 1 by keyboard;
the worklist then gives the date the washout ends; with the clock moved past it (time-machine
moves the clock of the test process, the live server's included) round 2 opens. Screenshots go
to ``test-artifacts/``."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine

from readers import selectors
from readers.services.reading import session_create
from tests.browser import test_reading_browser as reading_browser
from tests.browser.conftest import ARTIFACTS, needs_chromium
from tests.browser.test_reading_browser import log_in, open_session, status
from tests.browser.test_reading_keyboard import wait_for_case

page, rs = reading_browser.page, reading_browser.rs  # the same fixtures as the reading tests

pytestmark = [
    needs_chromium,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]


def _worklist_row(page, live_server, session) -> str:
    page.goto(f"{live_server.url}/read/")
    return page.locator(f"tr[data-session='{session.token}']").inner_text()


def test_a_planned_ahead_ai_round_opens_after_round_1_and_the_washout(page, live_server, rs):
    round_1 = rs.session("alice")
    round_2 = session_create(study=rs.study, reader=rs.users["alice"], name="Round 2 (AI-aided)",
                             condition="ai_aided", round=2)
    log_in(page, live_server, "alice")
    row = _worklist_row(page, live_server, round_2)
    assert "opens when you have finished" in row and round_1.name in row
    page.screenshot(path=str(ARTIFACTS / "rounds-waiting-for-round-1.png"), full_page=True)
    page.goto(f"{live_server.url}/read/{round_2.token}/")
    assert "not open yet" in page.title() and "round 2" in page.content()

    open_session(page, live_server, round_1)  # round 1 by keyboard: class, digit, Enter
    n = round_1.items.count()
    for k in range(1, n + 1):
        assert status(page).startswith(f"Case {k} of {n}")
        for key in (str(1 + k % 4), "7", "Enter"):
            page.keyboard.press(key)
        if k < n:
            wait_for_case(page, k + 1)
    page.wait_for_selector("#review")

    opens_at = selectors.session_gate(session=round_2).opens_at
    assert opens_at is not None
    row = _worklist_row(page, live_server, round_2)
    assert f"opens on {opens_at:%Y-%m-%d %H:%M} UTC" in row
    page.screenshot(path=str(ARTIFACTS / "rounds-washout-date.png"), full_page=True)
    page.goto(f"{live_server.url}/read/{round_2.token}/")
    assert "not open yet" in page.title()

    with time_machine.travel(opens_at - timedelta(minutes=5), tick=True):
        page.context.clear_cookies()  # weeks later: a new login
        log_in(page, live_server, "alice")
        assert "opens on" in _worklist_row(page, live_server, round_2)
    with time_machine.travel(opens_at + timedelta(minutes=1), tick=True):
        page.context.clear_cookies()
        log_in(page, live_server, "alice")
        row = _worklist_row(page, live_server, round_2)
        assert "start" in row and "opens" not in row
        page.screenshot(path=str(ARTIFACTS / "rounds-round-2-open.png"), full_page=True)
        open_session(page, live_server, round_2)
        assert status(page).startswith("Case 1 of ")


def test_the_researcher_sees_every_readers_progress_by_round(page, live_server, rs):
    round_1 = rs.session("alice")
    session_create(study=rs.study, reader=rs.users["alice"], name="Round 2 (AI-aided)",
                   condition="ai_aided", round=2)
    log_in(page, live_server, "alice")
    open_session(page, live_server, round_1)
    for key in ("2", "6", "Enter"):  # one case read
        page.keyboard.press(key)
    wait_for_case(page, 2)
    page.context.clear_cookies()
    page.goto(f"{live_server.url}/accounts/login/?next=/studies/{rs.study.slug}/progress/")
    page.fill("input[name=username]", "rachel")
    page.fill("input[name=password]", "pw-rachel-research-3")
    page.press("input[name=password]", "Enter")
    page.wait_for_selector("table.progress-table")
    text = page.locator("table.progress-table").inner_text()
    n = round_1.items.count()
    assert f"1 / {n}" in text and "reading" in text
    assert "waiting" in text and "opens when alice has finished" in text
    page.screenshot(path=str(ARTIFACTS / "progress-page.png"), full_page=True)
