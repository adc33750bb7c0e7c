"""The import manifest: a CSV that attaches grouping and truth to the files of an import.

One row per file (or per original SOP Instance UID). Columns:

==================  =======================================================================
``patient_key``     required, non-empty: the patient as the site knows them (hashed into a
                    pseudonym on import, never stored)
``side``            required: ``L`` or ``R``
``label``           required column: the reference class, one of the study's label codes; may
                    be empty for a file without truth (then ``label_source`` is empty too)
``label_source``    required column: where the label comes from (consensus panel, follow-up...)
``file``            path of the file relative to the manifest's folder (a file inside a zip
                    archive: the archive's path, ``/``, the member's name) — or:
``sop_instance_uid`` the original SOP Instance UID (before de-identification)
``site``            optional: must equal the site of the import for the rows it uses
``mask``            optional: path of a ``.npy`` lesion mask relative to the manifest's folder
``designated``      optional: ``yes`` on the row of the file whose slice is graded (and given
                    to the model) in its series' case, instead of the middle slice; for a
                    multi-frame file, the frame number (1-based); empty or ``no`` elsewhere
==================  =======================================================================

Other columns are ignored and listed in :attr:`Manifest.ignored_columns`. The whole manifest is
validated before anything is imported: :func:`manifest_read` raises :class:`ManifestError` listing
every bad row with its line number (the header is line 1).
"""

from __future__ import annotations

import csv
import os
import posixpath
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

REQUIRED_COLUMNS = ("patient_key", "side", "label", "label_source")
KEY_COLUMNS = ("file", "sop_instance_uid")
OPTIONAL_COLUMNS = ("site", "mask", "designated")
_YES = ("yes", "y", "true")
_NO = ("", "no", "n", "false", "0")
SIDES = ("L", "R")
_UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")


@dataclass(frozen=True)
class ManifestRow:
    line: int
    patient_key: str
    side: str
    label: str
    label_source: str
    file: str | None = None
    sop_instance_uid: str | None = None
    site: str | None = None
    mask: Path | None = None
    #: The frame (1-based) of this file designated for grading in its case, or ``None``.
    designated: int | None = None


@dataclass(frozen=True)
class ManifestProblem:
    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


class ManifestError(ValueError):
    """The manifest is malformed; ``problems`` lists every bad row."""

    def __init__(self, path, problems: list[ManifestProblem]) -> None:
        self.path = str(path)
        self.problems = problems
        listing = "\n".join(f"  {p}" for p in problems)
        super().__init__(f"manifest {self.path} has {len(problems)} problem(s):\n{listing}")


@dataclass(frozen=True)
class Manifest:
    path: Path
    folder: Path
    rows: tuple[ManifestRow, ...]
    by_file: dict[str, ManifestRow] = field(repr=False)
    by_uid: dict[str, ManifestRow] = field(repr=False)
    ignored_columns: tuple[str, ...] = ()

    def key_for(self, path: Path, member: str | None = None) -> str:
        """The ``file`` value that names ``path`` (or a ``member`` of the archive ``path``)."""
        relative = Path(os.path.relpath(Path(path).resolve(), self.folder)).as_posix()
        return normalise_file(f"{relative}/{member}" if member else relative)

    def row_for(self, *, file_key: str | None, sop_instance_uid: str | None) -> ManifestRow | None:
        row = self.by_file.get(file_key) if file_key else None
        if row is None and sop_instance_uid:
            row = self.by_uid.get(sop_instance_uid)
        return row


def normalise_file(value: str) -> str:
    return posixpath.normpath(value.strip().replace("\\", "/"))


def _check_mask(folder: Path, value: str) -> tuple[Path | None, str | None]:
    relative = normalise_file(value)
    if posixpath.isabs(relative):
        return None, f"mask {value!r} must be a path relative to the manifest's folder"
    path = folder / relative
    if not path.is_file():
        return None, f"mask {value!r} does not exist"
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the same problem
        return None, f"mask {value!r} is not a readable .npy array ({type(exc).__name__})"
    if array.ndim != 2:
        return None, f"mask {value!r} has shape {array.shape}, expected a 2-D array"
    if array.dtype.kind not in "biuf":
        return None, f"mask {value!r} has dtype {array.dtype}, expected numbers or booleans"
    return path, None


def manifest_read(*, path, label_codes: list[str]) -> Manifest:
    """Read and validate a manifest for a study whose label scheme has ``label_codes``.

    Raises
    ------
    ManifestError
        Listing every malformed row with its line number; nothing of the manifest is usable
        then.
    FileNotFoundError
        When ``path`` does not exist.
    """
    path = Path(path)
    folder = path.resolve().parent
    problems: list[ManifestProblem] = []
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ManifestError(path, [ManifestProblem(1, f"not UTF-8 text ({exc.reason})")]) from None
    reader = csv.reader(text.splitlines(keepends=True))
    try:
        header = next(reader)
    except StopIteration:
        raise ManifestError(path, [ManifestProblem(1, "the manifest is empty")]) from None
    except csv.Error as exc:
        raise ManifestError(path, [ManifestProblem(1, f"unreadable CSV header: {exc}")]) from None
    columns = [h.strip().lower() for h in header]
    seen_columns = set()
    for name in columns:
        if name and name in seen_columns:
            problems.append(ManifestProblem(1, f"column {name!r} appears twice"))
        seen_columns.add(name)
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        problems.append(ManifestProblem(1, f"missing required column(s): {', '.join(missing)}"))
    if not any(c in columns for c in KEY_COLUMNS):
        problems.append(ManifestProblem(1, "needs a 'file' or a 'sop_instance_uid' column"))
    if problems:
        raise ManifestError(path, problems)
    known = set(REQUIRED_COLUMNS) | set(KEY_COLUMNS) | set(OPTIONAL_COLUMNS)
    ignored = tuple(c for c in columns if c not in known)

    rows: list[ManifestRow] = []
    by_file: dict[str, ManifestRow] = {}
    by_uid: dict[str, ManifestRow] = {}
    codes = list(label_codes)
    line = 1
    while True:
        start = line + 1
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            problems.append(ManifestProblem(start, f"unreadable CSV: {exc}"))
            break
        line = reader.line_num
        if not any(cell.strip() for cell in record):
            continue
        if len(record) != len(columns):
            problems.append(
                ManifestProblem(start, f"has {len(record)} fields, the header has {len(columns)}")
            )
            continue
        values = {c: v.strip() for c, v in zip(columns, record, strict=True)}
        row_problems: list[str] = []
        patient_key = values["patient_key"]
        if not patient_key:
            row_problems.append("empty patient_key")
        side = values["side"].upper()
        if side not in SIDES:
            row_problems.append(f"side {values['side']!r} is not L or R")
        label, source = values["label"], values["label_source"]
        if label and label not in codes:
            row_problems.append(
                f"label {label!r} is not in the study's label scheme ({', '.join(codes)})"
            )
        if label and not source:
            row_problems.append(f"empty label_source for label {label!r}")
        if source and not label:
            row_problems.append("label_source given without a label")
        if len(source) > 64:
            row_problems.append(f"label_source is {len(source)} characters long, at most 64")
        file_value = values.get("file", "")
        uid_value = values.get("sop_instance_uid", "")
        file_key = None
        if not file_value and not uid_value:
            row_problems.append("neither file nor sop_instance_uid is given")
        if file_value:
            file_key = normalise_file(file_value)
            if posixpath.isabs(file_key):
                row_problems.append(
                    f"file {file_value!r} must be a path relative to the manifest's folder"
                )
            elif file_key in by_file:
                row_problems.append(
                    f"file {file_value!r} is already listed on line {by_file[file_key].line}"
                )
        if uid_value:
            if len(uid_value) > 64 or not _UID.match(uid_value):
                row_problems.append(f"sop_instance_uid {uid_value!r} is not a valid DICOM UID")
            elif uid_value in by_uid:
                row_problems.append(
                    f"sop_instance_uid {uid_value} is already listed on line "
                    f"{by_uid[uid_value].line}"
                )
        mask = None
        if values.get("mask"):
            mask, problem = _check_mask(folder, values["mask"])
            if problem:
                row_problems.append(problem)
        designated = None
        flag = values.get("designated", "").lower()
        if flag in _YES:
            designated = 1
        elif flag.isdigit() and 1 <= int(flag) <= 100_000:
            designated = int(flag)
        elif flag not in _NO:
            row_problems.append(
                f"designated {values['designated']!r} is not yes, no or a frame number"
            )
        if row_problems:
            problems.extend(ManifestProblem(start, reason) for reason in row_problems)
            continue
        row = ManifestRow(
            line=start,
            patient_key=patient_key,
            side=side,
            label=label,
            label_source=source,
            file=file_key,
            sop_instance_uid=uid_value or None,
            site=values.get("site") or None,
            mask=mask,
            designated=designated,
        )
        rows.append(row)
        if file_key:
            by_file[file_key] = row
        if uid_value:
            by_uid[uid_value] = row
    if not rows and not problems:
        problems.append(ManifestProblem(2, "the manifest has no data rows"))
    if problems:
        raise ManifestError(path, problems)
    return Manifest(
        path=path,
        folder=folder,
        rows=tuple(rows),
        by_file=by_file,
        by_uid=by_uid,
        ignored_columns=ignored,
    )
