"""DICOM networking against a real PACS (Debian's Orthanc, on loopback): a study stored in
Orthanc is pulled over DICOMweb (QIDO-RS, WADO-RS) and sent by Orthanc itself by C-STORE to our
storage SCP; through both routes it arrives de-identified, one case per hip series with the
middle slice designated, with the same pixels, and a colour image and a file in a transfer
syntax we cannot decode are rejected with their reasons. Associations from calling AE titles
not allowed are rejected; an aborted association imports what it fully delivered."""

from __future__ import annotations

import hashlib
import io
import logging
import re
import shutil
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
import pytest
import requests
from django.core.management import call_command
from django.core.management.base import CommandError
from pydicom.encaps import encapsulate
from pydicom.uid import UID
from pynetdicom import AE
from pynetdicom.sop_class import MRImageStorage

from inference.engine.phantom_dicom import write_phantom_study
from studies.models import Image, ImportBatch, Slice, Study
from studies.services.dicom_receiver import (
    ReceiverConfig,
    ReceiverConfigError,
    StorageReceiver,
)
from tests.network.orthanc import AE_TITLE as ORTHANC_AE
from tests.network.orthanc import free_port
from tests.studies.deid_checks import assert_deidentified
from tests.studies.dicom_files import IDENTIFYING, mr_dataset, uid_for

pytestmark = pytest.mark.django_db(transaction=True)

RECEIVER_AE = "RB"
MODALITY = "readerbench"  # our SCP, as Orthanc knows it
MPEG2 = UID("1.2.840.10008.1.2.4.100")
RGB_FILE = Path(pydicom.__file__).parent / "data" / "test_files" / "examples_rgb_color.dcm"
REJECTIONS = {
    "RGB image, expected grayscale": 1,
    f"compressed transfer syntax {MPEG2.name} cannot be decoded here": 1,
}


def _pixel_hash(ds: pydicom.Dataset) -> str:
    return hashlib.sha256(np.ascontiguousarray(ds.pixel_array).tobytes()).hexdigest()


@dataclass
class Sources:
    """The files stored in Orthanc, and what their import must give."""

    files: list[Path]
    original_uids: set[str]
    patient_ids: set[str]
    #: Per hip series: the pixel hashes of its slices in stack order.
    series: dict[str, list[str]]
    #: The three-slice series whose slices arrive out of order: its middle slice's position.
    stack_uid: str
    stack_middle: float


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> Sources:
    """A small phantom study (4 patients, 7 hip series, one of two slices), a three-slice hip
    series full of identifying tags whose Instance Numbers run against its positions, an RGB
    image and an MR slice in MPEG-2 (which nothing here decodes)."""
    root = tmp_path_factory.mktemp("sources")
    write_phantom_study(root / "phantom", patients=4, sites=1, external_sites=0, seed=7)
    files = sorted((root / "phantom").glob("SITE1/*/*.dcm"))
    positions = {"stack-1": 20.0, "stack-2": 0.0, "stack-3": 10.0}  # middle: stack-3 at 10 mm
    for number, (name, z) in enumerate(positions.items(), start=1):
        ds = mr_dataset(
            patient_id="PAT-STACK", study="stack-study", series="stack-series", instance=name,
            seed=number, laterality="L",
        )
        ds.InstanceNumber = number
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.ImagePositionPatient = [0, 0, z]
        path = root / f"{name}.dcm"
        ds.save_as(path, enforce_file_format=True)
        files.append(path)
    colour = root / "colour.dcm"
    shutil.copy(RGB_FILE, colour)
    mpeg = mr_dataset(patient_id="PAT-MPEG", study="mpeg-study", series="mpeg", instance="mpeg")
    mpeg.file_meta.TransferSyntaxUID = MPEG2
    mpeg.PixelData = encapsulate([b"\x00\x00\x01\xb3" + bytes(60)])
    mpeg["PixelData"].VR = "OB"
    mpeg.save_as(root / "mpeg2.dcm", enforce_file_format=True)
    files += [colour, root / "mpeg2.dcm"]

    original_uids: set[str] = set()
    patient_ids: set[str] = set()
    series: dict[str, list] = {}
    for path in files[:-2]:
        ds = pydicom.dcmread(path)
        original_uids |= {ds.SOPInstanceUID, ds.SeriesInstanceUID, ds.StudyInstanceUID}
        patient_ids.add(str(ds.PatientID))
        orientation = np.array(ds.ImageOrientationPatient, dtype=float)
        along = float(np.dot(ds.ImagePositionPatient, np.cross(orientation[:3], orientation[3:])))
        series.setdefault(ds.SeriesInstanceUID, []).append((along, _pixel_hash(ds)))
    # The import orders a stack by position along the slice normal.
    ordered = {uid: [h for _, h in sorted(s)] for uid, s in series.items()}
    return Sources(files, original_uids, patient_ids, ordered, uid_for("stack-series"), 10.0)


@pytest.fixture(scope="module")
def stored_in_orthanc(orthanc, sources) -> dict[str, str]:
    """The sources stored in Orthanc over its REST API: Orthanc study id -> Study UID."""
    orthanc.clear()
    for path in sources.files:
        orthanc.upload(path)
    return {oid: orthanc.study_uid(oid) for oid in orthanc.studies()}


@pytest.fixture
def receiver(tmp_path, orthanc):
    """Start a storage SCP for ``routes`` on a free port, declared to Orthanc as MODALITY."""
    started: list[StorageReceiver] = []

    def start(routes: list[str], allowed: list[str] | None = None) -> StorageReceiver:
        config = ReceiverConfig.build(
            ae_title_=RECEIVER_AE, host="127.0.0.1", port=free_port(), allowed=allowed or [],
            routes=routes, spool=tmp_path / "spool",
        )
        scp = StorageReceiver(config)
        scp.start()
        started.append(scp)
        orthanc.set_modality(MODALITY, ae_title=RECEIVER_AE, port=scp.port)
        return scp

    yield start
    for scp in started:
        scp.stop()


def _study(slug: str) -> Study:
    return Study.objects.create(slug=slug, title=slug)


def batch_totals(batches) -> tuple[int, int, int, dict]:
    """Imported, duplicates, rejected and the rejection reasons over ``batches`` (Orthanc
    sends instances of another transfer syntax in an association of their own)."""
    reasons: Counter = Counter()
    totals = [0, 0, 0]
    for batch in batches:
        assert batch.finished_at is not None and not batch.failure
        totals = [t + n for t, n in zip(totals, (batch.n_imported, batch.n_duplicates,
                                                   batch.n_rejected), strict=True)]
        reasons.update(batch.rejection_reasons)
    return (*totals, dict(reasons))


def assert_arrived(study: Study, sources: Sources) -> None:
    """The import of the sources into ``study`` through either route: the two bad files
    rejected with their reasons, one case per hip series with the middle slice designated, the
    same pixels as the sources, nothing identifying in the stored files."""
    batches = ImportBatch.objects.filter(study=study)
    assert batch_totals(batches) == (len(sources.files) - 2, 0, 2, REJECTIONS)
    cases = list(Image.objects.filter(study=study).prefetch_related("slices"))
    assert len(cases) == len(sources.series)  # one case per hip series
    arrived = Counter()
    for case in cases:
        stack = sorted(case.slices.all(), key=lambda s: s.index)
        assert [s.index for s in stack] == list(range(len(stack)))
        assert case.designated_index == (len(stack) - 1) // 2
        hashes = []
        for piece in stack:
            ds = pydicom.dcmread(piece.file.path)
            assert_deidentified(ds, original_uids=sources.original_uids)
            raw = Path(piece.file.path).read_bytes()
            for text in (*IDENTIFYING, *sources.patient_ids):
                assert text.encode() not in raw, f"{text!r} in a stored file"
            hashes.append(_pixel_hash(ds))
        arrived[tuple(hashes)] += 1
        if len(stack) == 3:
            designated = stack[case.designated_index]
            assert designated.position == pytest.approx(sources.stack_middle)
            assert case.content_hash == designated.content_hash
    assert arrived == Counter(tuple(h) for h in sources.series.values())


def test_a_study_pulled_over_dicomweb_arrives_deidentified_one_case_per_series(
    orthanc, stored_in_orthanc, sources, site
):
    study = _study("pulled")
    out = io.StringIO()
    args = ["--url", orthanc.dicomweb_url, "--study", "pulled", "--site", site.code]
    for uid in stored_in_orthanc.values():
        args += ["--study-uid", uid]
    call_command("pull_dicomweb", *args, stdout=out)
    assert_arrived(study, sources)
    batch = ImportBatch.objects.get(study=study)  # one batch per pull
    text = out.getvalue()
    files = len(sources.files)
    assert (f"{len(stored_in_orthanc)} studies, {len(sources.series) + 2} series, "
            f"{files} instances retrieved") in text
    assert f"{files - 2} imported, 0 duplicates, 2 rejected into pulled from SITE1 " \
           f"(import batch {batch.pk})" in text
    assert "RGB image, expected grayscale" in text

    # Pulling again is safe: one more batch, every file a duplicate or rejected again (and,
    # as for import_dicom, exit status 3: nothing new, some files rejected).
    with pytest.raises(CommandError, match="nothing was imported: 2 rejected, 11 already"):
        call_command("pull_dicomweb", *args, stdout=io.StringIO())
    again = ImportBatch.objects.filter(study=study).latest("pk")
    assert (again.n_imported, again.n_duplicates, again.n_rejected) == (0, files - 2, 2)
    assert Image.objects.filter(study=study).count() == len(sources.series)

    # A patient's studies can be found by Patient ID (QIDO-RS), nothing else pulled.
    other = _study("by-patient")
    call_command("pull_dicomweb", "--url", orthanc.dicomweb_url, "--study", "by-patient",
                 "--site", site.code, "--patient-id", "PAT-STACK", stdout=io.StringIO())
    assert Slice.objects.filter(study=other).count() == 3
    assert Image.objects.filter(study=other).count() == 1


def test_the_same_study_sent_by_orthanc_over_c_store_arrives_identically(
    orthanc, stored_in_orthanc, sources, site, receiver, caplog
):
    study = _study("received")
    scp = receiver([f"{ORTHANC_AE}=received:{site.code}"])
    with caplog.at_level(logging.INFO, logger="studies.services.dicom_receiver"):
        response = orthanc.send(MODALITY, list(stored_in_orthanc))
        assert response.ok, response.text
        scp.wait_idle(timeout=60)
    assert_arrived(study, sources)
    files = len(sources.files)
    lines = [r.getMessage() for r in caplog.records if "association from" in r.getMessage()]
    assert lines and all(
        line.startswith("association from 'ORTHANC' at 127.0.0.1:") and "(released)" in line
        and line.endswith(f"into received:{site.code} (import batch {batch})")
        for line, batch in zip(lines, ImportBatch.objects.filter(study=study).order_by("pk")
                               .values_list("pk", flat=True), strict=True)
    ), lines
    assert sum(r.received for r in scp.results) == files
    assert not list(scp.spool.glob("assoc-*")), "the associations' folders are removed"

    # Sent again: every instance a duplicate (idempotent), no new case.
    last = ImportBatch.objects.latest("pk").pk
    assert orthanc.send(MODALITY, list(stored_in_orthanc)).ok
    scp.wait_idle(timeout=60)
    again = ImportBatch.objects.filter(study=study, pk__gt=last)
    assert batch_totals(again) == (0, files - 2, 2, REJECTIONS)
    assert Image.objects.filter(study=study).count() == len(sources.series)


def _send(calling_ae: str, port: int, paths: list[Path], *, called: str = RECEIVER_AE,
          abort: bool = False):
    scu = AE(ae_title=calling_ae)
    scu.add_requested_context(MRImageStorage)
    assoc = scu.associate("127.0.0.1", port, ae_title=called)
    if not assoc.is_established:
        return assoc, []
    statuses = [assoc.send_c_store(pydicom.dcmread(p)).Status for p in paths]
    if abort:
        assoc.abort()
    else:
        assoc.release()
    return assoc, statuses


def test_calling_ae_titles_not_allowed_are_rejected(site, receiver, sources, caplog):
    _study("received")
    scp = receiver([f"MODALITY1=received:{site.code}"])
    stack = [p for p in sources.files if p.name.startswith("stack-")]
    with caplog.at_level(logging.WARNING, logger="studies.services.dicom_receiver"):
        intruder, statuses = _send("INTRUDER", scp.port, stack)
        wrong_called, _ = _send("MODALITY1", scp.port, stack, called="SOMEONE")
    assert intruder.is_rejected and wrong_called.is_rejected
    assert statuses == []
    assert "association from 'INTRUDER' at 127.0.0.1" in caplog.text
    assert "rejected" in caplog.text
    scp.wait_idle(timeout=30)
    assert not ImportBatch.objects.exists()
    assert not list(scp.spool.glob("assoc-*"))


def test_an_aborted_association_imports_what_it_fully_delivered(site, receiver, sources):
    study = _study("received")
    scp = receiver([f"MODALITY1=received:{site.code}", f"*=received:{site.code}"],
                   allowed=["MODALITY1", "MODALITY2"])
    stack = [p for p in sources.files if p.name.startswith("stack-")]
    assoc, statuses = _send("MODALITY2", scp.port, stack[:2], abort=True)
    assert assoc.is_aborted and statuses == [0, 0]
    scp.wait_idle(timeout=30)
    batch = ImportBatch.objects.get(study=study)
    assert (batch.n_imported, batch.n_rejected) == (2, 0)
    assert Slice.objects.filter(study=study).count() == 2
    # Depending on timing, the abort or the dropped connection is noticed first.
    assert [r.ended for r in scp.results] in (["aborted"], ["closed"])
    assert not list(scp.spool.glob("assoc-*"))


def test_a_full_disk_answers_out_of_resources_and_the_rest_is_imported(site, receiver, sources):
    """The second instance's file is /dev/full (the kernel's ENOSPC on write): the sender hears
    0xA700 for it, the others are stored and imported, and the log counts it as refused."""
    study = _study("received")
    scp = receiver([f"MODALITY1=received:{site.code}"])
    stack = [p for p in sources.files if p.name.startswith("stack-")]
    scu = AE(ae_title="MODALITY1")
    scu.add_requested_context(MRImageStorage)
    assoc = scu.associate("127.0.0.1", scp.port, ae_title=RECEIVER_AE)
    assert assoc.is_established
    statuses = [assoc.send_c_store(pydicom.dcmread(stack[0])).Status]
    [folder] = scp.spool.glob("assoc-*")
    (folder / "0000002.part").symlink_to("/dev/full")
    statuses += [assoc.send_c_store(pydicom.dcmread(p)).Status for p in stack[1:]]
    assoc.release()
    scp.wait_idle(timeout=30)
    assert statuses == [0x0000, 0xA700, 0x0000]
    batch = ImportBatch.objects.get(study=study)
    assert (batch.n_imported, batch.n_rejected) == (2, 0)
    [result] = scp.results
    assert (result.received, result.refused, result.imported) == (2, 1, 2)
    assert not folder.exists()


def test_stopping_imports_what_an_open_association_delivered(site, receiver, sources):
    """SIGTERM (``stop``) with a sender still connected: after the grace period the association
    is aborted and what it delivered is imported before ``stop`` returns."""
    study = _study("received")
    scp = receiver([f"MODALITY1=received:{site.code}"])
    scu = AE(ae_title="MODALITY1")
    scu.add_requested_context(MRImageStorage)
    assoc = scu.associate("127.0.0.1", scp.port, ae_title=RECEIVER_AE)
    stack = [p for p in sources.files if p.name.startswith("stack-")]
    assert assoc.send_c_store(pydicom.dcmread(stack[0])).Status == 0x0000
    scp.stop(grace=0.5)
    assert ImportBatch.objects.get(study=study).n_imported == 1
    assert not list(scp.spool.glob("assoc-*"))
    assoc.join()
    assert assoc.is_aborted


def test_a_folder_left_in_the_spool_is_imported_at_the_next_start(site, receiver, sources):
    """A receiver that died between answering 0x0000 and importing loses nothing."""
    study = _study("received")
    scp = receiver([f"MODALITY1=received:{site.code}"])
    scp.stop()
    left = scp.spool / "assoc-left"
    left.mkdir(parents=True)
    (left / "route.json").write_text(
        '{"calling_ae": "MODALITY1", "peer": "127.0.0.1:1", "study": "received", "site": "SITE1"}'
    )
    for i, path in enumerate(p for p in sources.files if p.name.startswith("stack-")):
        shutil.copy(path, left / f"{i:07d}.dcm")
    (left / "0000009.part").write_bytes(b"half an instance")
    again = receiver([f"MODALITY1=received:{site.code}"])
    again.wait_idle(timeout=30)
    batch = ImportBatch.objects.get(study=study)
    assert (batch.n_imported, batch.n_rejected) == (3, 0)
    assert not left.exists()


def test_pull_errors_name_the_server_and_import_nothing(orthanc, stored_in_orthanc, site):
    _study("pulled")
    closed = free_port()
    with pytest.raises(CommandError) as refused:
        call_command("pull_dicomweb", "--url", f"http://127.0.0.1:{closed}/dicom-web",
                     "--study", "pulled", "--site", site.code, "--since", "2000-01-01",
                     "--attempts", "1")
    assert refused.value.returncode == 4
    assert str(refused.value) == (
        f"http://127.0.0.1:{closed}/dicom-web: the study search (QIDO-RS) failed "
        "(cannot connect); nothing was imported"
    )
    with pytest.raises(CommandError) as unknown:
        call_command("pull_dicomweb", "--url", orthanc.dicomweb_url, "--study", "pulled",
                     "--site", site.code, "--study-uid", "1.2.3.4.5")
    assert unknown.value.returncode == 4
    assert "no study 1.2.3.4.5 matches (QIDO-RS)" in str(unknown.value)
    with pytest.raises(CommandError, match="say which studies to pull"):
        call_command("pull_dicomweb", "--url", orthanc.dicomweb_url, "--study", "pulled",
                     "--site", site.code)
    with pytest.raises(CommandError, match="not in the URL"):
        call_command("pull_dicomweb", "--url", "http://me:secret@127.0.0.1/dicom-web",
                     "--study", "pulled", "--site", site.code, "--since", "2000-01-01")
    assert not ImportBatch.objects.exists()


def test_a_pull_authenticates_with_credentials_from_the_environment(
    orthanc, tmp_path, sources, site, monkeypatch
):
    """A PACS that asks for a password (a second Orthanc, basic authentication): the password
    comes from the variable --user-env names; a wrong one is an HTTP 401 naming the server."""
    from tests.network.orthanc import running_orthanc

    study = _study("pulled")
    stack = [p for p in sources.files if p.name.startswith("stack-")]
    with running_orthanc(tmp_path / "locked", users={"reader": "s3cret"}) as locked:
        for path in stack:
            response = requests.post(f"{locked.url}/instances", data=path.read_bytes(),
                                     auth=("reader", "s3cret"), timeout=30)
            response.raise_for_status()
        args = ["--url", locked.dicomweb_url, "--study", "pulled", "--site", site.code,
                "--patient-id", "PAT-STACK", "--user-env", "PACS_LOGIN", "--attempts", "1"]
        monkeypatch.setenv("PACS_LOGIN", "reader:wrong")
        with pytest.raises(CommandError) as refused:
            call_command("pull_dicomweb", *args, stdout=io.StringIO())
        assert refused.value.returncode == 4
        assert str(refused.value) == (f"{locked.dicomweb_url}: the study search (QIDO-RS) "
                                      "failed (HTTP 401 Unauthorized); nothing was imported")
        assert not ImportBatch.objects.exists()
        monkeypatch.setenv("PACS_LOGIN", "reader:s3cret")
        call_command("pull_dicomweb", *args, stdout=io.StringIO())
    assert ImportBatch.objects.get(study=study).n_imported == 3
    assert Slice.objects.filter(study=study).count() == 3


@pytest.mark.django_db  # no thread here: the faster, rolled-back kind
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"routes": []}, "no route"),
        ({"routes": ["MODALITY1"]}, "expected CALLING_AE=study-slug:SITECODE"),
        ({"routes": ["MODALITY1=nostudy:SITE1"]}, "no study 'nostudy'"),
        ({"routes": ["MODALITY1=received:NOSITE"]}, "no site 'NOSITE'"),
        ({"routes": ["*=received:SITE1"]}, "a '*' route needs the allowed calling AE titles"),
        ({"routes": ["A=received:SITE1"], "allowed": ["A", "B"]}, "without a route: B"),
        ({"routes": ["A=received:SITE1", "B=received:SITE1"], "allowed": ["A"]},
         "'B', which is not an allowed"),
        ({"routes": ["A=received:SITE1"], "ae_title_": "WAY-TOO-LONG-AE-TITLE"}, "1 to 16"),
    ],
)  # fmt: skip
def test_a_bad_receiver_configuration_names_what_is_wrong(site, tmp_path, kwargs, message):
    _study("received")
    values = {"ae_title_": RECEIVER_AE, "host": "127.0.0.1", "port": 11112, "allowed": [],
              "spool": tmp_path, **kwargs}
    with pytest.raises(ReceiverConfigError, match=re.escape(message)):
        ReceiverConfig.build(**values)
