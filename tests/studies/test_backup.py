"""Backup and restore of the installation (issue 15 R7): a round trip into an empty
installation gives back every row (read times to the microsecond) and every stored file, and
the study report rebuilt there is identical; a damaged or hostile archive is refused and leaves
nothing behind."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError

from readers.models import Read
from reports.models import StudyReport
from reports.services.build import study_report_build, study_report_inputs
from studies.models import Image, Study

pytestmark = pytest.mark.django_db(transaction=True)  # a real flush, a real snapshot
N_BOOT = 20


def _media_snapshot() -> dict[str, bytes]:
    root = Path(settings.MEDIA_ROOT)
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _empty_installation():
    """What a new machine has after `migrate`: no rows of ours, an empty MEDIA_ROOT."""
    call_command("flush", interactive=False, verbosity=0)
    root = Path(settings.MEDIA_ROOT)
    for path in sorted(root.rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()


def test_a_round_trip_gives_back_every_row_and_file_and_the_same_report(built_study, tmp_path):
    study, mv = built_study.study, built_study.model_version
    report = study_report_build(study=study, model_version=mv, seed=5, n_bootstrap=N_BOOT)
    assert report.status == StudyReport.Status.DONE
    reads = sorted(Read.objects.values_list("request_id", "submitted_at", "label", "time_ms"))
    assert any(t.microsecond % 1000 for _, t, _, _ in reads)  # sub-millisecond times to keep
    files = _media_snapshot()
    archive = tmp_path / "backup.tar.gz"
    out = io.StringIO()
    call_command("backup", str(archive), stdout=out)
    assert f"{len(files)} files" in out.getvalue()

    _empty_installation()
    assert not Study.objects.exists() and not _media_snapshot()
    call_command("restore", str(archive), stdout=io.StringIO())

    assert sorted(Read.objects.values_list("request_id", "submitted_at", "label", "time_ms")) \
        == reads
    assert _media_snapshot() == files
    study = Study.objects.get(slug=study.slug)
    restored = StudyReport.objects.get(study=study)
    _, _, digest = study_report_inputs(study=study, model_version=restored.model_version,
                                       seed=5, n_bootstrap=N_BOOT)
    assert digest == restored.input_hash == report.input_hash  # its inputs are unchanged
    result = restored.result
    restored.delete()
    rebuilt = study_report_build(study=study, model_version=restored.model_version, seed=5,
                                 n_bootstrap=N_BOOT)
    assert rebuilt.status == StudyReport.Status.DONE and rebuilt.input_hash == report.input_hash
    assert json.dumps(rebuilt.result, sort_keys=True) == json.dumps(result, sort_keys=True)
    # The people can log in again with their passwords.
    assert get_user_model().objects.get(username="alice").check_password("pw-alice-research-1")


def test_restore_refuses_an_installation_that_is_not_empty(built_study, tmp_path):
    archive = tmp_path / "b.tar.gz"
    call_command("backup", str(archive), stdout=io.StringIO())
    with pytest.raises(CommandError, match="empty installation"):
        call_command("restore", str(archive))
    with pytest.raises(CommandError, match="exists"):
        call_command("backup", str(archive))


def _rewrite(archive: Path, out: Path, change) -> None:
    with tarfile.open(archive, "r:gz") as src, tarfile.open(out, "w:gz") as dst:
        for member in src:
            data = src.extractfile(member).read() if member.isfile() else b""
            for info, payload in change(member, data):
                dst.addfile(info, io.BytesIO(payload) if payload is not None else None)


@pytest.mark.parametrize("attack", ["damaged file", "path out of MEDIA_ROOT", "link"])
def test_a_damaged_or_hostile_archive_is_refused_and_leaves_nothing(built_study, tmp_path,
                                                                    attack):
    archive, bad = tmp_path / "b.tar.gz", tmp_path / "bad.tar.gz"
    call_command("backup", str(archive), stdout=io.StringIO())
    stored = Image.objects.exclude(array_file="").values_list("array_file", flat=True).first()

    def change(member, data):
        if member.name == "media/" + stored:
            if attack == "damaged file":
                member.size = len(data)
                yield member, data[:-1] + bytes([data[-1] ^ 1])
                return
            if attack == "path out of MEDIA_ROOT":
                evil = tarfile.TarInfo("media/../../escaped.dcm")
                evil.size = len(data)
                yield evil, data
                return
            link = tarfile.TarInfo(member.name)
            link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
            yield link, None
            return
        yield member, data

    _rewrite(archive, bad, change)
    _empty_installation()
    with pytest.raises(CommandError, match="SHA-256|plain relative path|not a regular file"):
        call_command("restore", str(bad))
    assert not Study.objects.exists() and not get_user_model().objects.exists()
    assert not _media_snapshot()
    assert not (Path(settings.MEDIA_ROOT).parent.parent / "escaped.dcm").exists()
