"""The coordinator's setup in a real browser: alice, the study's admin, walks the checklist on
cases imported through the real importer: uploads the labels CSV (dry run, then apply), splits
by patient, invites a reader, and sees those steps turn done; the cases page shows thumbnails.
Screenshots go to ``test-artifacts/setup-*.png``."""

from __future__ import annotations

import re

import pytest

from studies.models import Image, LabelChange, Membership, ReferenceLabel, Split
from studies.services.dicom_import import import_dicom_files
from tests.browser import test_reading_browser as reading_browser
from tests.browser.conftest import ARTIFACTS, needs_chromium
from tests.studies.dicom_files import uid_for, write_mr

page = reading_browser.page  # the shared page fixture (JavaScript errors fail the test)

pytestmark = [needs_chromium, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

PASSWORD = "pw-alice-sets-up-1"
N_PATIENTS = 10


@pytest.fixture
def setup_study(tmp_path, study, site, external_site, django_user_model, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    paths = [
        str(write_mr(tmp_path / f"in/DOE_{i}.dcm", patient_id=f"PAT-{i}", study=f"st-{i}",
                     series=f"se-{i}", instance=f"inst-{i}", seed=i, rows=48, columns=48,
                     laterality="LR"[i % 2]))
        for i in range(N_PATIENTS)
    ]
    assert import_dicom_files(paths=paths, study=study, site=site).imported == N_PATIENTS
    alice = django_user_model.objects.create_user("alice", password=PASSWORD)
    Membership.objects.create(study=study, user=alice, role="admin")
    return study


def states(tab) -> dict[str, str]:
    return {
        el.get_attribute("id")[5:]: el.get_attribute("data-state")
        for el in tab.locator("ol.steps > li").all()
    }


def test_the_coordinator_walks_the_checklist(page, live_server, setup_study, tmp_path):
    study = setup_study
    base = f"{live_server.url}/studies/{study.slug}/setup"
    page.goto(f"{live_server.url}/studies/")
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", PASSWORD)
    page.press("input[name=password]", "Enter")
    page.wait_for_url(re.compile(r"/studies/$"))
    page.click("text=Setup checklist")
    page.wait_for_url(re.compile(r"/setup/$"))
    before = states(page)
    assert list(before) == ["sites", "cases", "labels", "split", "readers", "sessions",
                            "model", "report"]
    assert (before["cases"], before["labels"], before["split"]) == ("done", "to do", "blocked")
    assert f"{N_PATIENTS} cases, 0 labelled, {N_PATIENTS} unlabelled" in page.content()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "setup-checklist-before.png"), full_page=True)

    # Labels: a CSV by original SOP Instance UID (one row by patient key and side instead).
    rows = ["patient_key,side,label,label_source,sop_instance_uid,file"]
    for i in range(N_PATIENTS):
        label = ("A", "B", "C1", "C2")[i % 4]
        if i == 3:
            rows.append(f"PAT-{i},{'LR'[i % 2]},{label},follow-up <MRI>,,DOE_{i}.dcm")
        else:
            rows.append(f"PAT-{i},{'LR'[i % 2]},{label},consensus panel,{uid_for(f'inst-{i}')},")
    csv_path = tmp_path / "labels.csv"
    csv_path.write_text("\n".join(rows) + "\n")
    page.click("#step-labels >> text=Upload labels (CSV)")
    page.set_input_files("input[name=file]", str(csv_path))
    page.click("button:has-text('Dry run')")
    page.wait_for_selector("#summary")
    summary = page.locator("#summary").inner_text()
    assert f"{N_PATIENTS} cases get a first label" in summary
    assert "follow-up <MRI>" in page.locator("#changes").inner_text()  # shown as text
    assert ReferenceLabel.objects.count() == 0
    page.screenshot(path=str(ARTIFACTS / "setup-labels-dry-run.png"), full_page=True)
    page.click(f"button:has-text('Apply {N_PATIENTS} changes')")
    page.wait_for_url(re.compile(r"/setup/$"))
    assert "Labels applied" in page.content()
    assert ReferenceLabel.objects.count() == N_PATIENTS == LabelChange.objects.count()
    assert states(page)["labels"] == "done"

    # Split: the default 7:1:2 from the button.
    page.click("#step-split >> text=Split by patient")
    page.click("button:has-text('Split')")
    page.wait_for_selector("#split-table tr[data-partition='train']")
    assert Split.objects.filter(study=study).count() == 1
    assert not Image.objects.filter(study=study, partition="").exists()
    page.screenshot(path=str(ARTIFACTS / "setup-split.png"), full_page=True)
    warnings = page.locator("p.warn").all_inner_texts()
    assert warnings and all("missing from" in w for w in warnings)  # 10 cases: classes miss

    # Readers: one form.
    page.goto(f"{base}/")
    page.click("#step-readers >> text=Invite readers")
    page.fill("input[name=username]", "dora")
    page.fill("input[name=full_name]", "Dora Surgeon")
    page.select_option("select[name=seniority]", "attending")
    page.fill("input[name=years_experience]", "8")
    page.click("button:has-text('Invite')")
    link = page.locator("#set-password-link").inner_text()
    assert "/accounts/reset/" in link
    assert "Dora Surgeon" in page.locator("#readers").inner_text()
    page.screenshot(path=str(ARTIFACTS / "setup-readers.png"), full_page=True)

    page.goto(f"{base}/")
    after = states(page)
    assert {k: after[k] for k in ("sites", "cases", "labels", "split", "readers")} == dict.fromkeys(
        ("sites", "cases", "labels", "split", "readers"), "done")
    assert after["sessions"] == "to do" and after["model"] == "blocked"
    assert "1 reader" in page.locator("#step-readers").inner_text()
    page.screenshot(path=str(ARTIFACTS / "setup-checklist-after.png"), full_page=True)

    page.click("#step-cases >> text=Browse cases")
    page.wait_for_selector("img.thumb")
    page.wait_for_function(
        "() => [...document.querySelectorAll('img.thumb')].every(i => i.complete && "
        "i.naturalWidth > 0)"
    )
    assert page.locator("img.thumb").count() == N_PATIENTS
    page.screenshot(path=str(ARTIFACTS / "setup-cases.png"), full_page=True)
