"""S10 (issue 15): the Django admin was not scoped per study: staff who coordinate another study
saw this study's truth labels and its session reset form. Now a staff user who is not a
superuser sees and changes only the objects of the studies where their Membership role is
admin: another study's objects are not listed, not named in filters or choices, cannot be
opened, changed or reset, and nothing can be moved into that study.

The cast: ``onfh`` (alice and bob read, rachel researches; olga coordinates it) and ``other``
(otto coordinates it; one case at its own site)."""

from __future__ import annotations

import uuid

import pytest
from django.urls import reverse

from readers.models import Read
from readers.services.reading import read_submit
from studies.models import Membership, Patient, ReferenceLabel, Site, Study
from tests.studies.factories import make_case

pytestmark = pytest.mark.django_db

# What of onfh must never show on otto's pages (its slug, sites, pseudonyms, readers).
ONFH_MARKS = ["onfh", "SITE1", "SITE4", "University Hospital One", "alice", "bob", "rachel"]


@pytest.fixture
def world(small_reading_study, django_user_model):
    rs = small_reading_study
    other = Study.objects.create(slug="other", title="Another study")
    site9 = Site.objects.create(code="SITE9", name="Clinic Nine")
    other_case = make_case(study=other, site=site9, patient="P-OTHER-1", label="C2")
    users = {}
    for name, study in [("otto", other), ("olga", rs.study)]:
        users[name] = django_user_model.objects.create_user(
            name, password=f"pw-{name}-coordinates", is_staff=True)
        Membership.objects.create(study=study, user=users[name], role="admin")
    item = rs.session("alice").items.order_by("position").first()
    read_submit(item=item, stage="unaided", label="A", confidence=40, time_ms=900,
                request_id=uuid.uuid4())
    return rs, other, other_case, users


def _changelists() -> list[str]:
    return [
        reverse(f"admin:{name}_changelist") for name in [
            "studies_study", "studies_site", "studies_patient", "studies_hip", "studies_image",
            "studies_referencelabel", "studies_importbatch", "studies_split",
            "studies_membership", "readers_readerprofile", "readers_readingsession",
            "readers_auditevent",
        ]
    ] + [reverse("admin:readers_readingsession_progress"), reverse("admin:index")]


def test_a_coordinator_sees_only_their_studys_objects(client, world):
    rs, other, other_case, users = world
    client.force_login(users["otto"])
    for url in _changelists():
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        html = response.content.decode()
        leaked = [mark for mark in ONFH_MARKS if mark in html]
        assert not leaked, (url, leaked)
    images = client.get(reverse("admin:studies_image_changelist")).content.decode()
    assert "P-OTHER-1" in images and "SITE9" in images  # their own study, in full
    labels = client.get(reverse("admin:studies_referencelabel_changelist")).content.decode()
    assert "C2" in labels and "1 reference label" in labels


def test_another_studys_objects_cannot_be_opened(client, world):
    rs, other, other_case, users = world
    client.force_login(users["otto"])
    image = rs.study.images.first()
    session = rs.session("alice")
    membership = Membership.objects.get(study=rs.study, user=users["olga"])
    for name, pk in [
        ("studies_study", rs.study.pk), ("studies_image", image.pk),
        ("studies_referencelabel", image.reference.pk),
        ("studies_patient", image.hip.patient.pk), ("studies_membership", membership.pk),
        ("readers_readingsession", session.pk),
    ]:
        for view in ("change", "delete", "history"):
            response = client.get(reverse(f"admin:{name}_{view}", args=[pk]))
            # Django's admin answers a missing object with a redirect to the index, saying
            # it does not exist: the same as for an id that was never made.
            assert response.status_code == 302, (name, view, response.status_code)
            assert response["Location"] == reverse("admin:index"), (name, view)
    for view in ("reset", "reassign"):
        url = reverse(f"admin:readers_readingsession_{view}", args=[session.pk])
        assert client.get(url).status_code == 404, view
        assert client.post(url, {"reason": "mine now"}).status_code == 404, view
    assert Read.objects.filter(item__session=session).count() == 1  # nothing reset


def test_another_studys_truth_cannot_be_changed_or_added(client, world):
    rs, other, other_case, users = world
    client.force_login(users["otto"])
    image = rs.study.images.first()
    label = image.reference
    before = label.label
    url = reverse("admin:studies_referencelabel_change", args=[label.pk])
    client.post(url, {"image": image.pk, "label": "C2", "source": "otto"})
    label.refresh_from_db()
    assert label.label == before
    # Nothing moves into onfh: a patient, a membership, a label on one of its cases.
    response = client.post(reverse("admin:studies_patient_add"), {
        "study": rs.study.pk, "site": other_case.hip.patient.site.pk, "pseudonym": "P-MOVED",
        "hips-TOTAL_FORMS": "0", "hips-INITIAL_FORMS": "0",
    })
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
    assert not Patient.objects.filter(pseudonym="P-MOVED").exists()
    response = client.post(reverse("admin:studies_membership_add"), {
        "study": rs.study.pk, "user": users["otto"].pk, "role": "admin"})
    assert "Select a valid choice" in response.content.decode()
    assert not Membership.objects.filter(study=rs.study, user=users["otto"]).exists()
    unlabelled = make_case(study=rs.study, site=Site.objects.get(code="SITE1"), patient="P-9")
    response = client.post(reverse("admin:studies_referencelabel_add"), {
        "image": unlabelled.pk, "label": "A", "source": "otto"})
    assert "Select a valid choice" in response.content.decode()
    assert not ReferenceLabel.objects.filter(image=unlabelled).exists()


def test_the_session_form_offers_only_the_coordinators_study_and_readers(client, world):
    rs, other, other_case, users = world
    client.force_login(users["otto"])
    html = client.get(reverse("admin:readers_readingsession_add")).content.decode()
    assert "other" in html
    assert not [mark for mark in ONFH_MARKS if mark in html]
    response = client.post(reverse("admin:readers_readingsession_add"), {
        "study": rs.study.pk, "readers": [rs.users["alice"].pk], "name": "Hijack",
        "condition": "unaided", "partitions": ["test", "external"],
    })
    assert response.status_code == 200
    assert not rs.study.sessions.filter(name="Hijack").exists()


def test_the_studys_own_coordinator_resets_its_session(client, world):
    rs, other, other_case, users = world
    client.force_login(users["olga"])
    session = rs.session("alice")
    html = client.get(reverse("admin:studies_referencelabel_changelist")).content.decode()
    assert "P-OTHER-1" not in html and "SITE9" not in html
    url = reverse("admin:readers_readingsession_reset", args=[session.pk])
    assert client.get(url).status_code == 200
    response = client.post(url, {"reason": "the reader used the wrong window"})
    assert response.status_code == 302
    assert not Read.objects.filter(item__session=session).exists()
    assert client.get(reverse("admin:studies_image_changelist")).status_code == 200


def test_staff_who_coordinate_no_study_see_no_study_model(client, world):
    rs, *_ = world
    rachel = rs.users["rachel"]  # researcher of onfh, made staff: not a coordinator
    rachel.is_staff = True
    rachel.save()
    client.force_login(rachel)
    index = client.get(reverse("admin:index")).content.decode()
    assert "Reference labels" not in index and "Reading sessions" not in index
    for url in _changelists()[:-2]:
        assert client.get(url).status_code == 403, url
    assert client.get(reverse("admin:readers_readingsession_progress")).status_code == 403


def test_a_coordinator_sees_no_api_tokens_and_a_superuser_sees_every_study(client, world,
                                                                           django_user_model):
    rs, other, other_case, users = world
    client.force_login(users["otto"])
    assert client.get(reverse("admin:knox_authtoken_changelist")).status_code == 403
    root = django_user_model.objects.create_superuser("root", password="pw-root-sees-all")
    client.force_login(root)
    html = client.get(reverse("admin:studies_study_changelist")).content.decode()
    assert "onfh" in html and "other" in html
    labels = client.get(reverse("admin:studies_referencelabel_changelist")).content.decode()
    assert f"{ReferenceLabel.objects.count()} reference labels" in labels


def test_model_output_jobs_and_reports_are_scoped_too(client, world):
    """Predictions, jobs, training runs, model versions and reports of onfh: its coordinator
    sees them (read-only), another study's coordinator sees none of them."""
    from inference.models import InferenceJob, ModelVersion, Prediction
    from reports.models import StudyReport

    rs, other, other_case, users = world
    mv = ModelVersion.objects.create(
        sha256="d" * 64, name="onfh-cnn", architecture="resnet18", input_size=96,
        labels=["A", "B", "C1", "C2"], card={}, weights_file="models/d.pt", format="state_dict")
    image = rs.study.images.first()
    job = InferenceJob.objects.create(study=rs.study, model_version=mv, n_total=1)
    prediction = Prediction.objects.create(model_version=mv, image=image, job=job,
                                           probabilities=[0.1, 0.2, 0.3, 0.4],
                                           predicted_label="C2")
    report = StudyReport.objects.create(study=rs.study, input_hash="e" * 64,
                                        code_version="test")
    objects = {
        "inference_modelversion": mv.pk, "inference_inferencejob": job.pk,
        "inference_prediction": prediction.pk, "reports_studyreport": report.pk,
    }
    client.force_login(users["otto"])
    for name, pk in objects.items():
        listed = client.get(reverse(f"admin:{name}_changelist"))
        assert listed.status_code in (200, 403), name
        if listed.status_code == 200:
            html = listed.content.decode()
            assert "onfh" not in html and "onfh-cnn" not in html, name
        opened = client.get(reverse(f"admin:{name}_change", args=[pk]))
        assert opened.status_code in (302, 403), (name, opened.status_code)
    client.force_login(users["olga"])
    for name, pk in objects.items():
        assert client.get(reverse(f"admin:{name}_changelist")).status_code == 200, name
        page = client.get(reverse(f"admin:{name}_change", args=[pk]))
        assert page.status_code == 200, name
        assert client.post(reverse(f"admin:{name}_change", args=[pk]), {}).status_code == 403
