"""Shared fixtures: a fixed cast of users, a study with sites, and an isolated media root."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _isolated_media(tmp_path, settings):
    """Every test writes its stored DICOM files and arrays under its own temporary folder."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.MEDIA_ROOT.mkdir()
    return settings.MEDIA_ROOT


@pytest.fixture
def site(db):
    from studies.models import Site

    return Site.objects.create(code="SITE1", name="University Hospital One")


@pytest.fixture
def external_site(db):
    from studies.models import Site

    return Site.objects.create(code="SITE4", name="Regional Hospital Four", external=True)


@pytest.fixture
def study(db):
    from studies.models import Study

    return Study.objects.create(slug="onfh", title="ONFH JIC classification")


@pytest.fixture
def built_study(study, site, external_site, django_user_model, settings):
    """A study ready for a report (:mod:`tests.reports.report_study`): reads, predictions,
    cached arrays and heat maps, and a cast with passwords (fast hashing)."""
    from tests.reports import report_study

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    return report_study.build(study=study, site=site, external_site=external_site,
                              django_user_model=django_user_model)


@pytest.fixture
def small_reading_study(tmp_path, study, site, external_site, django_user_model, settings):
    """The reading study of :mod:`tests.readers.reading_study` on 4 internal and 2 external
    cases: the cast (alice, bob, rachel, charlie) and one session per reader."""
    from tests.readers import reading_study

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    return reading_study.build(
        tmp_path=tmp_path, study=study, site=site, external_site=external_site,
        django_user_model=django_user_model, n_internal=4, n_external=2,
    )
