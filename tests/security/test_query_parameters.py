"""S13 (issue 15): a malformed query parameter is a 400 with a message naming it, never a 500
(an id beyond the database's integer range used to crash the query)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from studies.models import Membership

pytestmark = pytest.mark.django_db


@pytest.fixture
def researcher(client, study, django_user_model):
    user = django_user_model.objects.create_user("rachel", password="pw-rachel-123456")
    Membership.objects.create(study=study, user=user, role=Membership.Role.RESEARCHER)
    client.force_login(user)
    return client


@pytest.mark.parametrize("value", ["99999999999999999999999", "-1", "0", "1e3", "x",
                                   "9223372036854775808"])
@pytest.mark.parametrize(("endpoint", "param"), [("prediction", "case"), ("prediction", "job"),
                                               ("inference-job", "model_version")])
def test_an_id_out_of_range_or_malformed_is_a_400_naming_the_parameter(researcher, endpoint,
                                                                       param, value):
    response = researcher.get(reverse(f"api-v1:{endpoint}-list"), {param: value})
    assert response.status_code == 400, (endpoint, value, response.status_code)
    assert param in response.json()


def test_the_largest_id_is_a_valid_filter(researcher):
    response = researcher.get(reverse("api-v1:prediction-list"), {"case": str(2**63 - 1)})
    assert response.status_code == 200
