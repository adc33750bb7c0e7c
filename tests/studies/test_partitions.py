from collections import Counter, defaultdict

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from studies.models import Image, Split
from studies.services.partitions import PartitionError, parse_fractions, study_partition
from tests.studies.factories import make_case

pytestmark = pytest.mark.django_db

LABELS = ["A", "B", "C1", "C2"]


@pytest.fixture
def cohort(study, site, external_site, django_db_blocker):
    """300 internal patients (some bilateral, some hips with two images) and 40 external ones,
    with imbalanced classes."""
    rng = np.random.default_rng(7)
    for n in range(300):
        sides = ["L", "R"] if rng.random() < 0.4 else ["L"]
        for side in sides:
            label = LABELS[rng.choice(4, p=[0.1, 0.2, 0.35, 0.35])]
            for _ in range(2 if rng.random() < 0.25 else 1):
                make_case(study=study, site=site, patient=f"P{n:04d}", side=side, label=label)
    for n in range(40):
        make_case(study=study, site=external_site, patient=f"E{n:04d}", label="C2")
    return study


def _partition_of_patients(study):
    parts = defaultdict(set)
    for part, patient in Image.objects.filter(study=study).values_list(
        "partition", "hip__patient_id"
    ):
        parts[patient].add(part)
    return parts


def test_it_never_puts_one_patient_in_two_partitions(cohort):
    study_partition(study=cohort, seed=1)
    assert all(len(parts) == 1 for parts in _partition_of_patients(cohort).values())


def test_external_sites_form_the_external_partition_and_nothing_else_does(cohort):
    study_partition(study=cohort, seed=1)
    external = Image.objects.filter(study=cohort, partition="external")
    assert external.count() == 40
    assert not external.exclude(hip__patient__site__external=True).exists()
    assert not Image.objects.filter(study=cohort, partition="").exists()


def test_it_splits_7_1_2_and_keeps_class_proportions_within_a_few_percent(cohort):
    study_partition(study=cohort, seed=3)
    internal = Image.objects.filter(study=cohort).exclude(partition="external")
    overall = Counter(internal.values_list("reference__label", flat=True))
    n = sum(overall.values())
    for part, fraction in {"train": 0.7, "validation": 0.1, "test": 0.2}.items():
        rows = internal.filter(partition=part).values_list("reference__label", flat=True)
        counts = Counter(rows)
        size = sum(counts.values())
        assert size / n == pytest.approx(fraction, abs=0.02)
        for label in LABELS:
            expected = overall[label] / n
            assert counts[label] / size == pytest.approx(expected, abs=0.04), (part, label)


def test_it_is_reproducible_from_its_seed_and_records_it(cohort):
    study_partition(study=cohort, seed=11)
    first = dict(Image.objects.filter(study=cohort).values_list("id", "partition"))
    study_partition(study=cohort, seed=12)
    other = dict(Image.objects.filter(study=cohort).values_list("id", "partition"))
    split = study_partition(study=cohort, seed=11)
    again = dict(Image.objects.filter(study=cohort).values_list("id", "partition"))
    assert first == again
    assert first != other
    assert split.seed == 11 and split.fractions == {"train": 0.7, "validation": 0.1, "test": 0.2}
    assert Split.objects.filter(study=cohort).count() == 3
    assert sum(split.counts["external"].values()) == 40


def test_it_accepts_other_fractions(cohort):
    study_partition(study=cohort, seed=5, fractions={"train": 0.5, "validation": 0.0, "test": 0.5})
    assert not Image.objects.filter(study=cohort, partition="validation").exists()
    internal = Image.objects.filter(study=cohort).exclude(partition="external").count()
    test = Image.objects.filter(study=cohort, partition="test").count()
    assert test / internal == pytest.approx(0.5, abs=0.02)


@pytest.mark.parametrize(
    ("text", "message"),
    [("0.7,0.2", "three numbers"), ("0.7,0.1,x", "numbers"), ("0.8,0.1,0.2", "add up to 1"),
     ("1.1,0.1,-0.2", "negative"), ("1,0,0", "above zero")],
)
def test_it_refuses_malformed_fractions(text, message):
    with pytest.raises(PartitionError, match=message):
        parse_fractions(text)


def test_it_refuses_an_empty_study(study):
    with pytest.raises(PartitionError, match="no cases"):
        study_partition(study=study, seed=1)


def test_it_refuses_to_resplit_a_study_with_reads_unless_forced(cohort, django_user_model):
    import uuid

    from readers.services.reading import read_submit, session_create
    from studies.models import Membership

    study_partition(study=cohort, seed=1)
    before = dict(Image.objects.filter(study=cohort).values_list("id", "partition"))
    alice = django_user_model.objects.create_user("alice")
    Membership.objects.create(study=cohort, user=alice, role="reader")
    session = session_create(study=cohort, reader=alice, name="R1", condition="unaided")
    read_submit(
        item=session.items.first(), stage="unaided", label="A", confidence=50, time_ms=1000,
        request_id=uuid.uuid4(),
    )
    with pytest.raises(PartitionError, match="already has reads"):
        study_partition(study=cohort, seed=2)
    assert dict(Image.objects.filter(study=cohort).values_list("id", "partition")) == before
    study_partition(study=cohort, seed=2, force=True)
    assert dict(Image.objects.filter(study=cohort).values_list("id", "partition")) != before


def test_the_command_prints_the_table_and_reports_errors(cohort, capsys):
    call_command("partition_study", "--study", cohort.slug, "--seed", "2")
    out = capsys.readouterr().out
    assert "external" in out and "C2" in out
    with pytest.raises(CommandError, match="no study"):
        call_command("partition_study", "--study", "nope")
    with pytest.raises(CommandError, match="add up to 1"):
        call_command("partition_study", "--study", cohort.slug, "--fractions", "0.5,0.5,0.5")
