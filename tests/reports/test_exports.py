"""A study's exports: human reads and a model's predictions go out as one long table that
``python -m analysis compare`` analyses exactly as :func:`analysis.compare.comparison.compare`
does."""

import json
import uuid

import numpy as np
import pandas as pd
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from analysis.cli import main
from analysis.compare.comparison import compare
from analysis.table.longtable import load_long_table
from inference.models import ModelVersion, Prediction
from readers.models import ReaderProfile
from readers.services.reading import read_submit, session_create
from reports.services.exports import study_export_bundle, study_export_long_table
from studies.models import Membership
from studies.services.partitions import study_partition
from tests.studies.factories import make_case

pytestmark = pytest.mark.django_db
LABELS = ["A", "B", "C1", "C2"]
SHA = "5e" * 32


@pytest.fixture
def export_study(study, site, external_site, django_user_model):
    for n in range(40):
        make_case(study=study, site=site, patient=f"P{n // 2}", side="LR"[n % 2],
                  label=LABELS[n % 4])
    for n in range(12):
        make_case(study=study, site=external_site, patient=f"E{n}", label=LABELS[(n + 1) % 4])
    study_partition(study=study, seed=3)
    for i, (name, seniority) in enumerate([("alice", "chief"), ("bob", "attending"),
                                           ("carol", "resident")]):
        user = django_user_model.objects.create_user(name)
        ReaderProfile.objects.create(user=user, seniority=seniority, years_experience=10)
        Membership.objects.create(study=study, user=user, role="reader")
        session = session_create(study=study, reader=user, name="R1", condition="unaided")
        for item in session.items.select_related("image__reference"):
            truth = item.image.reference.label
            wrong = (item.position + i) % 3 == 0  # right two times in three
            label = LABELS[min(3, LABELS.index(truth) + 1)] if wrong else truth
            read_submit(item=item, stage="unaided", label=label, confidence=50 + 15 * i,
                        time_ms=2000 + item.position, request_id=uuid.uuid4())
    version = ModelVersion.objects.create(
        sha256=SHA, name="m", architecture="tiny", input_size=32, labels=LABELS, card={},
        weights_file=f"models/{SHA}.pt", format="state_dict")
    rng = np.random.default_rng(5)
    for image in study.images.select_related("reference"):  # train cases too: left out later
        logits = rng.normal(size=4)
        logits[LABELS.index(image.reference.label)] += 1.5
        p = np.exp(logits) / np.exp(logits).sum()
        Prediction.objects.create(model_version=version, image=image,
                                  probabilities=[float(x) for x in p],
                                  predicted_label=LABELS[int(np.argmax(p))])
    return study, version


def test_the_long_table_holds_the_reads_and_the_models_reading_cases(export_study):
    study, version = export_study
    df = study_export_long_table(study=study, model_version=version)
    reading = study.images.filter(partition__in=["test", "external"]).count()
    assert len(df) == 4 * reading
    model = df[df.reader_kind == "model"]
    assert set(model.reader) == {f"model:{version.short_sha}"}
    assert set(model.partition) <= {"test", "external"} and len(model) == reading
    assert model[[f"score_{c}" for c in LABELS]].notna().all().all()
    assert df.loc[df.reader_kind == "human", "score_A"].isna().all()
    # the default takes every model version with predictions on the study
    assert len(study_export_long_table(study=study)) == len(df)


def test_reads_of_cases_without_truth_or_outside_the_reading_set_stay_out(export_study):
    study, version = export_study
    before = study_export_long_table(study=study, model_version=version)
    read = study.images.filter(partition="test").first()
    # One read case loses its reference label, another read case is moved to training.
    read.reference.delete()
    moved = study.images.filter(partition="external").first()
    type(moved).objects.filter(pk=moved.pk).update(partition="train")
    df = study_export_long_table(study=study, model_version=version)
    gone = {str(read.pk), str(moved.pk)}
    assert not set(df["case"]) & gone
    assert len(df) == len(before) - 4 * 2  # three readers and the model, on each case
    assert df["truth"].notna().all()
    compare(df, labels=LABELS, n_bootstrap=0)  # analyses without a missing truth


def test_the_exported_table_round_trips_through_the_compare_command(export_study, tmp_path,
                                                                   capsys):
    study, version = export_study
    files = study_export_bundle(study=study, model_version=version, directory=tmp_path,
                                n_bootstrap=40, seed=7)
    csv_path = tmp_path / "long_table.csv"
    assert csv_path in files
    endpoints = [f"--endpoint={e['name']}={','.join(e['positive'])}" for e in study.endpoints]
    assert main(["compare", str(csv_path), "--bootstrap", "40", "--seed", "7",
                 "--labels", ",".join(LABELS), *endpoints, "--json"]) == 0
    from_cli = json.loads(capsys.readouterr().out)
    df = study_export_long_table(study=study, model_version=version)
    direct = compare(df, labels=LABELS, endpoints=study.endpoints, n_bootstrap=40,
                     seed=7).to_dict()
    # the exported CSV analysed by the command = the database's table analysed directly
    # = the results.json of the bundle, to the last digit
    assert [e["name"] for e in from_cli["endpoints"]] == [e["name"] for e in study.endpoints]
    assert from_cli == direct
    assert json.loads((tmp_path / "results.json").read_text()) == direct
    groups = {g["name"]: g for g in from_cli["site_groups"]}
    assert groups["all"]["models"][0]["reader"] == f"model:{version.short_sha}"
    assert {r["reader"] for r in groups["all"]["readers"]} == {"alice", "bob", "carol"}


def test_the_mrmc_files_hold_every_reader_and_the_model(export_study, tmp_path):
    study, version = export_study
    files = study_export_bundle(study=study, model_version=version, directory=tmp_path,
                                n_bootstrap=0)
    mrmc = [p for p in files if p.name.startswith("mrmc_")]
    imrmc = [p for p in files if p.suffix == ".imrmc"]
    assert len(mrmc) == len(imrmc) == len(study.endpoints)
    reading = study.images.filter(partition__in=["test", "external"]).count()
    for path in mrmc:
        frame = pd.read_csv(path, dtype={"reader": str})
        assert len(frame) == 4 * reading
        assert frame["reader"].iloc[0] == f"model:{version.short_sha}"
    table = load_long_table(tmp_path / "long_table.csv")
    assert table.labels == tuple(LABELS)


def test_the_command_writes_the_files(export_study, tmp_path):
    study, version = export_study
    out = tmp_path / "export"
    call_command("export_study", "--study", study.slug, "--model", version.sha256[:8],
                 "--out", str(out), "--bootstrap", "0")
    names = {p.name for p in out.iterdir()}
    assert {"long_table.csv", "long_table_dictionary.csv", "study.xlsx",
            "results.json"} <= names
    assert sum(n.endswith(".imrmc") for n in names) == sum(n.startswith("mrmc_") for n in names)
    assert sum(n.endswith(".imrmc") for n in names) >= 1


def test_the_command_refuses_an_unknown_study_or_model(export_study, tmp_path):
    study, _ = export_study
    with pytest.raises(CommandError, match="--study: no study with slug 'nope'"):
        call_command("export_study", "--study", "nope", "--out", str(tmp_path))
    with pytest.raises(CommandError, match="--model: model 'ffffff'"):
        call_command("export_study", "--study", study.slug, "--model", "ffffff",
                     "--out", str(tmp_path))
