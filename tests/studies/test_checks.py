"""A database made before the reorganisation is refused by `migrate` with a way out."""

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.db.migrations.recorder import MigrationRecorder

from studies.checks import old_layout_database

pytestmark = pytest.mark.django_db


def test_a_database_of_the_current_layout_passes():
    assert old_layout_database(databases=["default"]) == []


def test_a_database_of_the_old_layout_is_refused_with_how_to_recreate_it():
    MigrationRecorder.Migration.objects.create(app="readers", name="0006_read_indeterminate")
    errors = old_layout_database(databases=["default"])
    assert [e.id for e in errors] == ["studies.E001"]
    assert "remove var/readerbench.sqlite3" in errors[0].hint
    with pytest.raises(SystemCheckError, match="studies.E001"):
        call_command("check", databases=["default"])
