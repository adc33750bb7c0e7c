"""Sites per study and the site coordinator role: the join table and its migration, the
membership rules (a site for that role only, in the database and in ``clean()``), the import
command joining its site, and that a site coordinator is not staff: no cases, reads, model
output, report or progress (404, as for a study that does not exist)."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import IntegrityError, transaction
from django.urls import reverse

from readers.models import Read
from studies.models import ImportBatch, Membership, Site, Study, StudySite
from tests.studies.dicom_files import write_mr
from tests.studies.factories import make_case


def test_a_site_joins_a_study_once_and_may_join_several(study, site):
    other = Study.objects.create(slug="other", title="Another study")
    StudySite.objects.create(study=study, site=site)
    StudySite.objects.create(study=other, site=site)  # the same hospital, the same code
    with pytest.raises(IntegrityError), transaction.atomic():
        StudySite.objects.create(study=study, site=site)
    assert sorted(site.study_sites.values_list("study__slug", flat=True)) == ["onfh", "other"]


def test_the_migration_joins_every_site_with_patients_or_import_batches(study, site,
                                                                       external_site):
    idle = Site.objects.create(code="IDLE")
    other = Study.objects.create(slug="other", title="Another study")
    make_case(study=study, site=site, patient="P1")
    ImportBatch.objects.create(study=other, site=external_site)
    StudySite.objects.create(study=study, site=site)  # already joined: kept, not doubled
    migration = importlib.import_module("studies.migrations.0006_study_sites")
    migration.join_existing_sites(apps, None)
    migration.join_existing_sites(apps, None)  # idempotent
    pairs = sorted(StudySite.objects.values_list("study__slug", "site__code"))
    assert pairs == [("onfh", "SITE1"), ("other", "SITE4")]
    assert not idle.study_sites.exists()


def test_a_site_coordinator_needs_a_site_and_no_other_role_has_one(study, site,
                                                                    django_user_model):
    user = django_user_model.objects.create_user("carol")
    with pytest.raises(IntegrityError), transaction.atomic():
        Membership.objects.create(study=study, user=user, role="site_coordinator")
    with pytest.raises(IntegrityError), transaction.atomic():
        Membership.objects.create(study=study, user=user, role="reader", site=site)
    with pytest.raises(IntegrityError), transaction.atomic():
        Membership.objects.create(study=study, user=user, role="owner")

    with pytest.raises(ValidationError) as missing:
        Membership(study=study, user=user, role="site_coordinator").full_clean()
    assert "needs the site" in str(missing.value)
    with pytest.raises(ValidationError) as extra:
        Membership(study=study, user=user, role="admin", site=site).full_clean()
    assert "Only a site coordinator has a site" in str(extra.value)
    with pytest.raises(ValidationError) as not_joined:
        Membership(study=study, user=user, role="site_coordinator", site=site).full_clean()
    assert "has not joined the study" in str(not_joined.value)
    StudySite.objects.create(study=study, site=site)
    Membership(study=study, user=user, role="site_coordinator", site=site).full_clean()


def test_the_import_command_joins_its_site_to_the_study(tmp_path, study, site):
    path = write_mr(tmp_path / "one.dcm", rows=16, columns=16)
    call_command("import_dicom", str(path), "--study", study.slug, "--site", site.code)
    call_command("import_dicom", str(path), "--study", study.slug, "--site", "NEWSITE",
                 "--create")
    assert sorted(study.study_sites.values_list("site__code", flat=True)) == ["NEWSITE", "SITE1"]


def test_a_site_coordinator_is_not_staff_anywhere(client, built_study, site, django_user_model):
    study = built_study.study
    StudySite.objects.create(study=study, site=site)
    carol = django_user_model.objects.create_user("carol")
    Membership.objects.create(study=study, user=carol, role="site_coordinator", site=site)
    client.force_login(carol)
    case = study.images.first()
    read = Read.objects.filter(item__session__study=study).first()
    prediction = case.predictions.first()
    assert read is not None and prediction is not None
    for name, pk in [("case", case.pk), ("read", read.pk), ("prediction", prediction.pk)]:
        detail = client.get(reverse(f"api-v1:{name}-detail", args=[pk]))
        assert detail.status_code == 404, name
    for name in ("case", "read", "prediction", "site", "session", "inference-job"):
        listing = client.get(reverse(f"api-v1:{name}-list"))  # a 404, or nothing listed
        assert listing.status_code == 404 or listing.json()["count"] == 0, name
    assert client.get(reverse("reports:study", args=[study.slug])).status_code == 404
    assert client.get(reverse("reading:progress", args=[study.slug])).status_code == 404
    assert client.get(reverse("inference:study", args=[study.slug])).status_code == 404
    # What the role is for works, and the home page leads there only.
    assert client.get(reverse("uploads:sites", args=[study.slug])).status_code == 200
    home = client.get(reverse("home")).content.decode()
    assert "Uploads for SITE1" in home and "Reading progress" not in home
