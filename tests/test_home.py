import pytest

from studies.models import Membership

pytestmark = pytest.mark.django_db


def test_the_home_page_sends_each_role_to_its_work(client, django_user_model, study):
    alice = django_user_model.objects.create_user("alice")
    rachel = django_user_model.objects.create_user("rachel")
    Membership.objects.create(study=study, user=alice, role="reader")
    Membership.objects.create(study=study, user=rachel, role="researcher")
    client.force_login(alice)
    html = client.get("/").content.decode()
    assert "/read/" in html and f"/inference/{study.slug}/" not in html
    client.force_login(rachel)
    html = client.get("/").content.decode()
    assert f"/inference/{study.slug}/" in html and "Reading sessions" not in html
