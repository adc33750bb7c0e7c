"""Content-addressed storage of imported files under ``MEDIA_ROOT``.

A file is named by the SHA-256 of the stored case: ``cases/<h[:2]>/<h>.dcm`` for the
de-identified DICOM, ``arrays/<h[:2]>/<h>.npy`` for its cached preprocessed array and
``masks/<h[:2]>/<h>.npy`` for a lesion mask. Names are relative to ``MEDIA_ROOT``, as a
``FileField`` stores them.

Writes are atomic: the bytes go to a temporary file in the target folder, which is then
hard-linked to its final name. The link fails if the name exists, so a reader never sees a
partial file, two writers of the same content never overwrite each other, and the writer learns
whether *it* created the file — the import removes only files it created (and only when no case
refers to them) when a database write fails after the file was stored. Files are not fsynced:
a crash may lose the newest files, never leave a torn one under its final name.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

KINDS = {"cases": ".dcm", "arrays": ".npy", "masks": ".npy"}
_FILE_MODE = 0o644


@dataclass(frozen=True)
class StoredFile:
    """A stored file: its name relative to ``MEDIA_ROOT`` and whether this call created it."""

    name: str
    created: bool


def content_name(*, kind: str, digest: str) -> str:
    """The relative name of the ``kind`` file of the case whose SHA-256 is ``digest``."""
    if kind not in KINDS:
        raise ValueError(f"kind: {kind!r} is not one of {sorted(KINDS)}")
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise ValueError(f"digest: {digest!r} is not a lowercase hex SHA-256")
    return f"{kind}/{digest[:2]}/{digest}{KINDS[kind]}"


def media_path(name: str) -> Path:
    return Path(settings.MEDIA_ROOT) / name


_known_folders: set[Path] = set()


def store_content(*, kind: str, digest: str, data: bytes) -> StoredFile:
    """Store ``data`` as the ``kind`` file of case ``digest`` unless it is already there."""
    name = content_name(kind=kind, digest=digest)
    final = media_path(name)
    if final.exists():
        return StoredFile(name, created=False)
    if final.parent not in _known_folders:
        final.parent.mkdir(parents=True, exist_ok=True)
        _known_folders.add(final.parent)
    tmp = final.parent / f".tmp-{secrets.token_hex(8)}{KINDS[kind]}"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _FILE_MODE)
    except FileNotFoundError:  # the folder went away since we saw it
        _known_folders.discard(final.parent)
        final.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _FILE_MODE)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        try:
            os.link(tmp, final)
            created = True
        except FileExistsError:
            created = False
        except OSError:
            # A file system without hard links: rename, which is atomic but would replace a
            # file that appeared meanwhile (with the same content, as names are hashes).
            if final.exists():
                created = False
            else:
                os.replace(tmp, final)
                created = True
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    return StoredFile(name, created=created)


def discard(names) -> None:
    """Remove stored files by relative name; a missing file is not an error."""
    for name in names:
        with contextlib.suppress(FileNotFoundError):
            media_path(name).unlink()
