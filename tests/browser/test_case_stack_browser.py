"""The coordinator's case page in Chromium: a hip series of phantom slices as a stack of
thumbnails, the graded slice marked; the coordinator grades another slice from the page.
Screenshot ``test-artifacts/setup-case-stack.png``."""

from __future__ import annotations

import re

import pytest

from inference.engine.phantom_dicom import write_phantom_study
from studies.models import Image, Membership
from studies.services.dicom_import import import_dicom_files
from studies.services.manifest import manifest_read
from tests.browser import test_reading_browser as reading_browser
from tests.browser.conftest import ARTIFACTS, needs_chromium

page = reading_browser.page

pytestmark = [needs_chromium, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

PASSWORD = "pw-alice-sets-up-2"


@pytest.fixture
def phantom_case(tmp_path, study, site, django_user_model, settings):
    """A phantom study's hip that has two slices (the phantoms' multi-slice hips)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    out = tmp_path / "phantom"
    write_phantom_study(out, patients=6, sites=1, external_sites=0, seed=5)
    manifest = manifest_read(path=out / "manifest.csv", label_codes=study.label_codes)
    site.code = "SITE1"
    site.save()
    import_dicom_files(paths=[out], study=study, site=site, manifest=manifest)
    alice = django_user_model.objects.create_user("alice", password=PASSWORD)
    Membership.objects.create(study=study, user=alice, role="admin")
    return Image.objects.filter(study=study, slices__index=1).first()


def test_the_coordinator_sees_the_stack_and_grades_another_slice(page, live_server, study,
                                                                 phantom_case):
    assert phantom_case is not None, "the phantom study has a hip with two slices"
    url = f"{live_server.url}/studies/{study.slug}/setup/cases/{phantom_case.pk}/"
    page.goto(url)
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", PASSWORD)
    page.press("input[name=password]", "Enter")
    page.wait_for_url(re.compile(r"/setup/cases/\d+/$"))
    page.wait_for_function("() => [...document.querySelectorAll('#stack img')]"
                           ".every(i => i.complete && i.naturalWidth > 0)")
    assert page.locator("#stack li").count() == 2
    assert page.locator("#stack li.graded").get_attribute("data-index") == "0"
    page.screenshot(path=str(ARTIFACTS / "setup-case-stack.png"), full_page=True)
    page.click("#stack li[data-index='1'] button")
    page.wait_for_selector("text=Slice 2 is now the graded slice.")
    assert page.locator("#stack li.graded").get_attribute("data-index") == "1"
    phantom_case.refresh_from_db()
    assert phantom_case.designated_index == 1
