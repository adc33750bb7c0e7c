"""Uploading a site's DICOM in Chromium (issue 12, item 4): the study admin picks a zip of
phantom DICOM files (:func:`inference.engine.phantom_dicom.write_phantom_study`) on the site's
upload page; the browser sends it in chunks (made small here, so that there are several) with a
progress bar that reaches 100 %; the import runs (inline, as without Redis) and the page shows
the per-file result table, whose CSV the admin downloads. Screenshots go to
``test-artifacts/``."""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

import pytest
from django.urls import reverse

from inference.engine.phantom_dicom import write_phantom_study
from studies.models import Image, Membership, StudySite, Upload
from tests.browser.conftest import ARTIFACTS, needs_chromium

pytestmark = [needs_chromium, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

CHUNK = 64 * 1024


@pytest.fixture
def inline_tasks():
    from config.celery import app

    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = before


@pytest.fixture
def page(browser, request):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert not errors, f"JavaScript errors: {errors}"


@pytest.fixture
def phantom_zip(tmp_path) -> Path:
    """A zip of the phantom study's DICOM files, and its manifest (not DICOM); the files stay
    unzipped in ``tmp_path/phantom``."""
    folder = tmp_path / "phantom"
    write_phantom_study(folder, patients=2, sites=1, external_sites=0, seed=3)
    path = tmp_path / "site1 export.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for file in sorted((folder / "SITE1").rglob("*.dcm")):
            archive.write(file, f"SITE1/{file.relative_to(folder / 'SITE1')}")
        archive.write(folder / "manifest.csv", "manifest.csv")  # not DICOM: rejected
    return path


def test_the_admin_uploads_a_zip_in_chunks_and_downloads_the_results(
        page, live_server, study, site, django_user_model, settings, phantom_zip, inline_tasks):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    StudySite.objects.create(study=study, site=site)
    alice = django_user_model.objects.create_user("alice", password="alice-pw")
    Membership.objects.create(study=study, user=alice, role="admin")
    path = reverse("uploads:upload", args=[study.slug, site.code])
    page.goto(f"{live_server.url}/accounts/login/?next={path}")
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", "alice-pw")
    page.press("input[name=password]", "Enter")
    page.wait_for_url(f"**{path}")

    chunks: list[str] = []
    page.on("request", lambda r: chunks.append(r.url) if "/chunk/?" in r.url else None)
    page.eval_on_selector("#upload-form", f"f => f.dataset.chunkBytes = '{CHUNK}'")
    page.set_input_files("#pick-files", str(phantom_zip))
    page.click("#upload-start")
    page.wait_for_selector("#upload-results table.results-table", timeout=60_000)

    size = phantom_zip.stat().st_size
    assert len(chunks) == -(-size // CHUNK) >= 3  # every chunk once, in order
    assert page.eval_on_selector("#overall-progress", "p => p.value") == 100
    assert page.inner_text("#overall-text").startswith("100 %")
    assert page.eval_on_selector("#upload-files progress", "p => p.value") == 100
    rows = page.locator("#upload-results table.results-table tbody tr")
    results = [rows.nth(i).inner_text().split("\t") for i in range(rows.count())]
    statuses = sorted(r[1] for r in results)
    assert statuses == ["imported"] * 4 + ["rejected"], results
    assert any(r[0] == "site1 export.zip/manifest.csv" and r[2] != "—" for r in results)
    # Four files, three or four cases: a hip's two images of one series are one case.
    n_cases = Image.objects.filter(study=study, hip__patient__site=site).count()
    assert n_cases in (3, 4)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "upload-zip-results.png"), full_page=True)

    with page.expect_download() as download:
        page.click("#upload-results a[download]")
    upload = Upload.objects.get()
    assert download.value.suggested_filename == f"{study.slug}-upload-{upload.pk}-results.csv"
    table = list(csv.reader(io.StringIO(Path(download.value.path()).read_text())))
    assert table[0] == ["file", "status", "reason"]
    assert sorted(r[1] for r in table[1:]) == statuses

    # The sites page counts the upload and the cases it brought.
    page.goto(f"{live_server.url}{reverse('uploads:sites', args=[study.slug])}")
    row = page.locator("tr[data-site='SITE1']")
    assert row.locator(".n-uploads").inner_text() == "1"
    assert row.locator(".n-cases").inner_text() == str(n_cases)
    page.screenshot(path=str(ARTIFACTS / "upload-sites.png"), full_page=True)

    # The same files again, as a folder: sent with their paths in it, reported as duplicates.
    page.goto(f"{live_server.url}{path}")
    folder = phantom_zip.parent / "phantom" / "SITE1"
    page.set_input_files("#pick-folder", str(folder))
    page.click("#upload-start")
    page.wait_for_selector("#upload-results table.results-table", timeout=60_000)
    rows = page.locator("#upload-results table.results-table tbody tr")
    again = sorted(rows.nth(i).inner_text().split("\t")[:2] for i in range(rows.count()))
    expected = sorted(f"SITE1/{p.relative_to(folder)}" for p in folder.rglob("*.dcm"))
    assert [r[0] for r in again] == expected
    assert {r[1] for r in again} == {"duplicate"}
    assert Image.objects.filter(study=study).count() == n_cases
    page.screenshot(path=str(ARTIFACTS / "upload-folder-duplicates.png"), full_page=True)
    page.click("#upload-state a")
    page.wait_for_selector("table.results-table")
    assert page.inner_text("#upload-status") == "done"
    page.screenshot(path=str(ARTIFACTS / "upload-detail.png"), full_page=True)
