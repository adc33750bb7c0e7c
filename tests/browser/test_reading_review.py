"""The review step in a real browser: the last answer of a session leads to the list of the
reader's own answers (class, confidence, indeterminate with its reason), a case number jumps to
that case, and a revision there follows the study's rule and comes back to the list."""

from __future__ import annotations

import re

import pytest

from readers.models import Read
from tests.browser import test_reading_browser as reading_browser
from tests.browser.conftest import ARTIFACTS, needs_chromium
from tests.browser.test_reading_browser import log_in, open_session, status, wait_for_image

pytestmark = [
    needs_chromium,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]

page, rs = reading_browser.page, reading_browser.rs  # the same fixtures as the reading tests


def wait_for_case(page, n: int):
    page.wait_for_function(
        f"() => document.getElementById('status-case').textContent.startsWith('Case {n} ')"
    )
    wait_for_image(page)


def review(page) -> list[str]:
    return [" ".join(t.split()) for t in page.locator("#review tbody tr").all_inner_texts()]


def read_all_by_keyboard(page, total: int):
    """Case 2 cannot be graded (reason typed with markup in it); the others get class n and
    confidence 10 n."""
    for n in range(1, total + 1):
        if n == 2:
            page.keyboard.press("0")
            page.keyboard.press("4")  # "other": the details box takes the words
            page.keyboard.type("<b>motion</b> & wrap-around")
        else:
            page.keyboard.press(str(1 + (n - 1) % 4))
            page.keyboard.press(str(n))
        page.keyboard.press("Enter")
        if n < total:
            wait_for_case(page, n + 1)
    page.wait_for_selector("#review")


def test_the_review_lists_the_answers_and_a_case_number_jumps_to_the_case(
    page, live_server, rs
):
    session = rs.session("alice")
    total = session.items.count()
    log_in(page, live_server, "alice")
    open_session(page, live_server, session)
    read_all_by_keyboard(page, total)
    rows = review(page)
    assert rows[0] == "Case 1 A · confidence 10"
    assert rows[1] == "Case 2 indeterminate (other: <b>motion</b> & wrap-around)"  # as text
    assert rows[2] == "Case 3 C1 · confidence 30"
    assert len(rows) == total
    assert "allows no revisions" in page.inner_text("main")
    page.screenshot(path=str(ARTIFACTS / "review-after-session.png"), full_page=True)
    page.click("#review a:text-is('Case 3')")
    wait_for_case(page, 3)
    assert "Unaided: C1, confidence 30" in page.inner_text("#answers")
    assert page.text_content("#stage-title") == "Answered"  # no revisions in this study
    page.keyboard.press("Enter")  # nothing left to give: back to the review
    page.wait_for_selector("#review")
    assert re.search(rf"/read/{session.token}/$", page.url)
    assert Read.objects.filter(item__session=session).count() == total


def test_a_revision_from_the_review_is_a_new_version_shown_in_the_list(page, live_server, rs):
    rs.study.revisions_allowed = True
    rs.study.save(update_fields=["revisions_allowed"])
    session = rs.session("alice")
    total = session.items.count()
    log_in(page, live_server, "alice")
    open_session(page, live_server, session)
    read_all_by_keyboard(page, total)
    assert "a changed answer is stored as a new version" in page.inner_text("main")
    page.click("#review a:text-is('Case 3')")
    wait_for_case(page, 3)
    assert page.text_content("#stage-title") == "Revise your answer (unaided)"
    assert status(page).startswith(f"Case 3 of {total}")
    page.keyboard.press("4")
    page.keyboard.press("9")
    page.keyboard.press("5")
    page.keyboard.press("Enter")
    page.wait_for_selector("#review")
    assert review(page)[2] == "Case 3 C2 · confidence 95 (revised, version 2)"
    versions = list(
        Read.objects.filter(item__session=session, item__position=2)
        .order_by("version").values_list("version", "label", "confidence")
    )
    assert versions == [(1, "C1", 30), (2, "C2", 95)]
    page.screenshot(path=str(ARTIFACTS / "review-after-revision.png"), full_page=True)
