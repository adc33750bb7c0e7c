"""The long table built from the database feeds analysis unchanged (the interchange format)."""

import uuid

import pandas as pd
import pytest

from analysis.compare.comparison import compare
from analysis.table.longtable import validate_long_table
from readers import selectors
from readers.models import ReaderProfile
from readers.services.reading import read_submit, session_create
from studies.models import Membership
from studies.services.partitions import study_partition
from tests.studies.factories import make_case

pytestmark = pytest.mark.django_db
LABELS = ["A", "B", "C1", "C2"]


@pytest.fixture
def read_study(study, site, external_site, django_user_model):
    for n in range(60):
        make_case(study=study, site=site, patient=f"P{n // 2}", side="LR"[n % 2],
                  label=LABELS[n % 4])
    for n in range(12):
        make_case(study=study, site=external_site, patient=f"E{n}", label=LABELS[(n + 1) % 4])
    study_partition(study=study, seed=9)
    study.revisions_allowed = True
    study.save()
    readers = []
    for name, seniority in [("alice", "chief"), ("bob", "attending"), ("carol", "resident")]:
        user = django_user_model.objects.create_user(name)
        ReaderProfile.objects.create(user=user, seniority=seniority, years_experience=10)
        Membership.objects.create(study=study, user=user, role="reader")
        readers.append(user)
    for i, user in enumerate(readers):
        session = session_create(study=study, reader=user, name="R1", condition="unaided")
        for item in session.items.select_related("image__reference"):
            truth = item.image.reference.label
            # a reader who is right two times in three, wrong by one class otherwise
            wrong = (item.position + i) % 3 == 0
            label = LABELS[min(3, LABELS.index(truth) + 1)] if wrong else truth
            read_submit(item=item, stage="unaided", label=label, confidence=60 + i * 10,
                        time_ms=3000 + item.position, request_id=uuid.uuid4())
    # alice revises one read: the table carries the final version only
    item = readers[0].reading_sessions.get().items.get(position=0)
    read_submit(item=item, stage="unaided", label="C2", confidence=99, time_ms=1,
                request_id=uuid.uuid4())
    return study


def test_the_long_table_has_one_final_row_per_reader_case_condition_session(read_study):
    rows = selectors.study_long_table(study=read_study)
    df = pd.DataFrame(rows)
    n_reading = read_study.images.filter(partition__in=["test", "external"]).count()
    assert len(df) == 3 * n_reading
    assert not df.duplicated(["reader", "case", "condition", "session"]).any()
    revised = df[(df.reader == "alice") & (df.order_index == 0)].iloc[0]
    assert (revised.label, revised.confidence, revised.version) == ("C2", 99, 2)
    assert set(df.partition) == {"test", "external"}
    assert {"score_A", "score_C2", "read_at", "time_ms", "seniority"} <= set(df.columns)


def test_it_holds_no_identity(read_study):
    rows = selectors.study_long_table(study=read_study)
    text = pd.DataFrame(rows).to_csv()
    for image in read_study.images.all():
        assert image.sop_instance_uid not in text
        assert image.content_hash not in text


def test_analysis_reads_it_and_compares_the_readers(read_study):
    df = pd.DataFrame(selectors.study_long_table(study=read_study))
    table = validate_long_table(df, labels=LABELS)
    assert set(table.readers) == {"alice", "bob", "carol"}
    result = compare(table, labels=LABELS, n_bootstrap=50, seed=1).to_dict()
    groups = {g["name"]: g for g in result["site_groups"]}
    assert groups["external"]["n_cases"] == read_study.images.filter(partition="external").count()
    # each reader's accuracy equals a count made straight from the database's final reads
    from readers.models import Read

    for entry in groups["all"]["readers"]:
        finals = {}
        for read in Read.objects.filter(item__session__reader__username=entry["reader"]).order_by(
            "version"
        ):
            finals[read.item_id] = read.label == read.item.image.reference.label
        assert entry["accuracy"]["n"] == len(finals)
        assert entry["accuracy"]["n_correct"] == sum(finals.values()), entry["reader"]
    assert {e["reader"] for e in groups["all"]["readers"]} == {"alice", "bob", "carol"}
