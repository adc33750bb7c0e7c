"""Uploads from the browser, through the real URLs: the chunk protocol (offsets, a retried
chunk, limits), the import task (inline without Redis; a real Celery worker on Redis), the
result table and its CSV (escaped), and who may see what (a site coordinator sees their own
site only; 404 elsewhere).

Cast: alice (study admin), carol (site coordinator of SITE1), dave (site coordinator of SITE2),
rachel (researcher), bob (reader), charlie (no role).
"""

from __future__ import annotations

import csv
import io
import json
import os
import time
import uuid
import zipfile
from pathlib import Path

import pytest
from django.urls import reverse

from studies.models import Image, Membership, Site, StudySite, Upload
from studies.services import uploads
from tests.studies.dicom_files import write_mr

NAMES = ("alice", "carol", "dave", "rachel", "bob", "charlie")


@pytest.fixture
def site2(db):
    return Site.objects.create(code="SITE2", name="Hospital Two")


@pytest.fixture
def cast(study, site, site2, django_user_model, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    StudySite.objects.create(study=study, site=site)
    StudySite.objects.create(study=study, site=site2)
    users = {n: django_user_model.objects.create_user(n, password="pw") for n in NAMES}
    Membership.objects.create(study=study, user=users["alice"], role="admin")
    Membership.objects.create(study=study, user=users["carol"], role="site_coordinator",
                              site=site)
    Membership.objects.create(study=study, user=users["dave"], role="site_coordinator",
                              site=site2)
    Membership.objects.create(study=study, user=users["rachel"], role="researcher")
    Membership.objects.create(study=study, user=users["bob"], role="reader")
    return users


@pytest.fixture
def inline_tasks():
    """Run tasks in the calling process, as without Redis, even where REDIS_URL is set."""
    from config.celery import app

    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = before


def login(client, user):
    client.force_login(user)
    return client


def declare(client, study, site, files) -> dict:
    response = client.post(reverse("uploads:upload", args=[study.slug, site.code]),
                           data=json.dumps({"files": files}), content_type="application/json")
    is_json = response["Content-Type"] == "application/json"
    return {"status": response.status_code, **(response.json() if is_json else {})}


def send(client, upload: dict, index: int, offset: int, data: bytes):
    return client.post(f"{upload['chunk_url']}?file={index}&offset={offset}", data=data,
                       content_type="application/octet-stream")


def send_whole(client, upload: dict, index: int, data: bytes, chunk: int = 5000) -> None:
    for offset in range(0, len(data), chunk):
        response = send(client, upload, index, offset, data[offset:offset + chunk])
        assert response.status_code == 200, response.content


def dicom_zip(tmp_path: Path, name: str = "scans.zip", n: int = 3, seed: int = 0) -> bytes:
    folder = tmp_path / f"dicom-{seed}"
    for i in range(n):
        write_mr(folder / f"img{i}.dcm", patient_id=f"P{seed}-{i}", study=f"s{seed}-{i}",
                 series=f"se{seed}-{i}", instance=f"i{seed}-{i}", rows=32, columns=32, seed=i)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(folder.iterdir()):
            archive.write(path, f"series/{path.name}")
        archive.writestr("series/notes.txt", b"not a DICOM file")
    return buffer.getvalue()


# --- the chunk protocol ---------------------------------------------------------------------


def test_chunks_are_appended_at_their_offset_and_a_retried_chunk_is_not_written_twice(
        client, study, site, cast):
    login(client, cast["alice"])
    data = bytes(range(256)) * 40  # 10 240 bytes
    upload = declare(client, study, site, [{"path": "a/one.dcm", "size": len(data)}])
    assert upload["status"] == 201
    row = Upload.objects.get(pk=upload["id"])
    assert (row.status, row.bytes_expected, row.bytes_received) == ("receiving", 10240, 0)

    assert send(client, upload, 0, 0, data[:4096]).json() == {"file": 0, "received": 4096}
    # The same chunk again (its answer was lost): acknowledged, not appended.
    assert send(client, upload, 0, 0, data[:4096]).json() == {"file": 0, "received": 4096}
    # A gap is refused with the offset to send from.
    gap = send(client, upload, 0, 8192, data[8192:])
    assert gap.status_code == 409 and gap.json()["expected"] == 4096
    # Finishing before every byte arrived is refused, and says which file.
    early = client.post(upload["finish_url"])
    assert early.status_code == 409 and "a/one.dcm: 4096 of 10240 bytes" in early.json()["error"]
    # More than was declared is refused, nothing written.
    over = send(client, upload, 0, 4096, data[4096:] + b"extra")
    assert over.status_code == 400 and "more than the 10240 bytes declared" in over.json()["error"]
    assert send(client, upload, 0, 4096, data[4096:]).json()["received"] == 10240

    stored = list((uploads.upload_dir(row)).iterdir())
    assert [p.name for p in stored] == ["000000"]  # a generated name, not the browser's path
    assert stored[0].read_bytes() == data
    row.refresh_from_db()
    assert row.bytes_received == 10240 and row.files[0]["received"] == 10240


def test_a_file_over_the_limit_is_refused_whole_with_a_clear_message(client, study, site, cast,
                                                                      settings):
    settings.READERBENCH_IMPORT_MAX_FILE_BYTES = 2048
    login(client, cast["alice"])
    answer = declare(client, study, site, [{"path": "ok.dcm", "size": 100},
                                           {"path": "big.dcm", "size": 4096}])
    assert answer["status"] == 400
    assert answer["error"] == ("big.dcm: 4096 bytes is larger than the limit of 2048 bytes "
                               "(READERBENCH_IMPORT_MAX_FILE_BYTES); nothing was uploaded.")
    assert not Upload.objects.exists()
    settings.READERBENCH_IMPORT_MAX_ARCHIVE_BYTES = 5000
    total = declare(client, study, site, [{"path": "x.zip", "size": 3000},
                                          {"path": "y.zip", "size": 3000}])
    assert total["status"] == 400 and "more than the limit of 5000 bytes for one upload" in (
        total["error"])
    assert declare(client, study, site, [])["status"] == 400
    assert declare(client, study, site, [{"path": "n.dcm", "size": -1}])["status"] == 400


def test_the_browsers_path_never_becomes_a_server_path(client, study, site, cast, settings):
    login(client, cast["alice"])
    upload = declare(client, study, site, [{"path": "../../../etc/evil.zip", "size": 3}])
    send_whole(client, upload, 0, b"abc")
    row = Upload.objects.get(pk=upload["id"])
    files = [p.relative_to(settings.MEDIA_ROOT) for p in Path(settings.MEDIA_ROOT).rglob("*")
             if p.is_file()]
    assert files == [Path(f"uploads/{row.pk}/000000.zip")]
    assert row.files[0]["label"] == "../../../etc/evil.zip"  # kept as a label only


# --- the import -------------------------------------------------------------------------------


def _upload_and_finish(client, study, site, tmp_path, files, django_capture_on_commit_callbacks):
    upload = declare(client, study, site, [{"path": n, "size": len(d)} for n, d in files])
    assert upload["status"] == 201, upload
    for i, (_, data) in enumerate(files):
        send_whole(client, upload, i, data)
    with django_capture_on_commit_callbacks(execute=True):
        finished = client.post(upload["finish_url"])
    assert finished.status_code == 202
    return Upload.objects.get(pk=upload["id"])


def test_a_zip_is_imported_inline_with_a_result_per_file_and_temp_files_removed(
        client, study, site, cast, tmp_path, inline_tasks, django_capture_on_commit_callbacks):
    login(client, cast["carol"])
    archive = dicom_zip(tmp_path)
    row = _upload_and_finish(client, study, site, tmp_path,
                             [("batch 1/scans.zip", archive), ("loose.txt", b"hello")],
                             django_capture_on_commit_callbacks)
    assert row.status == "done", row.error
    by_path = {r["path"]: r for r in row.results}
    assert sorted(by_path) == ["batch 1/scans.zip/series/img0.dcm",
                               "batch 1/scans.zip/series/img1.dcm",
                               "batch 1/scans.zip/series/img2.dcm",
                               "batch 1/scans.zip/series/notes.txt", "loose.txt"]
    assert [by_path[f"batch 1/scans.zip/series/img{i}.dcm"]["status"] for i in range(3)] == (
        ["imported"] * 3)
    assert by_path["loose.txt"]["status"] == "rejected" and by_path["loose.txt"]["reason"]
    assert Image.objects.filter(study=study, hip__patient__site=site).count() == 3
    assert row.batch is not None and row.batch.n_imported == 3
    assert not uploads.upload_dir(row).exists()  # the chunks are gone

    # The task again does nothing; a second upload of the same files reports duplicates.
    assert uploads.upload_import_run(upload_id=row.pk).results == row.results
    again = _upload_and_finish(client, study, site, tmp_path, [("scans.zip", archive)],
                               django_capture_on_commit_callbacks)
    assert [r["status"] for r in again.results][:3] == ["duplicate"] * 3
    assert Image.objects.filter(study=study).count() == 3

    page = client.get(reverse("uploads:detail", args=[study.slug, row.pk]))
    assert page.status_code == 200
    text = page.content.decode()
    assert "batch 1/scans.zip/series/img0.dcm" in text and "3</strong> imported" in text
    assert client.get(reverse("uploads:status", args=[study.slug, row.pk])).json()["counts"] == (
        {"imported": 3, "duplicate": 0, "rejected": 2})


def test_file_names_are_escaped_in_the_page_and_neutralised_in_the_csv(
        client, study, site, cast, tmp_path, inline_tasks, django_capture_on_commit_callbacks):
    login(client, cast["alice"])
    names = ['=HYPERLINK("http://x.invalid","a").dcm', "<script>alert(1)</script>.dcm",
             "+1.dcm", "-2.dcm", "@3.dcm", "plain.dcm"]
    row = _upload_and_finish(client, study, site, tmp_path, [(n, b"junk") for n in names],
                             django_capture_on_commit_callbacks)
    assert row.status == "done" and {r["status"] for r in row.results} == {"rejected"}
    page = client.get(reverse("uploads:detail", args=[study.slug, row.pk])).content.decode()
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;.dcm" in page

    response = client.get(reverse("uploads:csv", args=[study.slug, row.pk]))
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == ["file", "status", "reason"]
    cells = sorted(r[0] for r in rows[1:])
    assert cells == sorted(["'" + names[0], names[1], "'+1.dcm", "'-2.dcm", "'@3.dcm",
                            "plain.dcm"])
    assert all(r[1] == "rejected" and r[2] for r in rows[1:])


# --- who may do what ----------------------------------------------------------------------------


def test_a_site_coordinator_sees_and_uploads_for_their_own_site_only(client, study, site, site2,
                                                                     cast):
    other = login(client.__class__(), cast["dave"])
    upload2 = declare(other, study, site2, [{"path": "x.dcm", "size": 3}])
    assert upload2["status"] == 201

    login(client, cast["carol"])
    page = client.get(reverse("uploads:sites", args=[study.slug]))
    assert page.status_code == 200
    assert [r.site.code for r in page.context["rows"]] == ["SITE1"]
    assert b"SITE2" not in page.content
    # Site 2's upload page and upload, in every form: 404.
    assert client.get(reverse("uploads:upload", args=[study.slug, "SITE2"])).status_code == 404
    assert declare(client, study, site2, [{"path": "x.dcm", "size": 3}])["status"] == 404
    for name in ("detail", "status", "csv"):
        url = reverse(f"uploads:{name}", args=[study.slug, upload2["id"]])
        assert client.get(url).status_code == 404, name
    assert send(client, upload2, 0, 0, b"abc").status_code == 404
    assert client.post(upload2["finish_url"]).status_code == 404
    # Nor may they add sites.
    add = client.post(reverse("uploads:sites", args=[study.slug]),
                      {"new-code": "SITE9", "new-site": "1"})
    assert add.status_code == 404 and not Site.objects.filter(code="SITE9").exists()
    # Their own site works.
    assert client.get(reverse("uploads:upload", args=[study.slug, "SITE1"])).status_code == 200
    mine = declare(client, study, site, [{"path": "y.dcm", "size": 3}])
    assert mine["status"] == 201
    # The admin sees both uploads, but sends chunks only to their own.
    login(client, cast["alice"])
    assert client.get(reverse("uploads:detail", args=[study.slug, upload2["id"]])).status_code == (
        200)
    assert send(client, mine, 0, 0, b"abc").status_code == 404


@pytest.mark.parametrize("name", ["rachel", "bob", "charlie"])
def test_readers_researchers_and_strangers_get_404_on_upload_pages(client, study, site, cast,
                                                                    name):
    upload = Upload.objects.create(study=study, site=site, created_by=cast["alice"],
                                   files=[{"label": "a", "size": 1, "received": 0}],
                                   bytes_expected=1)
    login(client, cast[name])
    urls = [reverse("uploads:sites", args=[study.slug]),
            reverse("uploads:upload", args=[study.slug, site.code]),
            reverse("uploads:detail", args=[study.slug, upload.pk]),
            reverse("uploads:status", args=[study.slug, upload.pk]),
            reverse("uploads:csv", args=[study.slug, upload.pk])]
    for url in urls:
        assert client.get(url).status_code == 404, url
    assert declare(client, study, site, [{"path": "x", "size": 1}])["status"] == 404


def test_an_admin_joins_a_site_of_another_study_and_creates_a_new_one(client, study, site,
                                                                       cast):
    login(client, cast["alice"])
    url = reverse("uploads:sites", args=[study.slug])
    shared = Site.objects.create(code="SHARED", name="In another study too")
    assert client.post(url, {"action": "join", "join-site": shared.pk}).status_code == 302
    # Nothing chosen, or a site that already joined: the form says so, nothing changes.
    assert client.post(url, {"action": "join"}).status_code == 200
    assert client.post(url, {"action": "join", "join-site": shared.pk}).status_code == 200
    assert client.post(url, {"action": "new", "new-code": "SITE7", "new-name": "Seven",
                             "new-external": "on"}).status_code == 302
    bad = client.post(url, {"action": "new", "new-code": "bad code"})
    assert bad.status_code == 200 and "no spaces" in bad.content.decode()
    taken = client.post(url, {"action": "new", "new-code": "SITE1"})
    assert taken.status_code == 200 and "already exists" in taken.content.decode()
    codes = sorted(StudySite.objects.filter(study=study).values_list("site__code", flat=True))
    assert codes == ["SHARED", "SITE1", "SITE2", "SITE7"]
    assert Site.objects.get(code="SITE7").external
    page = client.get(url)
    assert [r.site.code for r in page.context["rows"]] == codes


# --- a real Celery worker (PostgreSQL or a file SQLite, and Redis) -----------------------------


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(not os.environ.get("REDIS_URL"),
                    reason="REDIS_URL is not set: a real Celery worker needs the Redis broker")
def test_a_real_worker_imports_uploads_and_takes_back_one_whose_worker_was_lost(
        client, study, site, cast, tmp_path, settings):
    from datetime import timedelta

    from django.utils import timezone

    from tests.security.solo_workers import solo_workers

    login(client, cast["alice"])
    archive = dicom_zip(tmp_path, n=2, seed=1)
    # What a worker killed with SIGKILL mid-import leaves: running, silent for an hour, the
    # files still there (its message waits for the broker's visibility timeout).
    lost = declare(client, study, site, [{"path": "lost.zip", "size": len(archive)}])
    send_whole(client, lost, 0, archive)
    Upload.objects.filter(pk=lost["id"]).update(
        status="running", worker="gone@nowhere", started_at=timezone.now() - timedelta(hours=1),
        heartbeat_at=timezone.now() - timedelta(hours=1))

    with solo_workers(queue="default", tmp_path=tmp_path, media_root=settings.MEDIA_ROOT,
                      lease=4) as start:
        worker = start(f"uploads-{uuid.uuid4().hex[:8]}@%h")
        taken_back = _wait_finished(lost["id"], worker)
        assert taken_back.status == "done", taken_back.error
        assert [r["status"] for r in taken_back.results] == ["imported", "imported", "rejected"]
        assert taken_back.redeliveries == 1 and "worker was lost" in taken_back.error
        assert taken_back.worker.startswith("uploads-")

        fresh = dicom_zip(tmp_path, n=2, seed=2)
        upload = declare(client, study, site, [{"path": "site1/fresh.zip", "size": len(fresh)}])
        send_whole(client, upload, 0, fresh)
        assert client.post(upload["finish_url"]).json()["status"] == "queued"
        done = _wait_finished(upload["id"], worker)
    assert done.status == "done", done.error
    assert [r["path"] for r in done.results] == ["site1/fresh.zip/series/img0.dcm",
                                                 "site1/fresh.zip/series/img1.dcm",
                                                 "site1/fresh.zip/series/notes.txt"]
    assert Image.objects.filter(study=study).count() == 4
    assert not (Path(settings.MEDIA_ROOT) / "uploads" / str(done.pk)).exists()
    assert not (Path(settings.MEDIA_ROOT) / "uploads" / str(taken_back.pk)).exists()


def _wait_finished(upload_id: int, worker, timeout: float = 120) -> Upload:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = Upload.objects.get(pk=upload_id)
        if row.finished:
            return row
        time.sleep(0.1)
    pytest.fail(f"upload #{upload_id} did not finish ({row.status}):\n{worker.text()[-4000:]}")


def test_an_upload_the_queue_refused_is_imported_again_from_its_page(
        client, study, site, cast, tmp_path, inline_tasks, django_capture_on_commit_callbacks):
    login(client, cast["carol"])
    archive = dicom_zip(tmp_path, n=1, seed=4)
    upload = declare(client, study, site, [{"path": "again.zip", "size": len(archive)}])
    send_whole(client, upload, 0, archive)
    # What a broker that refused the task leaves (uploads.upload_enqueue): failed, files kept.
    refused = "The task queue did not answer, so the import was not started"
    Upload.objects.filter(pk=upload["id"]).update(status="failed", error=refused)
    page = client.get(upload["detail_url"]).content.decode()
    assert refused in page and 'id="retry-import"' in page
    # Only the one who uploaded may start it again.
    other = login(client.__class__(), cast["alice"]).get(upload["detail_url"]).content.decode()
    assert refused in other and 'id="retry-import"' not in other

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(upload["finish_url"], {"from": "page"})
    assert response.status_code == 302 and response.url == upload["detail_url"]
    row = Upload.objects.get(pk=upload["id"])
    assert row.status == "done" and row.error == ""
    assert [r["status"] for r in row.results] == ["imported", "rejected"]
    page = client.get(upload["detail_url"]).content.decode()
    assert 'id="retry-import"' not in page and "again.zip/series/img0.dcm" in page
    # Finished: finishing again does nothing.
    assert client.post(upload["finish_url"]).json()["status"] == "done"


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(not os.environ.get("REDIS_URL"),
                    reason="REDIS_URL is not set: a real Celery worker needs the Redis broker")
def test_a_worker_killed_mid_import_and_restarted_takes_the_upload_back(
        client, study, site, cast, tmp_path, settings):
    from studies.models import ImportBatch
    from tests.security.solo_workers import kill_9, solo_workers

    n = 240  # three chunks of the importer (100 files each): the kill lands after the first
    folder = tmp_path / "many"
    for i in range(n):
        write_mr(folder / f"{i:03d}.dcm", patient_id=f"K{i}", study=f"ks{i}", series=f"kse{i}",
                 instance=f"ki{i}", rows=16, columns=16, seed=i, identifying=False)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(folder.iterdir()):
            archive.write(path, path.name)
    login(client, cast["alice"])
    upload = declare(client, study, site, [{"path": "many.zip", "size": len(buffer.getvalue())}])
    send_whole(client, upload, 0, buffer.getvalue(), chunk=1 << 20)

    name = f"uploads-{uuid.uuid4().hex[:8]}@%h"
    with solo_workers(queue="default", tmp_path=tmp_path, media_root=settings.MEDIA_ROOT,
                      lease=600) as start:  # a long lease: only the restart gives it back
        first = start(name)
        assert client.post(upload["finish_url"]).status_code == 202
        deadline = time.monotonic() + 120
        while not ImportBatch.objects.filter(study=study, n_imported__gte=100).exists():
            assert time.monotonic() < deadline, first.text()[-3000:]
            assert not Upload.objects.get(pk=upload["id"]).finished, "finished before the kill"
            time.sleep(0.05)
        kill_9(first)
        assert Upload.objects.get(pk=upload["id"]).status == "running"
        second = start(name)  # the same name: it takes the upload back as it starts
        row = _wait_finished(upload["id"], second)
    assert row.status == "done", row.error
    statuses = [r["status"] for r in row.results]
    assert len(statuses) == n and set(statuses) <= {"imported", "duplicate"}
    assert 100 <= statuses.count("duplicate") < n  # what the killed run had committed
    assert row.redeliveries == 1 and "worker was lost" in row.error
    assert Image.objects.filter(study=study).count() == n  # each file once, none twice
    assert not uploads.upload_dir(row).exists()


def test_an_admin_makes_a_site_coordinator_who_then_sees_only_that_site(client, study, site,
                                                                        cast):
    login(client, cast["alice"])
    url = reverse("uploads:sites", args=[study.slug])
    page = client.post(url, {"action": "coordinator", "coord-username": "erin",
                             "coord-full_name": "Erin Example", "coord-site": site.pk})
    assert page.status_code == 200
    link = page.context["set_password_link"]
    assert "/accounts/reset/" in link and link in page.content.decode()
    erin = Membership.objects.get(study=study, user__username="erin")
    assert (erin.role, erin.site, erin.user.has_usable_password()) == (
        "site_coordinator", site, False)
    # Someone already in the study keeps their role; a site of another study is refused.
    taken = client.post(url, {"action": "coordinator", "coord-username": "bob",
                              "coord-site": site.pk})
    assert "already in this study as reader" in taken.content.decode()
    outside = Site.objects.create(code="ELSEWHERE")
    refused = client.post(url, {"action": "coordinator", "coord-username": "fred",
                                "coord-site": outside.pk})
    assert refused.status_code == 200 and not Membership.objects.filter(
        user__username="fred").exists()
    assert [m.user.username for m in client.get(url).context["coordinators"]] == [
        "carol", "erin", "dave"]

    login(client, erin.user)
    assert [r.site.code for r in client.get(url).context["rows"]] == ["SITE1"]
    assert client.post(url, {"action": "coordinator", "coord-username": "gina",
                             "coord-site": site.pk}).status_code == 404
