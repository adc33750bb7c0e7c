import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from readers.models import ReaderProfile
from studies.models import Hip, Image, Membership, Patient, ReferenceLabel, Site
from tests.studies.factories import make_case

pytestmark = pytest.mark.django_db


def test_a_new_study_gets_the_jic_scheme_and_its_endpoints(study):
    assert study.label_codes == ["A", "B", "C1", "C2"]
    assert {e["name"] for e in study.endpoints} == {"collapse-prone (C1, C2 vs A, B)", "C2 vs rest"}
    study.full_clean()


def test_it_rejects_an_endpoint_naming_an_unknown_class(study):
    study.endpoints = [{"name": "bad", "positive": ["D"]}]
    with pytest.raises(ValidationError, match="not in the scheme"):
        study.full_clean()


def test_it_rejects_a_scheme_that_repeats_a_code(study):
    study.label_scheme = [{"code": "A"}, {"code": "A"}]
    with pytest.raises(ValidationError, match="repeats"):
        study.full_clean()


def test_site_codes_are_unique(site):
    with pytest.raises(IntegrityError):
        Site.objects.create(code="SITE1")


def test_a_pseudonym_is_unique_per_study_and_site(study, site, external_site):
    Patient.objects.create(study=study, site=site, pseudonym="P-1")
    Patient.objects.create(study=study, site=external_site, pseudonym="P-1")
    with pytest.raises(IntegrityError):
        Patient.objects.create(study=study, site=site, pseudonym="P-1")


def test_a_hip_side_is_unique_per_patient_and_valid(study, site):
    patient = Patient.objects.create(study=study, site=site, pseudonym="P-1")
    Hip.objects.create(patient=patient, side="L")
    with transaction.atomic(), pytest.raises(IntegrityError):
        Hip.objects.create(patient=patient, side="L")
    with transaction.atomic(), pytest.raises(IntegrityError):
        Hip.objects.create(patient=patient, side="X")


def test_the_same_content_or_instance_is_one_case_per_study(study, site):
    case = make_case(study=study, site=site, patient="P-1")
    hip = case.hip
    with transaction.atomic(), pytest.raises(IntegrityError):
        Image.objects.create(
            study=study, hip=hip, content_hash=case.content_hash, file="x.dcm",
            sop_instance_uid="2.25.1", rows=1, columns=1, bits_stored=8,
        )
    with transaction.atomic(), pytest.raises(IntegrityError):
        Image.objects.create(
            study=study, hip=hip, content_hash="f" * 64, file="y.dcm",
            sop_instance_uid=case.sop_instance_uid, rows=1, columns=1, bits_stored=8,
        )


def test_image_dimensions_and_partition_are_checked_by_the_database(study, site):
    case = make_case(study=study, site=site, patient="P-1")
    with transaction.atomic(), pytest.raises(IntegrityError):
        Image.objects.filter(pk=case.pk).update(rows=0)
    with transaction.atomic(), pytest.raises(IntegrityError):
        Image.objects.filter(pk=case.pk).update(partition="holdout")


def test_a_case_has_at_most_one_reference_label(study, site):
    case = make_case(study=study, site=site, patient="P-1", label="B")
    with transaction.atomic(), pytest.raises(IntegrityError):
        ReferenceLabel.objects.create(image=case, label="C1", source="again")


def test_a_reference_label_outside_the_scheme_is_invalid(study, site):
    case = make_case(study=study, site=site, patient="P-1")
    with pytest.raises(ValidationError, match="not one of"):
        ReferenceLabel(image=case, label="D", source="x").full_clean()


def test_a_user_has_one_role_per_study(study, django_user_model):
    alice = django_user_model.objects.create_user("alice")
    Membership.objects.create(study=study, user=alice, role="reader")
    with transaction.atomic(), pytest.raises(IntegrityError):
        Membership.objects.create(study=study, user=alice, role="admin")
    with transaction.atomic(), pytest.raises(IntegrityError):
        Membership.objects.filter(user=alice).update(role="owner")


def test_reader_seniority_is_checked_by_the_database(django_user_model):
    bob = django_user_model.objects.create_user("bob")
    with pytest.raises(IntegrityError):
        ReaderProfile.objects.create(user=bob, seniority="intern", years_experience=1)


def _session_item(study, site, django_user_model):
    from readers.services.reading import session_create

    make_case(study=study, site=site, patient="P-1", label="B")
    Image.objects.update(partition="test")
    alice = django_user_model.objects.create_user("alice")
    Membership.objects.create(study=study, user=alice, role="reader")
    session = session_create(study=study, reader=alice, name="R1", condition="unaided")
    return session.items.get()


def test_a_read_has_a_class_or_is_indeterminate_never_both_nor_neither(
    study, site, django_user_model
):
    import uuid

    from readers.models import Read

    item = _session_item(study, site, django_user_model)

    def read(**kw):
        fields = {"item": item, "stage": "unaided", "time_ms": 1, "request_id": uuid.uuid4(),
                  **kw}
        with transaction.atomic():
            return Read.objects.create(**fields)

    with pytest.raises(IntegrityError):  # a class on an indeterminate read
        read(label="B", confidence=None, indeterminate=True, comment="motion")
    with pytest.raises(IntegrityError):  # neither a class nor indeterminate
        read(label="", confidence=50)
    with pytest.raises(IntegrityError):  # a confidence on an indeterminate read
        read(label="", confidence=50, indeterminate=True, comment="motion")
    with pytest.raises(IntegrityError):  # a graded read without a confidence
        read(label="B", confidence=None)
    assert not Read.objects.exists()
    graded = read(label="B", confidence=50)
    unsure = read(version=2, label="", confidence=None, indeterminate=True, comment="motion")
    assert (graded.indeterminate, unsure.indeterminate) == (False, True)
    assert str(unsure).endswith("v2: indeterminate")
