"""Backup and restore of a whole installation: the database and the stored files together, in
one archive (issue 15 R7).

An archive is a gzipped tar holding ``manifest.json`` (format, creation time, the migrations the
database was at, and the SHA-256 of every other member), ``database.xml`` (Django's XML
serialisation of every app's rows, taken from one consistent snapshot) and ``media/...`` (every
file under ``MEDIA_ROOT``). XML rather than JSON because Django's JSON encoder cuts times to
milliseconds: read times would come back changed and a stored report would no longer match its
inputs. Restoring needs an empty installation at the same migrations; it checks every member's
hash, never follows or writes a link, never writes outside ``MEDIA_ROOT``, and either loads
everything or leaves the installation as it was.

Not covered: a single study out of a shared installation (the archive is the whole
installation), and object storage (issue 16: files are read from ``MEDIA_ROOT``).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.migrations.recorder import MigrationRecorder
from django.utils import timezone

from studies.models import Study

FORMAT = 1
# Rows that belong to this machine or this moment, not to the studies: content types and
# permissions are made by `migrate` (rows refer to them by natural key), logins and lockouts
# start afresh.
EXCLUDE = ["contenttypes", "auth.permission", "sessions", "axes", "admin.logentry"]
CHUNK = 1 << 20


class BackupError(Exception):
    """A refused backup or restore; the message says why and what to do."""


@dataclass(frozen=True)
class BackupSummary:
    path: Path
    n_objects: int
    n_files: int
    n_bytes: int


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _migrations(using: str = DEFAULT_DB_ALIAS) -> dict[str, list[str]]:
    applied: dict[str, list[str]] = {}
    for app, name in sorted(MigrationRecorder(connections[using]).applied_migrations()):
        applied.setdefault(app, []).append(name)
    return applied


def _media_files(root: Path) -> list[Path]:
    if not root.is_dir():
        return []
    files = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames.sort()
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if path.is_symlink() or not path.is_file():
                continue  # the store holds no links; never archive what one points at
            if name.startswith(".") and name.endswith(".part"):
                continue  # a file being written right now
            files.append(path)
    return files


def backup_create(*, out: Path) -> BackupSummary:
    """Write an archive of the installation to ``out`` (written to a temporary name first, so
    a failed backup never leaves a truncated archive under the final name)."""
    out = Path(out)
    if out.exists():
        raise BackupError(f"{out} exists: give a new file name")
    out.parent.mkdir(parents=True, exist_ok=True)
    media_root = Path(settings.MEDIA_ROOT)
    with tempfile.TemporaryDirectory(prefix="readerbench-backup-") as tmp:
        database = Path(tmp) / "database.xml"
        connection = connections[DEFAULT_DB_ALIAS]
        outermost = not connection.in_atomic_block
        with transaction.atomic():
            if connection.vendor == "postgresql" and outermost:
                # Every table from the same snapshot, while readers go on reading.
                with connection.cursor() as cursor:
                    cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            call_command("dumpdata", format="xml", natural_foreign=True, exclude=EXCLUDE,
                         output=str(database), verbosity=0)
            migrations = _migrations()
        # Files are content-addressed and written before the rows that name them commit:
        # every file the snapshot refers to is already on disk.
        files = _media_files(media_root)
        members = {"database.xml": _sha256_file(database)}
        for path in files:
            members["media/" + path.relative_to(media_root).as_posix()] = _sha256_file(path)
        manifest = {
            "format": FORMAT, "created_at": timezone.now().isoformat(),
            "migrations": migrations, "members": members,
        }
        partial = out.with_name(f".{out.name}.part")
        try:
            with tarfile.open(partial, "w:gz") as tar:
                data = json.dumps(manifest, indent=1, sort_keys=True).encode()
                info = tarfile.TarInfo("manifest.json")
                info.size, info.mtime = len(data), int(timezone.now().timestamp())
                tar.addfile(info, io.BytesIO(data))
                tar.add(database, arcname="database.xml", recursive=False)
                for path in files:
                    tar.add(path, arcname="media/" + path.relative_to(media_root).as_posix(),
                            recursive=False)
            os.replace(partial, out)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        n_objects = _count_objects(database)
    return BackupSummary(out, n_objects, len(files), out.stat().st_size)


def _count_objects(database: Path) -> int:
    with open(database, "rb") as f:
        return sum(line.count(b"<object ") for line in f)


def _safe_member_name(name: str) -> PurePosixPath:
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or not path.parts:
        raise BackupError(f"archive member {name!r}: not a plain relative path; refused")
    return path


def _check_empty() -> None:
    users = get_user_model().objects.count()
    studies = Study.objects.count()
    if users or studies:
        raise BackupError(
            f"restore needs an empty installation: this one has {users} user(s) and "
            f"{studies} study(ies). Restore into a new database (migrate it first)."
        )


def backup_restore(*, archive: Path) -> BackupSummary:
    """Restore ``archive`` into this (empty, migrated) installation: the files first, checked
    against the manifest, then every row in one transaction. On any failure the files written
    are removed again and no row is left."""
    archive = Path(archive)
    if not archive.is_file():
        raise BackupError(f"{archive}: no such file")
    _check_empty()
    media_root = Path(settings.MEDIA_ROOT)
    try:
        tar = tarfile.open(archive, "r:gz")
    except (tarfile.TarError, OSError) as exc:
        raise BackupError(f"{archive}: not a ReaderBench backup ({exc})") from None
    written: list[Path] = []
    with tar, tempfile.TemporaryDirectory(prefix="readerbench-restore-") as tmp:
        try:
            manifest = json.loads(tar.extractfile("manifest.json").read())
        except (KeyError, AttributeError, ValueError):
            raise BackupError(f"{archive}: no readable manifest.json; not a backup") from None
        if manifest.get("format") != FORMAT:
            raise BackupError(f"{archive}: backup format {manifest.get('format')!r}, "
                              f"this version reads format {FORMAT}")
        here = _migrations()
        if manifest.get("migrations") != here:
            missing = sorted(
                f"{app}.{name}" for app, names in manifest.get("migrations", {}).items()
                for name in names if name not in here.get(app, [])
            )
            raise BackupError(
                "the archive was made at other migrations than this installation's"
                + (f" (not applied here: {', '.join(missing[:5])})" if missing else "")
                + ": run the same ReaderBench version and `manage.py migrate` first"
            )
        expected: dict[str, str] = manifest.get("members", {})
        seen: set[str] = set()
        database: Path | None = None
        try:
            for member in tar:
                if member.name == "manifest.json":
                    continue
                name = _safe_member_name(member.name)
                if not member.isfile():
                    raise BackupError(f"archive member {member.name!r}: not a regular file")
                if member.name not in expected:
                    raise BackupError(f"archive member {member.name!r} is not in the manifest")
                if name.parts[0] == "database.xml" and len(name.parts) == 1:
                    target = Path(tmp) / "database.xml"
                elif name.parts[0] == "media" and len(name.parts) > 1:
                    target = media_root.joinpath(*name.parts[1:])
                    if target.exists() or target.is_symlink():
                        if target.is_file() and _sha256_file(target) == expected[member.name]:
                            seen.add(member.name)
                            continue
                        raise BackupError(f"{target} exists with other content; restore into "
                                          "an empty MEDIA_ROOT")
                else:
                    raise BackupError(f"archive member {member.name!r}: unexpected")
                target.parent.mkdir(parents=True, exist_ok=True)
                partial = target.with_name(f".{target.name}.part")
                digest = hashlib.sha256()
                source = tar.extractfile(member)
                with open(partial, "xb") as f:
                    while chunk := source.read(CHUNK):
                        digest.update(chunk)
                        f.write(chunk)
                if digest.hexdigest() != expected[member.name]:
                    partial.unlink()
                    raise BackupError(f"archive member {member.name!r}: SHA-256 does not match "
                                      "the manifest (a damaged archive)")
                os.replace(partial, target)
                if target.parent == Path(tmp):
                    database = target
                else:
                    written.append(target)
                seen.add(member.name)
            if missing := sorted(set(expected) - seen):
                raise BackupError(f"the archive lacks {len(missing)} member(s) its manifest "
                                  f"lists, e.g. {missing[0]!r}")
            if database is None:
                raise BackupError(f"{archive}: no database.xml")
            with transaction.atomic():
                _check_empty()
                call_command("loaddata", str(database), verbosity=0)
            n_objects = _count_objects(database)
        except BaseException:
            for path in written:
                path.unlink(missing_ok=True)
            raise
    return BackupSummary(archive, n_objects, len(written), archive.stat().st_size)
