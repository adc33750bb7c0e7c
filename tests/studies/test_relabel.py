"""Labels uploads: a CSV checked by a dry run (matched by the ORIGINAL SOP Instance UID, or by
patient key and side), applied with an audit row per change; refused when the cases changed
since the dry run, or when a read case would change without the coordinator's consent.

Cases come in through the real importer (real DICOM files with identifying tags), so that the
UIDs and pseudonyms to match are the ones import really made."""

from __future__ import annotations

import hashlib
import uuid

import pytest
from django.conf import settings

from readers.services.reading import read_submit, session_create
from studies.dicom.deid import patient_pseudonym
from studies.models import Image, LabelChange, LabelUpload, Membership, ReferenceLabel
from studies.services import relabel
from studies.services.dicom_import import import_dicom_files
from studies.services.manifest import ManifestError
from tests.studies.dicom_files import uid_for, write_mr

HEADER = "patient_key,side,label,label_source,sop_instance_uid,file\n"


@pytest.fixture
def cases(tmp_path, study, site):
    """Four cases of four patients (left hips), imported without labels; case 0 is labelled A."""
    paths = [
        str(write_mr(tmp_path / f"in/DOE_{i}.dcm", patient_id=f"PAT-{i}", study=f"st-{i}",
                     series=f"se-{i}", instance=f"inst-{i}", seed=i, rows=16, columns=16,
                     laterality="L"))
        for i in range(4)
    ]
    report = import_dicom_files(paths=paths, study=study, site=site)
    assert report.imported == 4, report.as_dict()
    images = list(Image.objects.filter(study=study).order_by("hip__patient__pseudonym"))
    by_patient = {}
    for i in range(4):
        pseudonym = patient_pseudonym(key=settings.PSEUDONYM_KEY, study=study.slug,
                                      site=site.code, patient_key=f"PAT-{i}")
        by_patient[i] = next(im for im in images if im.hip.patient.pseudonym == pseudonym)
    ReferenceLabel.objects.create(image=by_patient[0], label="A", source="first panel")
    return by_patient


def csv_bytes(*rows: str) -> bytes:
    return (HEADER + "".join(row + "\n" for row in rows)).encode()


def standard_csv() -> bytes:
    return csv_bytes(
        f"PAT-0,L,B,consensus panel,{uid_for('inst-0')},",  # line 2: changes A -> B
        f"PAT-1,L,A,consensus panel,{uid_for('inst-1')},",  # line 3: new label
        "PAT-2,L,C1,follow-up,,old/DOE_2.dcm",  # line 4: by patient + side
        f"PAT-9,L,C2,follow-up,{uid_for('inst-3')},",  # line 5: UID of another patient
        f"PAT-5,L,C2,follow-up,{uid_for('no-such-file')},",  # line 6: no such case
    )


def test_the_dry_run_shows_what_would_change_and_changes_nothing(cases, study, admin_user):
    upload = relabel.labels_dry_run(study=study, data=standard_csv(), user=admin_user)
    dry = relabel.label_upload_dry_run(upload=upload)
    assert [(r.case_id, r.new_label) for r in dry.new] == [(cases[1].pk, "A"), (cases[2].pk, "C1")]
    assert [(r.case_id, r.old_label, r.new_label) for r in dry.changed] == [
        (cases[0].pk, "A", "B")
    ]
    assert [line for line, _ in dry.unmatched] == [5, 6]
    assert "another patient" in dry.unmatched[0][1]
    assert "no case" in dry.unmatched[1][1]
    assert upload.file_sha256 == hashlib.sha256(standard_csv()).hexdigest()
    assert ReferenceLabel.objects.get(image=cases[0]).label == "A"
    assert not ReferenceLabel.objects.filter(image__in=[cases[1], cases[2]]).exists()
    # Nothing of the file but its hash is kept: no patient key in the stored dry run.
    assert "PAT-" not in str(upload.plan) + str(upload.unmatched) + str(upload.state)


def test_applying_writes_the_labels_and_one_audit_row_per_change(cases, study, admin_user):
    upload = relabel.labels_dry_run(study=study, data=standard_csv(), user=admin_user)
    changes = relabel.labels_apply(upload=upload, user=admin_user)
    assert len(changes) == 3
    labels = dict(ReferenceLabel.objects.values_list("image_id", "label"))
    assert labels == {cases[0].pk: "B", cases[1].pk: "A", cases[2].pk: "C1"}
    audit = {c.image_id: c for c in LabelChange.objects.all()}
    assert (audit[cases[0].pk].old_label, audit[cases[0].pk].new_label) == ("A", "B")
    assert (audit[cases[0].pk].old_source, audit[cases[0].pk].new_source) == (
        "first panel", "consensus panel"
    )
    assert audit[cases[1].pk].old_label == ""
    assert {c.batch_id for c in audit.values()} == {upload.pk}
    assert {c.file_sha256 for c in audit.values()} == {upload.file_sha256}
    assert {c.changed_by_id for c in audit.values()} == {admin_user.pk}
    # A second submit of the same dry run changes nothing more.
    with pytest.raises(relabel.RelabelError, match="applied already"):
        relabel.labels_apply(upload=upload, user=admin_user)
    assert LabelChange.objects.count() == 3


def test_an_upload_is_refused_when_the_cases_changed_since_its_dry_run(cases, study, admin_user):
    upload = relabel.labels_dry_run(study=study, data=standard_csv(), user=admin_user)
    ReferenceLabel.objects.filter(image=cases[0]).update(label="C2")
    with pytest.raises(relabel.StaleDryRunError) as caught:
        relabel.labels_apply(upload=upload, user=admin_user)
    assert ReferenceLabel.objects.get(image=cases[0]).label == "C2"
    assert not LabelChange.objects.exists()
    fresh = caught.value.upload
    assert fresh.pk != upload.pk and fresh.applied_at is None
    changed = relabel.label_upload_dry_run(upload=fresh).changed
    assert [(r.old_label, r.new_label) for r in changed] == [("C2", "B")]
    relabel.labels_apply(upload=fresh, user=admin_user)
    assert ReferenceLabel.objects.get(image=cases[0]).label == "B"


def test_a_bad_line_is_reported_with_its_number_and_nothing_is_recorded(cases, study, admin_user):
    data = csv_bytes(
        f"PAT-0,L,B,consensus panel,{uid_for('inst-0')},",
        f"PAT-1,X,Z9,consensus panel,{uid_for('inst-1')},",
    )
    with pytest.raises(ManifestError) as caught:
        relabel.labels_dry_run(study=study, data=data, user=admin_user)
    reasons = [(p.line, p.reason) for p in caught.value.problems]
    assert [line for line, _ in reasons] == [3, 3]
    assert "side 'X'" in reasons[0][1] and "'Z9'" in reasons[1][1]
    assert not LabelUpload.objects.exists()
    assert "/tmp" not in str(caught.value)


def test_two_rows_that_disagree_on_one_case_are_both_left_out(cases, study, admin_user):
    data = csv_bytes(
        f"PAT-1,L,A,panel,{uid_for('inst-1')},",
        "PAT-1,L,B,panel,,elsewhere/DOE_1.dcm",
    )
    dry = relabel.label_upload_dry_run(
        upload=relabel.labels_dry_run(study=study, data=data, user=admin_user)
    )
    assert dry.changes == []
    assert [line for line, _ in dry.unmatched] == [2, 3]


def test_a_read_case_keeps_its_label_unless_the_coordinator_ticks_relabel(
    cases, study, admin_user, django_user_model
):
    reader = django_user_model.objects.create_user("alice")
    Membership.objects.create(study=study, user=reader, role="reader")
    session = session_create(study=study, reader=reader, name="R1", condition="unaided",
                             images=[cases[0]], base_seed=1)
    read_submit(item=session.items.get(), stage="unaided", label="A", confidence=50,
                time_ms=1000, request_id=uuid.uuid4())
    upload = relabel.labels_dry_run(study=study, data=standard_csv(), user=admin_user)
    dry = relabel.label_upload_dry_run(upload=upload)
    assert [r.case_id for r in dry.read_changes] == [cases[0].pk]
    with pytest.raises(relabel.RelabelError, match="relabel cases already read"):
        relabel.labels_apply(upload=upload, user=admin_user)
    assert ReferenceLabel.objects.get(image=cases[0]).label == "A"
    assert not ReferenceLabel.objects.filter(image=cases[1]).exists()  # all or nothing
    relabel.labels_apply(upload=upload, user=admin_user, relabel_read=True)
    assert ReferenceLabel.objects.get(image=cases[0]).label == "B"
    change = LabelChange.objects.get(image=cases[0])
    assert change.case_was_read
    upload.refresh_from_db()
    assert upload.relabel_read


def test_an_import_manifest_with_masks_can_be_uploaded_again_as_labels(cases, study, admin_user):
    # Its mask paths point into the import's folder, which is not here: the labels upload
    # leaves the columns that only an import uses, and keeps the line numbers.
    data = (
        b"file,patient_key,side,label,label_source,mask,designated\n"
        b"DOE_1.dcm,PAT-1,L,C2,panel,masks/m1.npy,yes\n"
        b"\n"
        b"DOE_2.dcm,PAT-2,L,\"B\",\"panel, second read\",masks/m2.npy,\n"
        b"DOE_3.dcm,PAT-3,Q,B,panel,masks/m3.npy,\n"
    )
    with pytest.raises(ManifestError) as caught:
        relabel.labels_dry_run(study=study, data=data, user=admin_user)
    assert [(p.line, "side 'Q'" in p.reason) for p in caught.value.problems] == [(5, True)]
    upload = relabel.labels_dry_run(study=study, data=data.rsplit(b"DOE_3", 1)[0],
                                    user=admin_user)
    dry = relabel.label_upload_dry_run(upload=upload)
    assert [(r.line, r.case_id, r.new_label, r.new_source) for r in dry.new] == [
        (2, cases[1].pk, "C2", "panel"), (4, cases[2].pk, "B", "panel, second read"),
    ]
    assert upload.file_sha256 == hashlib.sha256(data.rsplit(b"DOE_3", 1)[0]).hexdigest()


def test_a_patient_key_known_at_two_sites_needs_the_site_column(
    cases, tmp_path, study, external_site, admin_user
):
    # The same patient key at another site is another patient (pseudonyms are per site).
    path = write_mr(tmp_path / "ext/DOE.dcm", patient_id="PAT-1", study="ext-st",
                    series="ext-se", instance="ext-inst", seed=9, rows=16, columns=16,
                    laterality="L")
    assert import_dicom_files(paths=[str(path)], study=study, site=external_site).imported == 1
    ext_case = Image.objects.get(study=study, hip__patient__site=external_site)
    ambiguous = csv_bytes("PAT-1,L,B,panel,,x.dcm")
    dry = relabel.label_upload_dry_run(
        upload=relabel.labels_dry_run(study=study, data=ambiguous, user=admin_user)
    )
    assert dry.changes == [] and "add a site column" in dry.unmatched[0][1]
    data = (
        b"patient_key,side,label,label_source,file,site\n"
        b"PAT-1,L,B,panel,x.dcm,SITE4\n"
        b"PAT-1,L,C1,panel,y.dcm,SITE1\n"
        b"PAT-1,L,C1,panel,z.dcm,NOSUCH\n"
    )
    dry = relabel.label_upload_dry_run(
        upload=relabel.labels_dry_run(study=study, data=data, user=admin_user)
    )
    assert [(r.case_id, r.new_label) for r in dry.new] == [(ext_case.pk, "B"), (cases[1].pk, "C1")]
    assert dry.unmatched == [(4, "site 'NOSUCH' has no cases in this study")]
