"""Import bounded in time and space (issue 15 S12): zip bombs, symbolic links, too many files and
the time limit are refused with a reason, and nothing of them is stored.

The bombs are real deflate streams built without inflating them: one megabyte of zeros
compressed once with a full flush (byte-aligned blocks that need no history) and repeated, so a
2.4 MB archive inflates to 2.5 GB. How long a refusal takes is measured by the benchmarks; here
the refusal itself is what is asserted.
"""

from __future__ import annotations

import os
import stat
import struct
import zipfile
import zlib
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from studies.models import Image, ImportBatch
from studies.services.dicom_import import import_dicom_files
from studies.services.dicom_sources import ImportRefused
from tests.studies.dicom_files import write_mr

pytestmark = pytest.mark.django_db

MB = 1024 * 1024


def _zero_blocks(megabytes: int) -> bytes:
    """A raw deflate stream that inflates to ``megabytes`` MiB of zeros."""
    block = zlib.compressobj(9, zlib.DEFLATED, -15)
    one = block.compress(b"\0" * MB) + block.flush(zlib.Z_FULL_FLUSH)
    final = zlib.compressobj(9, zlib.DEFLATED, -15).flush()  # an empty last block
    return one * megabytes + final


def _write_zip(path: Path, members: list[tuple[str, bytes, int]]) -> Path:
    """A zip of already-deflated members ``(name, raw deflate, declared inflated size)``. The
    CRC is left 0: a refusal must come before the end of the member, where it is checked."""
    local, central, offset = [], [], 0
    for name, data, size in members:
        encoded = name.encode()
        header = struct.pack(
            "<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0, 0, len(data), size, len(encoded), 0
        )
        central.append(
            struct.pack(
                "<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, 0, 0, 0, len(data), size,
                len(encoded), 0, 0, 0, 0, 0, offset,
            ) + encoded
        )  # fmt: skip
        local.append(header + encoded + data)
        offset += len(header) + len(encoded) + len(data)
    directory = b"".join(central)
    end = struct.pack(
        "<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), len(directory), offset, 0
    )
    path.write_bytes(b"".join(local) + directory + end)
    return path


def _import(paths, study, site):
    return import_dicom_files(paths=paths, study=study, site=site)


def _stored_files(media: Path) -> list[Path]:
    return [p for p in media.rglob("*") if p.is_file()]


# --- zip bombs ---------------------------------------------------------------------------------


def test_a_zip_bomb_of_2_5_gb_is_refused_unread(tmp_path, study, site, _isolated_media):
    bomb = _write_zip(tmp_path / "bomb.zip", [("scan.dcm", _zero_blocks(2500), 2500 * MB)])
    assert bomb.stat().st_size < 2.5 * MB
    good = write_mr(tmp_path / "good.dcm")
    report = _import([bomb, good], study, site)
    bomb_result, good_result = report.files
    assert bomb_result.status == "rejected"
    assert bomb_result.reason == (
        f"file of {2500 * MB} bytes is larger than the limit of {256 * MB} bytes "
        "(READERBENCH_IMPORT_MAX_FILE_BYTES)"
    )
    assert good_result.status == "imported"  # the rest of the import goes on
    assert len(_stored_files(_isolated_media)) == 2  # the good file and its array


def test_members_that_inflate_a_thousandfold_are_refused_as_bombs(tmp_path, study, site):
    data = _zero_blocks(3)
    members = [(f"m{i:03}.dcm", data, 3 * MB) for i in range(200)]
    report = _import([_write_zip(tmp_path / "many.zip", members)], study, site)
    assert report.rejected == 200
    assert {f.reason for f in report.files} == {
        f"zip member inflates more than 100 times its compressed size of {len(data)} bytes "
        "(READERBENCH_IMPORT_MAX_RATIO): refused as a zip bomb"
    }
    assert not Image.objects.exists()


def test_a_member_that_lies_about_its_size_is_not_inflated_past_it(tmp_path, study, site):
    # It declares 100 KB and holds 2.5 GB of zeros: reading stops at the declared size.
    bomb = _write_zip(tmp_path / "liar.zip", [("a.dcm", _zero_blocks(2500), 100_000)])
    (result,) = _import([bomb], study, site).files
    assert result.status == "rejected"
    assert result.reason == "cannot be read from the zip archive (BadZipFile)"  # bad CRC


def test_an_archive_declaring_more_than_its_limit_is_refused_whole(
    tmp_path, study, site, settings
):
    settings.READERBENCH_IMPORT_MAX_ARCHIVE_BYTES = 20_000  # three 8 KB files
    archive = tmp_path / "big.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for i in range(3):
            zf.write(write_mr(tmp_path / f"{i}.dcm", instance=f"i{i}", seed=i), f"{i}.dcm")
    (result,) = _import([archive], study, site).files
    assert result.path == str(archive) and result.status == "rejected"
    assert "more than the limit of 20000 bytes (READERBENCH_IMPORT_MAX_ARCHIVE_BYTES)" in (
        result.reason
    )


def test_a_file_over_the_size_limit_is_refused_unread(tmp_path, study, site, settings):
    settings.READERBENCH_IMPORT_MAX_FILE_BYTES = 4096
    big = write_mr(tmp_path / "big.dcm")
    (result,) = _import([big], study, site).files
    assert result.status == "rejected"
    assert result.reason.startswith(f"file of {big.stat().st_size} bytes is larger than the limit")


# --- symbolic links ----------------------------------------------------------------------------


def test_a_folder_import_never_follows_a_link_out_of_the_folder(tmp_path, study, site):
    outside = tmp_path / "outside"
    secret = write_mr(outside / "secret.dcm", instance="secret")
    write_mr(outside / "more" / "other.dcm", instance="other")
    folder = tmp_path / "in"
    write_mr(folder / "own.dcm", instance="own")
    (folder / "link.dcm").symlink_to(secret)
    (folder / "linked_folder").symlink_to(outside / "more", target_is_directory=True)
    report = _import([folder], study, site)
    by_name = {Path(f.path).name: f for f in report.files}
    assert set(by_name) == {"own.dcm", "link.dcm", "linked_folder"}
    assert by_name["own.dcm"].status == "imported"
    for name in ("link.dcm", "linked_folder"):
        assert by_name[name].status == "rejected"
        assert by_name[name].reason == (
            "a symbolic link (links are not followed; give the file itself)"
        )
    assert Image.objects.count() == 1


def test_a_path_given_that_is_a_link_is_refused(tmp_path, study, site):
    real = write_mr(tmp_path / "real.dcm")
    (tmp_path / "alias.dcm").symlink_to(real)
    (result,) = _import([tmp_path / "alias.dcm"], study, site).files
    assert result.status == "rejected" and "symbolic link" in result.reason


def test_a_zip_member_stored_as_a_link_is_refused(tmp_path, study, site):
    archive = tmp_path / "links.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        link = zipfile.ZipInfo("passwd.dcm")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(link, "/etc/passwd")
        zf.write(write_mr(tmp_path / "a.dcm"), "a.dcm")
    report = _import([archive], study, site)
    assert [(Path(f.path).name, f.status) for f in report.files] == [
        ("a.dcm", "imported"),
        ("passwd.dcm", "rejected"),
    ]
    assert report.files[1].reason.startswith("zip member is a symbolic link")


def test_a_fifo_in_a_folder_is_refused_without_waiting_for_a_writer(tmp_path, study, site):
    folder = tmp_path / "in"
    write_mr(folder / "a.dcm")
    os.mkfifo(folder / "pipe.dcm")
    report = _import([folder], study, site)
    assert [(Path(f.path).name, f.status, f.reason) for f in report.files] == [
        ("a.dcm", "imported", None),
        ("pipe.dcm", "rejected", "not a regular file"),
    ]


# --- how many, how long ------------------------------------------------------------------------


def test_an_import_of_too_many_files_is_refused_before_anything_is_read(
    tmp_path, study, site, settings
):
    settings.READERBENCH_IMPORT_MAX_FILES = 2
    for i in range(3):
        write_mr(tmp_path / "in" / f"{i}.dcm", instance=f"i{i}")
    with pytest.raises(ImportRefused, match="more than 2 files to import"):
        _import([tmp_path / "in"], study, site)
    assert not ImportBatch.objects.exists() and not Image.objects.exists()
    with pytest.raises(CommandError, match="READERBENCH_IMPORT_MAX_FILES") as raised:
        call_command("import_dicom", str(tmp_path / "in"), "--study", "onfh", "--site", "SITE1")
    assert raised.value.returncode == 1


def test_files_inside_zip_archives_count_towards_the_limit(tmp_path, study, site, settings):
    settings.READERBENCH_IMPORT_MAX_FILES = 3
    for name in ("a", "b"):
        with zipfile.ZipFile(tmp_path / f"{name}.zip", "w") as zf:
            for i in range(2):
                zf.write(write_mr(tmp_path / f"{name}{i}.dcm", instance=f"{name}{i}"), f"{i}.dcm")
    with pytest.raises(ImportRefused, match="counting the files inside zip archives"):
        _import([tmp_path / "a.zip", tmp_path / "b.zip"], study, site)
    assert not ImportBatch.objects.exists() and not Image.objects.exists()


def test_the_time_limit_stops_the_import_with_one_reason_and_keeps_what_it_did(
    tmp_path, study, site, settings
):
    for i in range(3):
        write_mr(tmp_path / "in" / f"{i}.dcm", instance=f"i{i}")
    settings.READERBENCH_IMPORT_MAX_SECONDS = 0  # already spent when the first file comes
    out = StringIO()
    with pytest.raises(CommandError) as raised:
        call_command("import_dicom", str(tmp_path / "in"), "--study", "onfh", "--site", "SITE1",
                     "--json", stdout=out)  # fmt: skip
    assert raised.value.returncode == 2
    message = str(raised.value)
    assert message.startswith("the import ran longer than 0 s (READERBENCH_IMPORT_MAX_SECONDS)")
    assert "stopped after 0 of 3 files" in message and "\n" not in message
    batch = ImportBatch.objects.get()
    assert batch.finished_at is not None and batch.failure == message
    assert '"stopped": ' in out.getvalue() and '"not_read": 3' in out.getvalue()


def test_limits_are_settings_with_sane_defaults(settings):
    assert settings.READERBENCH_IMPORT_MAX_FILE_BYTES == 256 * MB
    assert settings.READERBENCH_IMPORT_MAX_RATIO == 100
    assert settings.READERBENCH_IMPORT_MAX_ARCHIVE_BYTES >= 1024 * MB
    assert settings.READERBENCH_IMPORT_MAX_FILES >= 10_000
    assert 600 <= settings.READERBENCH_IMPORT_MAX_SECONDS <= 24 * 3600
