"""The coordinator's setup pages through real URLs: who may see them (the study's admins; anyone
else a 404), the checklist's states and counts, the labels upload (dry run, apply, refusals),
the split with its class counts and warnings, inviting a reader (the set-password link works),
creating a study, and the cases with thumbnails.

The cast: alice coordinates the study (admin), bob reads it, rachel is its researcher, and
charlie coordinates another study (he should have no access to this one)."""

from __future__ import annotations

import hashlib
import io
import re
import uuid

import numpy as np
import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from PIL import Image as PILImage

from readers.models import ReaderProfile
from readers.services.reading import read_submit, session_create
from studies.models import Image, LabelChange, Membership, ReferenceLabel, Split, Study
from studies.services.dicom_import import import_dicom_files
from tests.studies.dicom_files import uid_for, write_mr
from tests.studies.factories import make_case

PASSWORD = "pw-setup-tests-1"
ONE_ROW = "patient_key,side,label,label_source,sop_instance_uid\nPAT-0,L,B,panel,{uid}\n"


@pytest.fixture
def cast(study, django_user_model, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    users = {name: django_user_model.objects.create_user(name, password=PASSWORD)
             for name in ("alice", "bob", "rachel", "charlie")}
    for name, role in (("alice", "admin"), ("bob", "reader"), ("rachel", "researcher")):
        Membership.objects.create(study=study, user=users[name], role=role)
    other = Study.objects.create(slug="other", title="Another study")
    Membership.objects.create(study=other, user=users["charlie"], role="admin")
    return users


def client_for(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def alice(client, cast):
    return client_for(client, cast["alice"])


@pytest.fixture
def imported(tmp_path, study, site):
    """Four real imported cases (16×16), left hips of patients PAT-0..3, unlabelled."""
    paths = [
        str(write_mr(tmp_path / f"in/DOE_{i}.dcm", patient_id=f"PAT-{i}", study=f"st-{i}",
                     series=f"se-{i}", instance=f"inst-{i}", seed=i, rows=16, columns=16,
                     laterality="L"))
        for i in range(4)
    ]
    assert import_dicom_files(paths=paths, study=study, site=site).imported == 4
    return list(Image.objects.filter(study=study).order_by("id"))


PAGES = [
    ("setup:study", "get"), ("setup:labels", "get"), ("setup:labels", "post"),
    ("setup:labels-apply", "post"), ("setup:split", "get"), ("setup:split", "post"),
    ("setup:readers", "get"), ("setup:readers", "post"), ("setup:cases", "get"),
]


@pytest.mark.parametrize("who", ["bob", "rachel", "charlie"])
def test_it_answers_404_to_anyone_but_the_studys_admins(client, cast, study, imported, who):
    client.force_login(cast[who])
    for name, method in PAGES:
        response = getattr(client, method)(reverse(name, args=[study.slug]))
        assert response.status_code == 404, (name, method)
    thumb = reverse("setup:thumbnail", args=[study.slug, imported[0].pk])
    assert client.get(thumb).status_code == 404
    dry = reverse("setup:labels-dry-run", args=[study.slug, uuid.uuid4()])
    assert client.get(dry).status_code == 404
    assert study.title not in client.get(reverse("setup:list")).content.decode()
    assert not Split.objects.exists() and not Membership.objects.filter(role="reader").exclude(
        user=cast["bob"]).exists()


def test_it_sends_anonymous_visitors_to_the_login(client, study):
    response = client.get(reverse("setup:study", args=[study.slug]))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_it_lists_only_the_studies_the_user_coordinates(alice, study):
    page = alice.get(reverse("setup:list")).content.decode()
    assert study.title in page and "Another study" not in page


def test_creating_a_study_makes_its_creator_the_admin(client, cast):
    client.force_login(cast["bob"])
    response = client.post(reverse("setup:new"), {
        "slug": "hips-2", "title": "Hips <two>", "description": "", "washout_days": 30,
    })
    assert response.status_code == 302
    study = Study.objects.get(slug="hips-2")
    assert study.label_codes == ["A", "B", "C1", "C2"] and study.washout_days == 30
    assert Membership.objects.get(study=study, user=cast["bob"]).role == "admin"
    page = client.get(reverse("setup:study", args=["hips-2"])).content.decode()
    assert "Hips &lt;two&gt;" in page and "Hips <two>" not in page
    again = client.post(reverse("setup:new"), {"slug": "hips-2", "title": "x", "washout_days": 1})
    assert again.status_code == 200 and "already exists" in again.content.decode()


def steps_of(page: str) -> dict[str, str]:
    return dict(re.findall(r'id="step-(\w+)" data-state="([^"]+)"', page))


def test_the_checklist_shows_each_step_in_order_with_state_and_counts(
    alice, study, site, external_site
):
    page = alice.get(reverse("setup:study", args=[study.slug])).content.decode()
    assert list(steps_of(page)) == [
        "sites", "cases", "labels", "split", "readers", "sessions", "model", "report"
    ]
    assert steps_of(page)["sites"] == "to do" and steps_of(page)["cases"] == "blocked"
    for i in range(6):
        make_case(study=study, site=site, patient=f"p{i}", label="AB"[i % 2] if i < 5 else None)
    make_case(study=study, site=external_site, patient="x1", label="A")
    page = alice.get(reverse("setup:study", args=[study.slug])).content.decode()
    states = steps_of(page)
    assert (states["sites"], states["cases"], states["labels"]) == ("done", "done", "to do")
    assert states["split"] == "blocked"
    assert "2 sites, 1 external" in page
    assert "7 cases, 6 labelled, 1 unlabelled" in page
    assert "not split yet" in page and "1 reader<" in page and "0 sessions, 0 done" in page
    assert "no model has run" in page and "no report built" in page


def upload_sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def test_the_labels_upload_goes_through_a_dry_run_before_it_changes_anything(
    alice, cast, study, imported
):
    ReferenceLabel.objects.create(image=imported[0], label="A", source="first")
    data = (
        "patient_key,side,label,label_source,sop_instance_uid\n"
        f"PAT-0,L,C2,<b>panel</b>,{uid_for('inst-0')}\n"
        f"PAT-1,L,B,panel,{uid_for('inst-1')}\n"
        f"PAT-7,L,B,panel,{uid_for('inst-77')}\n"
    ).encode()
    url = reverse("setup:labels", args=[study.slug])
    response = alice.post(url, {"file": io.BytesIO(data)})
    assert response.status_code == 302
    page = alice.get(response["Location"]).content.decode()
    assert "&lt;b&gt;panel&lt;/b&gt;" in page and "<b>panel</b>" not in page
    assert re.search(r"<strong>1</strong> case gets? a first label", page)
    assert "A → <strong>C2</strong>" in page
    assert "no case has a file with this original SOP Instance UID" in page
    assert ReferenceLabel.objects.count() == 1  # the dry run changed nothing
    token = re.search(r'name="token" value="([^"]+)"', page).group(1)
    apply = reverse("setup:labels-apply", args=[study.slug])
    response = alice.post(apply, {"token": token})
    assert response.status_code == 302
    assert dict(ReferenceLabel.objects.values_list("image_id", "label")) == {
        imported[0].pk: "C2", imported[1].pk: "B"
    }
    assert LabelChange.objects.count() == 2
    # The same form submitted twice: nothing is applied again.
    again = alice.post(apply, {"token": token}, follow=True)
    assert "applied already" in again.content.decode() and LabelChange.objects.count() == 2
    # The batch stays readable by the study's admins (its audit), by no one else.
    batch = alice.get(reverse("setup:labels-dry-run", args=[study.slug, token])).content.decode()
    assert "was applied on" in batch and "A → <strong>C2</strong>" in batch
    listing = alice.get(url).content.decode()
    assert token in listing and upload_sha(data) in listing
    alice.force_login(cast["charlie"])  # the admin of another study, with this token
    assert alice.get(reverse("setup:labels-dry-run", args=["other", token])).status_code == 404
    assert alice.post(apply.replace(study.slug, "other"), {"token": token}).status_code == 404


def test_an_upload_whose_cases_changed_since_the_dry_run_is_refused_with_a_new_dry_run(
    alice, study, imported
):
    data = ONE_ROW.format(uid=uid_for("inst-0"))
    response = alice.post(reverse("setup:labels", args=[study.slug]), {"file": io.BytesIO(
        data.encode())})
    page = alice.get(response["Location"]).content.decode()
    token = re.search(r'name="token" value="([^"]+)"', page).group(1)
    ReferenceLabel.objects.create(image=imported[0], label="C1", source="meanwhile")
    response = alice.post(reverse("setup:labels-apply", args=[study.slug]), {"token": token})
    assert response.status_code == 409
    page = response.content.decode()
    assert "changed since this dry run" in page and "C1 → <strong>B</strong>" in page
    assert ReferenceLabel.objects.get(image=imported[0]).label == "C1"
    fresh = re.search(r'name="token" value="([^"]+)"', page).group(1)
    assert fresh != token


def test_a_bad_csv_line_is_shown_with_its_number(alice, study, imported):
    data = b"patient_key,side,label,label_source,sop_instance_uid\nPAT-0,L,<X>,panel,1.2.3\n"
    response = alice.post(reverse("setup:labels", args=[study.slug]), {"file": io.BytesIO(data)})
    page = response.content.decode()
    assert response.status_code == 200
    assert "<td>2</td>" in page and "label &#x27;&lt;X&gt;&#x27; is not in" in page


def test_a_read_case_needs_the_relabel_box_ticked(alice, cast, study, imported):
    ReferenceLabel.objects.create(image=imported[0], label="A", source="first")
    session = session_create(study=study, reader=cast["bob"], name="R1", condition="unaided",
                             images=[imported[0]], base_seed=1)
    read_submit(item=session.items.get(), stage="unaided", label="A", confidence=50,
                time_ms=900, request_id=uuid.uuid4())
    data = ONE_ROW.format(uid=uid_for("inst-0"))
    response = alice.post(reverse("setup:labels", args=[study.slug]), {"file": io.BytesIO(
        data.encode())})
    page = alice.get(response["Location"]).content.decode()
    assert "already read by readers" in page and 'name="relabel_read"' in page
    token = re.search(r'name="token" value="([^"]+)"', page).group(1)
    apply = reverse("setup:labels-apply", args=[study.slug])
    refused = alice.post(apply, {"token": token})
    assert refused.status_code == 409 and ReferenceLabel.objects.get(image=imported[0]).label == "A"
    assert alice.post(apply, {"token": token, "relabel_read": "on"}).status_code == 302
    assert ReferenceLabel.objects.get(image=imported[0]).label == "B"
    assert LabelChange.objects.get().case_was_read


def test_the_split_shows_class_counts_and_warns_of_a_missing_class(
    alice, study, site, external_site
):
    # 10 patients of A, 10 of B, 1 of C2: with 7:1:2, validation and test get no C2.
    for i in range(21):
        make_case(study=study, site=site, patient=f"p{i}", label="A" if i < 10 else (
            "B" if i < 20 else "C2"))
    make_case(study=study, site=external_site, patient="x", label="A")
    url = reverse("setup:split", args=[study.slug])
    response = alice.post(url, {"seed": 7, "train": 7, "validation": 1, "test": 2})
    assert response.status_code == 302
    split = Split.objects.get()
    assert split.seed == 7 and split.created_by.username == "alice"
    assert split.fractions == pytest.approx({"train": 0.7, "validation": 0.1, "test": 0.2})
    page = alice.get(url).content.decode()
    row = re.search(r'data-partition="validation">(.*?)</tr>', page).group(1)
    cells = [int(n) for n in re.findall(r'class="num">(\d+)<', row)]
    assert cells[3] == 0 and cells[-1] == sum(cells[:-1]) > 0  # no C2, and the total
    assert "class C2 missing from validation" in page and "class C2 missing from test" in page
    assert "class C1" not in page  # no case has C1 at all: nothing to warn about
    assert 'data-partition="external"' in page
    checklist = alice.get(reverse("setup:study", args=[study.slug])).content.decode()
    assert steps_of(checklist)["split"] == "done"
    assert "split: train " in checklist and "class C2 missing from validation" in checklist


def test_the_split_is_refused_once_reading_has_begun(alice, cast, study, site):
    images = [make_case(study=study, site=site, patient=f"p{i}", label="A") for i in range(4)]
    session = session_create(study=study, reader=cast["bob"], name="R1", condition="unaided",
                             images=images[:1], base_seed=1)
    read_submit(item=session.items.get(), stage="unaided", label="A", confidence=50,
                time_ms=900, request_id=uuid.uuid4())
    response = alice.post(reverse("setup:split", args=[study.slug]),
                          {"seed": 1, "train": 7, "validation": 1, "test": 2})
    assert response.status_code == 409 and "already has reads" in response.content.decode()
    assert not Split.objects.exists()


def test_inviting_a_reader_makes_account_profile_and_membership_and_a_working_link(
    alice, client, study
):
    url = reverse("setup:readers", args=[study.slug])
    response = alice.post(url, {
        "username": "dora", "full_name": "Dora <Surgeon>", "email": "dora@example.org",
        "seniority": "deputy_chief", "years_experience": 12,
    })
    assert response.status_code == 200
    dora = get_user_model().objects.get(username="dora")
    assert not dora.has_usable_password() and dora.first_name == "Dora"
    assert (dora.reader_profile.seniority, dora.reader_profile.years_experience) == (
        "deputy_chief", 12)
    assert Membership.objects.get(study=study, user=dora).role == "reader"
    page = response.content.decode()
    assert "Dora &lt;Surgeon&gt;" in page
    link = re.search(r'id="set-password-link">([^<]+)<', page).group(1)
    client.logout()
    form = client.get(link, follow=True)
    assert form.status_code == 200 and 'name="new_password1"' in form.content.decode()
    done = client.post(form.redirect_chain[-1][0], {
        "new_password1": "a-long-new-pass-82", "new_password2": "a-long-new-pass-82",
    })
    assert done.status_code == 302
    dora.refresh_from_db()
    assert dora.check_password("a-long-new-pass-82")
    assert client.get(link, follow=True).context["validlink"] is False  # works once


def test_an_existing_account_joins_as_a_reader_and_keeps_its_profile(alice, cast, study):
    charlie = cast["charlie"]
    ReaderProfile.objects.create(user=charlie, seniority="chief", years_experience=30)
    response = alice.post(reverse("setup:readers", args=[study.slug]), {
        "username": "charlie", "seniority": "resident", "years_experience": 1,
    })
    assert response.status_code == 200
    assert Membership.objects.get(study=study, user=charlie).role == "reader"
    charlie.refresh_from_db()
    assert charlie.reader_profile.seniority == "chief" and charlie.has_usable_password()
    assert 'id="set-password-link"' not in response.content.decode()


def test_invite_errors_are_shown_per_field_and_create_nothing(alice, cast, study):
    url = reverse("setup:readers", args=[study.slug])
    response = alice.post(url, {"username": "bad name!", "seniority": "boss",
                                "years_experience": 99})
    errors = response.context["form"].errors
    assert set(errors) == {"username", "seniority", "years_experience"}
    response = alice.post(url, {"username": "rachel", "seniority": "resident",
                                "years_experience": 3})
    assert "already in this study as researcher" in response.content.decode()
    assert Membership.objects.get(study=study, user=cast["rachel"]).role == "researcher"
    assert not get_user_model().objects.filter(username="bad name!").exists()


def test_the_cases_page_lists_cases_with_small_thumbnails(alice, study, imported):
    page = alice.get(reverse("setup:cases", args=[study.slug])).content.decode()
    assert page.count('class="thumb"') == 4 and "unlabelled" in page
    response = alice.get(reverse("setup:thumbnail", args=[study.slug, imported[0].pk]))
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    picture = PILImage.open(io.BytesIO(response.content))
    assert max(picture.size) <= 128 and picture.mode == "L"
    assert len(np.unique(np.asarray(picture))) > 2  # a real image, not a blank square
    other = Study.objects.get(slug="other")
    assert alice.get(reverse("setup:thumbnail", args=[other.slug, imported[0].pk])).status_code \
        == 404


def test_the_later_steps_count_sessions_model_outputs_and_reports(alice, cast, study, site):
    from inference.models import ModelVersion, Prediction
    from reports.models import StudyReport

    images = [make_case(study=study, site=site, patient=f"p{i}", label="A") for i in range(3)]
    Image.objects.filter(study=study).update(partition="test")
    Split.objects.create(study=study, seed=1, fractions={"train": .7, "validation": .1,
                                                         "test": .2})
    done = session_create(study=study, reader=cast["bob"], name="R1", condition="unaided",
                          images=images[:1], base_seed=1)
    read_submit(item=done.items.get(), stage="unaided", label="A", confidence=50, time_ms=900,
                request_id=uuid.uuid4())
    dora = get_user_model().objects.create_user("dora")
    Membership.objects.create(study=study, user=dora, role="reader")
    session_create(study=study, reader=dora, name="R1", condition="unaided", images=images,
                   base_seed=2)
    model = ModelVersion.objects.create(
        sha256="e" * 64, name="cnn-v3", architecture="resnet18", input_size=224,
        labels=study.label_codes, card={}, weights_file="models/e.pt", format="state_dict",
    )
    for image in images[:2]:
        Prediction.objects.create(model_version=model, image=image, predicted_label="A",
                                  probabilities=[.7, .1, .1, .1])
    page = alice.get(reverse("setup:study", args=[study.slug])).content.decode()
    assert "2 readers" in page and "2 sessions, 1 done" in page
    assert "model cnn-v3 ran on 2 cases" in page and "no report built" in page
    states = steps_of(page)
    assert (states["sessions"], states["model"], states["report"]) == ("done", "done", "to do")
    report = StudyReport.objects.create(study=study, input_hash="f" * 64, status="done",
                                        code_version="test")
    page = alice.get(reverse("setup:study", args=[study.slug])).content.decode()
    assert f"report built {report.created_at:%Y-%m-%d %H:%M} UTC" in page
    assert steps_of(page)["report"] == "done"


def test_a_case_whose_stored_file_is_gone_has_no_thumbnail_but_the_page_still_works(
    alice, study, site
):
    case = make_case(study=study, site=site, patient="p1", label="A")  # no file behind it
    assert alice.get(reverse("setup:thumbnail", args=[study.slug, case.pk])).status_code == 404
    assert alice.get(reverse("setup:cases", args=[study.slug])).status_code == 200
