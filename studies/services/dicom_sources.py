"""What an import reads: files, folders (recursively) and zip archives expanded into sources,
each with its manifest key and a reader that refuses, with a reason, what cannot be read
(too large, unreadable, a corrupt archive member) without naming the file's content."""

from __future__ import annotations

import contextlib
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from studies.dicom.validate import Rejected
from studies.services.manifest import Manifest

#: Larger files are rejected unread (a 4096 x 4096 16-bit slice is 32 MiB).
MAX_FILE_BYTES = 256 * 1024 * 1024


@dataclass(frozen=True)
class Source:
    """One file to import: its path (for the report), its manifest key, and how to read it."""

    path: str
    file_key: str | None
    read: Callable[[], bytes]


def _file_reader(path: Path) -> Callable[[], bytes]:
    def read() -> bytes:
        try:
            size = path.stat().st_size
            if size > MAX_FILE_BYTES:
                raise Rejected(f"file of {size} bytes is larger than {MAX_FILE_BYTES} bytes")
            return path.read_bytes()
        except OSError as exc:
            raise Rejected(f"file cannot be read ({exc.strerror or type(exc).__name__})") from None

    return read


def _member_reader(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> Callable[[], bytes]:
    def read() -> bytes:
        if info.file_size > MAX_FILE_BYTES:
            raise Rejected(f"file of {info.file_size} bytes is larger than {MAX_FILE_BYTES} bytes")
        try:
            return archive.read(info)
        except Exception as exc:  # noqa: BLE001 - encrypted, corrupt, unsupported method
            # The exception's text may name the member: give only its kind.
            raise Rejected(f"cannot be read from the zip archive ({type(exc).__name__})") from None

    return read


def _rejecting_reader(reason: str) -> Callable[[], bytes]:
    def read() -> bytes:
        raise Rejected(reason)

    return read


def _zip_sources(path: Path, manifest, stack: contextlib.ExitStack) -> list[Source]:
    try:
        archive = stack.enter_context(zipfile.ZipFile(path))
        members = [i for i in archive.infolist() if not i.is_dir()]
    except (zipfile.BadZipFile, OSError, ValueError):
        return [Source(str(path), None, _rejecting_reader("not a readable zip archive"))]
    return [
        Source(
            f"{path}/{info.filename}",
            manifest.key_for(path, info.filename) if manifest else None,
            _member_reader(archive, info),
        )
        for info in sorted(members, key=lambda i: i.filename)
    ]


def collect_sources(paths: Iterable, manifest: Manifest | None, stack) -> list[Source]:
    """Expand files, folders (recursively) and zip archives into the files to import."""
    sources: list[Source] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file())
        elif path.exists():
            files = [path]
        else:
            raise FileNotFoundError(f"paths: {raw} does not exist")
        for file in files:
            if file.suffix.lower() == ".zip":
                sources.extend(_zip_sources(file, manifest, stack))
            else:
                key = manifest.key_for(file) if manifest else None
                sources.append(Source(str(file), key, _file_reader(file)))
    return sources
