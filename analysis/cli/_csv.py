"""Helpers shared by the CSV commands of ``python -m analysis``: reading named columns of a CSV
file as text, missing values, numeric columns, and JSON-safe output (NaN and infinities as null).
Every error names the option or column and the line."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

from analysis.cli import CommandError

__all__ = ["MISSING", "is_missing", "json_safe", "parse_numeric", "read_columns", "refuse_missing"]

MISSING = {"", "na", "nan", "null", "none", "n/a"}


def read_columns(path: str, wanted: dict[str, str]) -> dict[str, list[str]]:
    """Read the columns named in ``wanted`` (option -> column) of a CSV file as text.

    An unknown column is an error naming the option and listing the
    file's columns.
    """
    p = Path(path)
    if not p.is_file():
        raise CommandError(f"--csv: no such file {path!r}")
    with p.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.reader(fh)
        try:
            header = next(reader)
        except StopIteration:
            raise CommandError(f"--csv: {path!r} is empty; expected a header row") from None
        header = [h.strip() for h in header]
        index = {}
        for option, column in wanted.items():
            if column not in header:
                raise CommandError(
                    f"{option}: unknown column {column!r} in {path}; columns are {header}"
                )
            index[column] = header.index(column)
        out: dict[str, list[str]] = {c: [] for c in index}
        for line_no, row in enumerate(reader, start=2):
            if not row or all(not v.strip() for v in row):
                continue
            if len(row) < len(header):
                row = row + [""] * (len(header) - len(row))
            for column, i in index.items():
                out[column].append(row[i].strip())
            out.setdefault("__line__", []).append(str(line_no))
    if not out.get("__line__"):
        raise CommandError(f"--csv: {path!r} has a header but no data rows")
    return out


def json_safe(obj):
    """Replace NaN and infinities (not valid JSON) by None, recursively."""
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [json_safe(v) for v in obj]
    if isinstance(obj, float | np.floating):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def is_missing(value: str) -> bool:
    """Whether a CSV cell is empty or one of :data:`MISSING` (case-insensitive)."""
    return value.strip().lower() in MISSING


def parse_numeric(values: list[str], column: str, lines: list[str]) -> np.ndarray:
    """Floats of a text column; NaN where missing; error naming the column on non-numbers."""
    out = np.empty(len(values))
    for i, v in enumerate(values):
        if is_missing(v):
            out[i] = np.nan
            continue
        try:
            x = float(v)
        except ValueError:
            raise CommandError(
                f"column {column!r}: non-numeric value {v!r} on line {lines[i]}; "
                f"expected numeric scores"
            ) from None
        if not math.isfinite(x):
            raise CommandError(
                f"column {column!r}: value {v!r} on line {lines[i]} is not a finite number"
            )
        out[i] = x
    return out


def refuse_missing(values: np.ndarray | list, column: str, lines: list[str], why: str) -> None:
    if isinstance(values, np.ndarray):
        bad = np.flatnonzero(np.isnan(values))
    else:
        bad = [i for i, v in enumerate(values) if is_missing(v)]
    if len(bad) > 0:
        raise CommandError(
            f"column {column!r}: missing value on line {lines[bad[0]]} "
            f"({len(bad)} missing in all); {why}"
        )
