"""A new coordinator sets up a multicentre study in the browser, end to end (issue 12, "What it
must show"): creates the study, three sites (one external), uploads a zip per site (chunks,
progress to 100 %), uploads the labels (the sites' own manifest: dry run, then apply), splits by
patient, invites two readers, creates a round of sessions, and sees the checklist done up to the
model; a site coordinator of site 1 gets 404 on site 2's upload. Screenshots
``test-artifacts/flow-*.png``."""

from __future__ import annotations

import re
import zipfile

import pytest

from inference.engine.phantom_dicom import write_phantom_study
from readers.models import ReadingSession
from studies.models import Image, Membership, ReferenceLabel, Site, Study, StudySite, Upload
from tests.browser.conftest import ARTIFACTS, needs_chromium
from tests.browser.test_upload_browser import inline_tasks, page  # noqa: F401 - fixtures

pytestmark = [needs_chromium, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

PASSWORD = "pw-coordinator-flow-1"


def states(tab) -> dict[str, str]:
    return {el.get_attribute("id")[5:]: el.get_attribute("data-state")
            for el in tab.locator("ol.steps > li").all()}


def log_in(tab, live_server, name, password, path):
    tab.goto(f"{live_server.url}/accounts/login/?next={path}")
    tab.fill("input[name=username]", name)
    tab.fill("input[name=password]", password)
    tab.press("input[name=password]", "Enter")
    tab.wait_for_url(f"**{path}")


def test_a_coordinator_sets_up_a_multicentre_study(page, browser, live_server, tmp_path,  # noqa: F811
                                                  django_user_model, settings, inline_tasks):  # noqa: F811
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    out = tmp_path / "phantom"
    write_phantom_study(out, patients=12, sites=3, external_sites=1, seed=21)
    zips = {}
    for code in ("SITE1", "SITE2", "SITE3"):
        zips[code] = tmp_path / f"{code} export.zip"
        with zipfile.ZipFile(zips[code], "w") as archive:
            for file in sorted((out / code).rglob("*.dcm")):
                archive.write(file, file.relative_to(out).as_posix())
    django_user_model.objects.create_user("cora", password=PASSWORD)
    log_in(page, live_server, "cora", PASSWORD, "/studies/new/")

    # The study, then its sites (the third external).
    page.fill("input[name=slug]", "onfh-multi")
    page.fill("input[name=title]", "ONFH multicentre")
    page.click("button:has-text('Create study')")
    page.wait_for_url(re.compile(r"/studies/onfh-multi/setup/$"))
    study = Study.objects.get(slug="onfh-multi")
    assert states(page)["sites"] != "done"
    page.goto(f"{live_server.url}/studies/{study.slug}/sites/")
    for code, external in (("SITE1", False), ("SITE2", False), ("SITE3", True)):
        page.fill("form.new-site input[name=new-code]", code)
        page.fill("form.new-site input[name=new-name]", f"Hospital {code[-1]}")
        if external:
            page.check("form.new-site input[name=new-external]")
        page.click("form.new-site button[type=submit]")
        page.wait_for_selector(f"tr[data-site='{code}']")
    assert StudySite.objects.filter(study=study).count() == 3
    assert Site.objects.get(code="SITE3").external

    # A zip per site, sent in chunks, imported.
    for code, path in zips.items():
        page.goto(f"{live_server.url}/studies/{study.slug}/sites/{code}/upload/")
        page.eval_on_selector("#upload-form", "f => f.dataset.chunkBytes = '262144'")
        page.set_input_files("#pick-files", str(path))
        page.click("#upload-start")
        page.wait_for_selector("#upload-results table.results-table", timeout=90_000)
        assert page.eval_on_selector("#overall-progress", "p => p.value") == 100
        statuses = page.locator("#upload-results table.results-table tbody tr td:nth-child(2)")
        assert set(statuses.all_inner_texts()) == {"imported"}
        if code == "SITE1":
            page.screenshot(path=str(ARTIFACTS / "flow-upload-site1.png"), full_page=True)
    n_files = len(list(out.rglob("SITE*/**/*.dcm")))
    hips = Image.objects.filter(study=study)
    assert hips.count() < n_files  # the two-slice hips are one case each
    assert sum(i.slices.count() for i in hips) == n_files

    # Labels: the sites' manifest, dry run then apply.
    page.goto(f"{live_server.url}/studies/{study.slug}/setup/labels/")
    page.set_input_files("input[name=file]", str(out / "manifest.csv"))
    page.click("button:has-text('Dry run')")
    page.wait_for_selector("#summary")
    page.click("button:has-text('Apply')")
    page.wait_for_url(re.compile(r"/setup/$"))
    assert ReferenceLabel.objects.filter(image__study=study).count() == hips.count()

    # Split by patient, from the button.
    page.goto(f"{live_server.url}/studies/{study.slug}/setup/split/")
    page.click("button:has-text('Split')")
    page.wait_for_selector("#split-table tr[data-partition='train']")
    assert not Image.objects.filter(study=study, partition="").exists()
    assert set(Image.objects.filter(study=study, hip__patient__site__code="SITE3")
               .values_list("partition", flat=True)) == {"external"}

    # Two readers, one form each.
    for name, seniority in (("dora", "attending"), ("emil", "chief")):
        page.goto(f"{live_server.url}/studies/{study.slug}/setup/readers/")
        page.fill("input[name=username]", name)
        page.select_option("select[name=seniority]", seniority)
        page.fill("input[name=years_experience]", "9")
        page.click("button:has-text('Invite')")
        page.wait_for_selector("#set-password-link")
    assert Membership.objects.filter(study=study, role="reader").count() == 2

    # A round of sessions for both.
    page.goto(f"{live_server.url}/studies/{study.slug}/setup/sessions/")
    page.fill("input[name=name]", "Round 1")
    page.select_option("select[name=condition]", "unaided")
    page.check("input[name=readers][value=dora]")
    page.check("input[name=readers][value=emil]")
    page.click("button:has-text('Create sessions')")
    page.wait_for_selector("table#sessions tr[data-reader='emil']")
    assert ReadingSession.objects.filter(study=study).count() == 2

    page.goto(f"{live_server.url}/studies/{study.slug}/setup/")
    done = states(page)
    assert all(done[k] == "done" for k in ("sites", "cases", "labels", "split", "readers",
                                           "sessions")), done
    assert done["model"] == "to do"
    page.screenshot(path=str(ARTIFACTS / "flow-checklist.png"), full_page=True)

    # A site coordinator of site 1 sees their site's upload, and site 2's is a 404.
    sam = django_user_model.objects.create_user("sam", password=PASSWORD)
    Membership.objects.create(study=study, user=sam, role="site_coordinator",
                              site=Site.objects.get(code="SITE1"))
    own = Upload.objects.get(study=study, site__code="SITE1")
    other = Upload.objects.get(study=study, site__code="SITE2")
    context = browser.new_context()
    tab = context.new_page()
    log_in(tab, live_server, "sam", PASSWORD, f"/studies/{study.slug}/uploads/{own.pk}/")
    assert tab.goto(f"{live_server.url}/studies/{study.slug}/uploads/{other.pk}/").status == 404
    assert tab.goto(f"{live_server.url}/studies/{study.slug}/sites/SITE2/upload/").status == 404
    assert tab.goto(f"{live_server.url}/studies/{study.slug}/setup/").status == 404
    context.close()
