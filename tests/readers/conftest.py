"""The reading tests' study: 40 internal and 8 external cases, partitioned, and the cast —
alice and bob (readers), rachel (researcher), charlie (no membership)."""

import pytest

from studies.models import Membership
from studies.services.partitions import study_partition
from tests.studies.factories import make_case


@pytest.fixture
def cast(study, django_user_model):
    users = {}
    for name, role in [("alice", "reader"), ("bob", "reader"), ("rachel", "researcher")]:
        users[name] = django_user_model.objects.create_user(name, password=f"pw-{name}-123")
        Membership.objects.create(study=study, user=users[name], role=role)
    users["charlie"] = django_user_model.objects.create_user("charlie", password="pw-charlie-1")
    return users


@pytest.fixture
def reading_study(study, site, external_site):
    for n in range(40):
        make_case(study=study, site=site, patient=f"P{n}", label=["A", "B", "C1", "C2"][n % 4])
    for n in range(8):
        make_case(study=study, site=external_site, patient=f"E{n}", label="C2")
    study_partition(study=study, seed=4)
    return study
