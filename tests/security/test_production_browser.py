"""S16 (issue 15), the production smoke test: gunicorn started as docker-compose starts it
(production mode, collectstatic, WhiteNoise, the compose defaults), a reader logs in in Chromium,
the viewer loads viewer.js and the reader grades a case — with the Content-Security-Policy on and
not one violation reported. A script injected into the page afterwards is blocked and reported,
so the watch for violations is shown to see them."""

from __future__ import annotations

import re

import pytest
from django.db import connection

from readers.models import Read
from tests.browser import conftest as browser_tests
from tests.browser.conftest import ARTIFACTS, needs_chromium
from tests.readers import reading_study
from tests.security.production_server import production_server

browser = browser_tests.browser  # the browser tests' Chromium fixture, here too

pytestmark = [needs_chromium, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

# Every CSP violation the page sees, whatever reports it (installed before any page script).
WATCH = """
window.__violations = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__violations.push(`${e.violatedDirective} ${e.blockedURI}`);
});
"""


def _database_url() -> str:
    """The test database, for the gunicorn process (transaction=True: the rows are committed)."""
    db = connection.settings_dict
    if db["ENGINE"].endswith("postgresql"):
        auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
        return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    name = str(db["NAME"])
    if "memory" in name:
        pytest.skip("gunicorn cannot share an in-memory SQLite database")
    return f"sqlite:///{name}"


@pytest.fixture
def rs(tmp_path, study, site, external_site, django_user_model):
    # Django's default password hasher: gunicorn checks the password with its own settings.
    return reading_study.build(
        tmp_path=tmp_path, study=study, site=site, external_site=external_site,
        django_user_model=django_user_model, n_internal=3, n_external=1, size=128,
    )


def test_a_reader_grades_a_case_in_production_mode_under_the_csp(browser, rs, tmp_path,
                                                                   settings, request):
    session = rs.session("alice")
    with production_server(
        tmp_path / "server", DATABASE_URL=_database_url(), MEDIA_ROOT=str(settings.MEDIA_ROOT),
    ) as base:
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        context.add_init_script(WATCH)
        page = context.new_page()
        console, errors, scripts = [], [], {}
        page.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("response", lambda r: scripts.setdefault(r.url, r.status)
                if r.url.endswith(".js") else None)
        try:
            page.goto(f"{base}/read/")
            assert "/accounts/login/" in page.url
            page.fill("input[name=username]", "alice")
            page.fill("input[name=password]", reading_study.PASSWORDS["alice"])
            page.press("input[name=password]", "Enter")
            page.wait_for_url(re.compile(r"/read/$"))
            response = page.goto(f"{base}/read/{session.token}/")
            assert "script-src 'self'" in response.headers["content-security-policy"]
            page.wait_for_selector("#canvas")
            page.wait_for_function(
                "() => { const c = document.getElementById('canvas');"
                " return c.width > 0 && c.getContext('2d').getImageData("
                "0, 0, c.width, c.height).data.some((v, i) => i % 4 === 0 && v > 0); }")
            assert scripts.get(f"{base}/static/readers/viewer.js") == 200, scripts
            page.keyboard.press("2")
            page.keyboard.press("ArrowUp")
            page.keyboard.press("Enter")
            page.wait_for_selector("#message:has-text('Saved')")
            read = Read.objects.get(item__session=session)
            assert (read.label, read.stage) == ("B", "unaided")
            assert page.evaluate("window.__violations") == []
            assert not [m for m in console if "Content Security Policy" in m], console
            assert not errors, errors
            # The watch sees a violation when there is one: an injected inline script is
            # blocked (it does not run) and reported.
            page.evaluate("""() => { const s = document.createElement('script');
                s.textContent = 'window.__ran = true'; document.body.appendChild(s); }""")
            page.wait_for_function("() => window.__violations.length > 0")
            assert page.evaluate("window.__ran === undefined")
            assert page.evaluate("window.__violations")[0].startswith("script-src")
        finally:
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"))
            context.close()
