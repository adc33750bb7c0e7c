"""What an import reads: files, folders (recursively) and zip archives expanded into sources,
each with its manifest key and a reader that refuses, with a reason, what cannot be read
without naming the file's content.

Bounded in space (:class:`ImportLimits`, from the ``READERBENCH_IMPORT_*`` settings):

- a file or zip member larger than ``max_file_bytes`` is refused unread, on its size or on the
  size its zip entry declares; a zip member is inflated in blocks and refused as soon as it
  passes that size or ``max_ratio`` times its compressed size (above 1 MiB), so a zip bomb is
  never inflated to find out that it is one;
- a zip archive whose members declare more than ``max_archive_bytes`` inflated is refused
  whole, unread (a member is never inflated past its declared size: it fails its CRC);
- an import of more than ``max_files`` files is refused before anything is read
  (:class:`ImportRefused`).

Symbolic links are refused, never followed: a link inside a folder (to a file or a folder,
inside the folder or out of it), a path given that is itself a link, and zip members stored as
links. Files are opened with ``O_NOFOLLOW``, so a file swapped for a link after the listing is
refused too.
"""

from __future__ import annotations

import contextlib
import os
import stat
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from studies.dicom.validate import Rejected
from studies.services.manifest import Manifest

_BLOCK = 1024 * 1024
#: A member may always inflate this far, whatever its ratio (tiny files compress well).
_RATIO_FLOOR = 1024 * 1024
_LINK_REASON = "a symbolic link (links are not followed; give the file itself)"


class ImportRefused(ValueError):  # noqa: N818 - a refusal, like validate.Rejected
    """The import as a whole is refused before anything is read (too many files)."""


@dataclass(frozen=True)
class ImportLimits:
    max_file_bytes: int
    max_archive_bytes: int
    max_ratio: int
    max_files: int
    max_seconds: int

    @classmethod
    def from_settings(cls) -> ImportLimits:
        return cls(
            max_file_bytes=settings.READERBENCH_IMPORT_MAX_FILE_BYTES,
            max_archive_bytes=settings.READERBENCH_IMPORT_MAX_ARCHIVE_BYTES,
            max_ratio=settings.READERBENCH_IMPORT_MAX_RATIO,
            max_files=settings.READERBENCH_IMPORT_MAX_FILES,
            max_seconds=settings.READERBENCH_IMPORT_MAX_SECONDS,
        )


@dataclass(frozen=True)
class Source:
    """One file to import: its path (for the report), its manifest key, and how to read it."""

    path: str
    file_key: str | None
    read: Callable[[], bytes]


def _too_large(size: int, limit: int) -> Rejected:
    return Rejected(
        f"file of {size} bytes is larger than the limit of {limit} bytes "
        "(READERBENCH_IMPORT_MAX_FILE_BYTES)"
    )


def _file_reader(path: Path, limits: ImportLimits) -> Callable[[], bytes]:
    def read() -> bytes:
        try:
            # O_NONBLOCK: a FIFO or device in the folder must not hang the import on open.
            flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
            fd = os.open(path, flags)
        except OSError as exc:
            if path.is_symlink():
                raise Rejected(_LINK_REASON) from None
            raise Rejected(f"file cannot be read ({exc.strerror or type(exc).__name__})") from None
        with os.fdopen(fd, "rb") as fh:
            try:
                info = os.fstat(fh.fileno())
                if not stat.S_ISREG(info.st_mode):
                    raise Rejected("not a regular file")
                if info.st_size > limits.max_file_bytes:
                    raise _too_large(info.st_size, limits.max_file_bytes)
                data = fh.read(limits.max_file_bytes + 1)  # the file may grow meanwhile
            except OSError as exc:
                raise Rejected(
                    f"file cannot be read ({exc.strerror or type(exc).__name__})"
                ) from None
        if len(data) > limits.max_file_bytes:
            raise _too_large(len(data), limits.max_file_bytes)
        return data

    return read


def _member_reader(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, limits: ImportLimits
) -> Callable[[], bytes]:
    ratio_limit = max(_RATIO_FLOOR, info.compress_size * limits.max_ratio)

    def bomb() -> Rejected:
        return Rejected(
            f"zip member inflates more than {limits.max_ratio} times its compressed size of "
            f"{info.compress_size} bytes (READERBENCH_IMPORT_MAX_RATIO): refused as a zip bomb"
        )

    def read() -> bytes:
        if info.file_size > limits.max_file_bytes:
            raise _too_large(info.file_size, limits.max_file_bytes)
        if info.file_size > ratio_limit:
            raise bomb()
        # zipfile stops at the declared size (a member inflating further fails its CRC); the
        # counts below hold the limits even if a reader did not.
        blocks: list[bytes] = []
        size = 0
        try:
            with archive.open(info) as fh:
                while block := fh.read(_BLOCK):
                    size += len(block)
                    if size > limits.max_file_bytes:
                        raise _too_large(size, limits.max_file_bytes)
                    if size > ratio_limit:
                        raise bomb()
                    blocks.append(block)
        except Rejected:
            raise
        except Exception as exc:  # noqa: BLE001 - encrypted, corrupt, unsupported method
            # The exception's text may name the member: give only its kind.
            raise Rejected(f"cannot be read from the zip archive ({type(exc).__name__})") from None
        return b"".join(blocks)

    return read


def _rejecting_reader(reason: str) -> Callable[[], bytes]:
    def read() -> bytes:
        raise Rejected(reason)

    return read


def _is_link_member(info: zipfile.ZipInfo) -> bool:
    # Unix zips keep the file type in the high 16 bits of the external attributes.
    return stat.S_ISLNK(info.external_attr >> 16)


def _zip_sources(path: Path, manifest, stack: contextlib.ExitStack, limits) -> list[Source]:
    try:
        archive = stack.enter_context(zipfile.ZipFile(path))
        members = [i for i in archive.infolist() if not i.is_dir()]
    except (zipfile.BadZipFile, OSError, ValueError):
        return [Source(str(path), None, _rejecting_reader("not a readable zip archive"))]
    declared = sum(i.file_size for i in members)
    if declared > limits.max_archive_bytes:
        reason = (
            f"zip archive declares {declared} bytes inflated, more than the limit of "
            f"{limits.max_archive_bytes} bytes (READERBENCH_IMPORT_MAX_ARCHIVE_BYTES)"
        )
        return [Source(str(path), None, _rejecting_reader(reason))]
    if len(members) > limits.max_files:
        reason = (
            f"zip archive holds {len(members)} files, more than the limit of "
            f"{limits.max_files} (READERBENCH_IMPORT_MAX_FILES)"
        )
        return [Source(str(path), None, _rejecting_reader(reason))]
    sources = []
    for info in sorted(members, key=lambda i: i.filename):
        if _is_link_member(info):
            read = _rejecting_reader(f"zip member is {_LINK_REASON}")
        else:
            read = _member_reader(archive, info, limits)
        key = manifest.key_for(path, info.filename) if manifest else None
        sources.append(Source(f"{path}/{info.filename}", key, read))
    return sources


def _too_many(limits: ImportLimits, what: str = "") -> ImportRefused:
    return ImportRefused(
        f"more than {limits.max_files} files to import{what} (READERBENCH_IMPORT_MAX_FILES): "
        "import them in smaller parts"
    )


def _walk(folder: Path, limits: ImportLimits) -> Iterable[tuple[Path, bool]]:
    """Every entry below ``folder`` that is not a folder, as ``(path, is_link)``, sorted; links
    to folders are listed as links, never entered. Stops past ``limits.max_files``."""
    entries = []
    for root, dirs, files in os.walk(folder, followlinks=False):
        base = Path(root)
        for name in dirs:
            if (base / name).is_symlink():
                entries.append((base / name, True))
        for name in files:
            entries.append((base / name, (base / name).is_symlink()))
        if len(entries) > limits.max_files:
            raise _too_many(limits)
    return sorted(entries)


def collect_sources(
    paths: Iterable, manifest: Manifest | None, stack, limits: ImportLimits | None = None
) -> list[Source]:
    """Expand files, folders (recursively) and zip archives into the files to import.

    Raises :class:`FileNotFoundError` for a path that does not exist and :class:`ImportRefused`
    when there are more than ``limits.max_files`` files (nothing is read then).
    """
    limits = limits or ImportLimits.from_settings()
    files: list[tuple[Path, bool]] = []
    for raw in paths:
        path = Path(raw)
        if path.is_symlink():
            files.append((path, True))
        elif path.is_dir():
            files.extend(_walk(path, limits))
        elif path.exists():
            files.append((path, False))
        else:
            raise FileNotFoundError(f"paths: {raw} does not exist")
        if len(files) > limits.max_files:
            raise _too_many(limits)
    sources: list[Source] = []
    for file, is_link in files:
        if is_link:
            sources.append(Source(str(file), None, _rejecting_reader(_LINK_REASON)))
        elif file.suffix.lower() == ".zip":
            sources.extend(_zip_sources(file, manifest, stack, limits))
        else:
            key = manifest.key_for(file) if manifest else None
            sources.append(Source(str(file), key, _file_reader(file, limits)))
        if len(sources) > limits.max_files:
            raise _too_many(limits, ", counting the files inside zip archives")
    return sources
