"""The study report in a real browser: headless Chromium (Debian's /usr/bin/chromium) driven by
Playwright against pytest-django's live server. A researcher logs in through the login form and
sees a built report with every figure loaded, its numbers and its PDF; builds one with the
page's button (inline, and queued for a worker while the page shows its progress and refreshes
itself); a reader gets a 404 for the report, its figures and its PDF. Screenshots go to
``test-artifacts/``.

Figures are checked generically, against the report's record (``report.figures``): whatever
figures a report holds, each one must be on the page, loaded and visible."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.urls import reverse

from reports.models import StudyReport
from reports.pdf import fmt_ci, fmt_num
from reports.services import build
from tests.browser.conftest import ARTIFACTS, needs_chromium
from tests.reports import report_study

N_BOOT = 30
BUILD_TIMEOUT_MS = 120_000  # the page's button builds with the default 2000 resamples
# Figures every report of a study with readers, a model and reading times holds, and how their
# titles (the images' alt text) read; any further kind is checked like these, just not named.
NAMED_KINDS = {
    "roc": r"\bROC\b",
    "confusion": r"(?i)\bconfusion matri(x|ces)\b",
    "forest": r"(?i)\breader - model differences\b",
    "reading_time": r"(?i)\breading times?\b",
}

pytestmark = [
    needs_chromium,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture
def rs(built_study):
    built_study.study.synthetic = True  # the page says so: checked below
    built_study.study.save(update_fields=["synthetic"])
    return built_study


@pytest.fixture
def built(rs):
    return build.study_report_build(study=rs.study, n_bootstrap=N_BOOT, seed=4)


@pytest.fixture
def page(browser, request):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    context.close()
    assert not errors, f"JavaScript errors: {errors}"


@pytest.fixture
def failed_requests(page):
    """Requests of the page that failed or were answered with an error (a figure that cannot
    load is one), except Chromium's own ask for /favicon.ico, which the site does not serve."""
    failed = []
    page.on("response", lambda r: r.status >= 400 and not r.url.endswith("/favicon.ico")
            and failed.append((r.status, r.url)))
    page.on("requestfailed", lambda r: failed.append((r.failure, r.url)))
    return failed


@pytest.fixture
def inline_tasks():
    """Tasks run inline in the web process, as the embedded default does without Redis."""
    from config.celery import app

    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield app
    app.conf.task_always_eager = before


@pytest.fixture
def queued_tasks():
    """Tasks go to the broker (Redis with REDIS_URL, else the in-process memory transport) and
    wait there for a worker; the test plays the worker. The queue starts and ends empty."""
    from config.celery import app

    def purge():
        with app.connection_for_write() as conn:
            conn.default_channel.queue_purge("default")

    before = app.conf.task_always_eager
    app.conf.task_always_eager = False
    purge()
    yield app
    purge()
    app.conf.task_always_eager = before


def run_the_queued_task(app) -> tuple[str, dict, str]:
    """What a worker does: take the one message off the ``default`` queue and run its task.
    Returns the task's name, its keyword arguments and what it returned."""
    with app.connection_for_read() as conn:
        inbox = conn.SimpleQueue("default")
        try:
            message = inbox.get(timeout=10)
            name = message.headers["task"]
            args, kwargs, _ = message.decode()
            result = app.tasks[name].apply(args=args, kwargs=kwargs,
                                           task_id=message.headers["id"])
            message.ack()
            with pytest.raises(inbox.Empty):  # one click, one task
                inbox.get(block=False)
        finally:
            inbox.close()
    return name, kwargs, result.get()


def log_in(page, live_server, name, path):
    """Open ``path``, land on the login form, log in as ``name`` and come back to ``path``."""
    page.goto(f"{live_server.url}{path}")
    assert "/accounts/login/" in page.url
    page.fill("input[name=username]", name)
    page.fill("input[name=password]", report_study.PASSWORDS[name])
    page.press("input[name=password]", "Enter")
    page.wait_for_url(re.compile(re.escape(path) + "$"))


FIGURES = """() => Array.from(document.querySelectorAll('main img')).map(img => {
  const box = img.getBoundingClientRect();
  return {src: img.getAttribute('src'), alt: img.alt, complete: img.complete,
          width: img.naturalWidth, height: img.naturalHeight,
          boxWidth: box.width, boxHeight: box.height};
})"""
ALL_COMPLETE = "() => Array.from(document.querySelectorAll('main img')).every(i => i.complete)"


def load_every_figure(page) -> None:
    """The figures load lazily: scroll past each as a reader would, until all have come."""
    images = page.locator("main img")
    for i in range(images.count()):
        images.nth(i).scroll_into_view_if_needed()
    page.wait_for_function(ALL_COMPLETE)


def assert_every_figure_is_loaded_and_visible(page, report: StudyReport) -> None:
    """Each figure the report lists is one <img> on the page, decoded (a broken URL gives a
    zero natural size) and visible; the page shows nothing else as an image."""
    images = page.locator("main img")
    assert images.count() == len(report.figures) > 0
    load_every_figure(page)
    shown = page.evaluate(FIGURES)
    for img in shown:
        assert img["width"] > 0 and img["height"] > 0, f"figure not loaded: {img}"
        assert img["boxWidth"] > 0 and img["boxHeight"] > 0, f"figure not visible: {img}"
    for i in range(images.count()):
        assert images.nth(i).is_visible(), shown[i]
    slug = report.study.slug
    expected = {reverse("reports:figure", args=[slug, report.pk, f["name"]]): f["title"]
                for f in report.figures}
    assert {img["src"]: img["alt"] for img in shown} == expected
    kinds = {f["kind"] for f in report.figures}
    assert set(NAMED_KINDS) <= kinds, kinds
    for kind, title in NAMED_KINDS.items():
        alts = [f["title"] for f in report.figures if f["kind"] == kind]
        assert alts and all(re.search(title, alt) for alt in alts), (kind, alts)


def table_cells(page, group: str) -> dict[str, dict[str, str]]:
    """The group's rater table as shown: rater -> {column header: cell text}."""
    rows = page.evaluate("""(group) => {
      const table = document.querySelector(`section[id="group-${group}"] table.numbers`);
      return Array.from(table.rows).map(r => Array.from(r.cells).map(c => c.innerText.trim()));
    }""", group)
    header, body = rows[0], rows[1:]
    return {row[0]: dict(zip(header, row, strict=True)) for row in body}


def assert_the_numbers_are_the_stored_result(page, report: StudyReport) -> None:
    """Every rater's accuracy and quadratic kappa, with CIs, as in ``report.result``."""
    groups = report.result["site_groups"]
    assert {g["name"] for g in groups} >= {"all", "internal", "external"}
    for group in groups:
        shown = table_cells(page, group["name"])
        raters = (*group["models"], *group["readers"])
        assert any(r["reader"].startswith("model:") for r in raters)
        for r in raters:
            acc, k = r["accuracy"], r["kappa"]["quadratic"]
            assert shown[r["reader"]]["accuracy [95% CI]"] == (
                f"{fmt_num(acc['accuracy'])} {fmt_ci(acc['ci'])}"), (group["name"], r["reader"])
            assert shown[r["reader"]]["kappa (quadratic) [95% CI]"] == (
                f"{fmt_num(k['kappa'])} {fmt_ci(k['ci'])}"), (group["name"], r["reader"])


def assert_the_report_is_shown(page, report: StudyReport, failed_requests) -> None:
    report.refresh_from_db()
    assert report.status == StudyReport.Status.DONE
    assert page.inner_text("#status") == "done"
    assert page.get_attribute("progress", "value") == "100"
    assert page.locator("meta[http-equiv=refresh]").count() == 0  # nothing left to wait for
    assert page.locator("text=SYNTHETIC data (phantom images, not patients).").is_visible()
    assert "Data: SYNTHETIC (phantom images, not patients)." in page.inner_text("#design")
    assert f"{report.n_bootstrap} bootstrap resamples" in page.inner_text("main")
    assert report.input_hash in page.inner_text("main")
    assert_the_numbers_are_the_stored_result(page, report)
    assert_every_figure_is_loaded_and_visible(page, report)
    assert not failed_requests, failed_requests


def screenshot_the_figures(page, request) -> None:
    """The first figure section, scrolled into view, as the reader sees it."""
    heading = page.locator("main .figures").first.locator("xpath=preceding-sibling::h3[1]")
    heading.evaluate("h => h.scrollIntoView({block: 'start'})")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{request.node.name}-figures.png"))


def test_a_researcher_sees_a_built_report_with_every_figure_loaded_and_its_pdf(
    page, failed_requests, live_server, rs, built, request
):
    path = reverse("reports:study", args=[rs.study.slug])
    log_in(page, live_server, "alice", path)
    assert page.locator("h1").inner_text() == f"Study report: {rs.study.title}"
    assert page.locator("#no-report").count() == 0
    assert f"#{built.pk}," in page.inner_text("main")
    assert_the_report_is_shown(page, built, failed_requests)
    screenshot_the_figures(page, request)
    with page.expect_download() as download:
        page.click("#pdf")
    pdf = Path(download.value.path()).read_bytes()
    assert pdf.startswith(b"%PDF-") and b"%%EOF" in pdf[-64:]
    assert download.value.suggested_filename == (
        f"{rs.study.slug}-report-{built.input_hash[:12]}.pdf")


def test_the_build_button_builds_the_report_inline_and_the_page_shows_it(
    page, failed_requests, live_server, rs, inline_tasks, request
):
    path = reverse("reports:study", args=[rs.study.slug])
    log_in(page, live_server, "alice", path)
    assert page.locator("#no-report").is_visible()
    assert page.locator("main img").count() == 0
    page.click("button:has-text('Build report')")
    page.wait_for_url(re.compile(r"/reports/onfh/\d+/$"), timeout=BUILD_TIMEOUT_MS)
    report = StudyReport.objects.get()
    assert page.url == f"{live_server.url}{reverse('reports:detail', args=['onfh', report.pk])}"
    assert report.created_by == rs.users["alice"] and report.n_bootstrap == 2000
    assert_the_report_is_shown(page, report, failed_requests)
    screenshot_the_figures(page, request)
    # the study page now shows the same report
    page.goto(f"{live_server.url}{path}")
    assert page.inner_text("#status") == "done" and report.input_hash in page.inner_text("main")
    load_every_figure(page)  # for the full-page screenshot


def test_a_queued_report_shows_its_progress_and_the_page_shows_it_once_a_worker_built_it(
    page, failed_requests, live_server, rs, queued_tasks, request
):
    log_in(page, live_server, "alice", reverse("reports:study", args=[rs.study.slug]))
    page.click("button:has-text('Build report')")
    page.wait_for_url(re.compile(r"/reports/onfh/\d+/$"))
    report = StudyReport.objects.get()
    assert report.status == StudyReport.Status.QUEUED  # no worker has taken it yet
    assert page.inner_text("#status").startswith("queued")
    assert "this page refreshes every 3 s" in page.inner_text("#status")
    assert page.get_attribute("progress", "value") == "0"
    assert page.get_attribute("meta[http-equiv=refresh]", "content") == "3"
    assert page.locator("#pdf").count() == 0 and page.locator("main img").count() == 0
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{request.node.name}-queued.png"), full_page=True)
    # The page refreshes itself while the worker builds. Playwright serves an intercepted
    # request only when this thread calls it again, so the refreshes wait until the worker is
    # done: the live server never uses the in-memory SQLite connection it shares with this
    # thread at the same time as the worker does.
    page.route(re.compile(r"/reports/"), lambda route: route.continue_())
    assert run_the_queued_task(queued_tasks) == (
        "reports.build_study_report", {"report_id": report.pk}, "done")
    page.wait_for_selector("#pdf", timeout=BUILD_TIMEOUT_MS)  # the page's own refresh
    assert page.url.endswith(reverse("reports:detail", args=["onfh", report.pk]))
    page.unroute(re.compile(r"/reports/"))
    assert_the_report_is_shown(page, report, failed_requests)
    screenshot_the_figures(page, request)


def test_a_reader_gets_a_404_for_the_report_its_figures_and_its_pdf(
    page, live_server, rs, built, request
):
    slug = rs.study.slug
    urls = [reverse("reports:study", args=[slug]),
            reverse("reports:detail", args=[slug, built.pk]),
            reverse("reports:pdf", args=[slug, built.pk]),
            *(reverse("reports:figure", args=[slug, built.pk, f["name"]])
              for f in built.figures[:2])]
    log_in(page, live_server, "bob", "/read/")
    assert page.locator("tr[data-session]").count() == 1  # bob is a reader of this study
    for url in urls:
        response = page.goto(f"{live_server.url}{url}")
        assert response.status == 404, url
        assert built.input_hash not in page.content() and rs.study.title not in page.content()
        if url == urls[0]:
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / f"{request.node.name}-reader.png"))
    # the same URLs, from the same browser, work for the study's researcher
    page.context.clear_cookies()
    log_in(page, live_server, "alice", urls[0])
    for url in urls[1:2] + urls[3:]:
        assert page.request.get(f"{live_server.url}{url}").status == 200, url
    pdf = page.request.get(f"{live_server.url}{urls[2]}")
    assert pdf.status == 200 and pdf.body().startswith(b"%PDF-")
    load_every_figure(page)  # for the full-page screenshot
