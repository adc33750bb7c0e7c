import pytest
from django.urls import reverse

from studies.services.partitions import study_partition
from tests.studies.factories import make_case

pytestmark = pytest.mark.django_db

MODELS = [
    "studies_site", "studies_study", "studies_patient", "studies_hip", "studies_image",
    "studies_referencelabel", "studies_importbatch", "studies_split", "readers_readerprofile",
    "studies_membership", "reports_studyreport",
]


@pytest.fixture
def coordinator(client, django_user_model):
    user = django_user_model.objects.create_superuser("coordinator", password="pw-coord-123")
    client.force_login(user)
    return client


@pytest.fixture
def populated(study, site, external_site):
    for n in range(12):
        make_case(study=study, site=site, patient=f"P{n}", label=["A", "B", "C1", "C2"][n % 4])
    make_case(study=study, site=external_site, patient="E1", label="C2")
    make_case(study=study, site=site, patient="P99")  # unlabelled
    study_partition(study=study, seed=1)
    return study


@pytest.mark.parametrize("model", MODELS)
def test_every_list_page_opens_for_a_coordinator(coordinator, populated, model):
    response = coordinator.get(reverse(f"admin:{model}_changelist"))
    assert response.status_code == 200


def test_the_study_page_shows_cases_per_class_and_partition(coordinator, populated):
    response = coordinator.get(reverse("admin:studies_study_change", args=[populated.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Cases per class and partition" in html
    assert "<th>partition</th><th>A</th><th>B</th><th>C1</th><th>C2</th><th>unlabelled</th>" in html
    # 14 cases: 12 internal labelled + 1 internal unlabelled over train/validation/test, 1 external
    external_row = "<tr><th>external</th>" + "".join(f"<td>{n}</td>" for n in [0, 0, 0, 1, 0, 1])
    assert external_row + "</tr>" in html


def test_the_case_list_filters_by_label_and_partition(coordinator, populated):
    url = reverse("admin:studies_image_changelist")
    external = coordinator.get(url, {"partition": "external"})
    assert "1 case" in external.content.decode() or "1 image" in external.content.decode()
    unlabelled = coordinator.get(url, {"label": "__none__"})
    assert unlabelled.status_code == 200
    assert "P99" in unlabelled.content.decode()


def test_the_study_list_counts_cases_and_labels(coordinator, populated):
    html = coordinator.get(reverse("admin:studies_study_changelist")).content.decode()
    assert ">14<" in html and ">13<" in html


def test_a_reader_cannot_open_the_admin(client, django_user_model):
    reader = django_user_model.objects.create_user("alice", password="pw-alice-123")
    client.force_login(reader)
    response = client.get(reverse("admin:index"))
    assert response.status_code == 302
