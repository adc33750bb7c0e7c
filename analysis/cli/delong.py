"""``python -m analysis delong``: empirical AUC with DeLong variance and CI of one or more score
columns of a CSV file, and DeLong's test of two of them.

Convention: a higher score means "more likely positive" (pROC ``direction = "<"``); rows whose
truth equals ``--positive`` are the positives, every other truth value is negative.

Paired (default): every score column must be present on every row; a missing or non-numeric
value is an error naming the column and line. ``--unpaired`` (exactly two scores): the two
columns are treated as independent samples of cases (pROC's unpaired DeLong test); rows where a
score is missing are dropped for that score only, so the two samples may differ in size.

JSON output::

    {"n_positive": m, "n_negative": n, "auc": [..], "var": [..], "se": [..],
     "ci": [[lo, hi], ..], "scores": [names], "level": 0.95,
     "test": {"statistic": z_or_d, "pvalue": p, "difference": d, "se": se,
              "ci": [lo, hi], "df": df_or_null, "alternative": .., "method": ..}}

``test`` is present only with exactly two scores; the difference is first score minus second.
With ``--unpaired`` and different numbers of usable rows per score, ``n_positive`` and
``n_negative`` are lists (one count per score); otherwise they are integers.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np

from analysis.cli import CommandError
from analysis.roc import ALTERNATIVES, delong_test, delong_test_unpaired, roc_auc_ci

MISSING = {"", "na", "nan", "null", "none", "n/a"}


def read_columns(path: str, wanted: dict[str, str]) -> dict[str, list[str]]:
    """Read the columns named in ``wanted`` (option -> column) of a CSV file as text.

    Shared by the CSV commands. An unknown column is an error naming the option and listing the
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


def add_arguments(parser) -> None:
    parser.add_argument("--csv", required=True, help="input CSV file with a header row")
    parser.add_argument("--truth", required=True, help="truth column")
    parser.add_argument(
        "--positive", required=True, help="value of the truth column that marks a positive case"
    )
    parser.add_argument(
        "--score",
        required=True,
        action="append",
        help="score column (higher = more likely positive); give it twice to test two scores",
    )
    parser.add_argument(
        "--unpaired",
        action="store_true",
        help="treat the two scores as independent samples (pROC's unpaired DeLong test)",
    )
    parser.add_argument("--alternative", choices=ALTERNATIVES, default="two-sided")
    parser.add_argument("--level", type=float, default=0.95, help="confidence level")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def _truth(values: list[str], column: str, positive: str, lines: list[str]) -> np.ndarray:
    distinct = sorted(set(values))
    if positive not in distinct:
        raise CommandError(
            f"--positive: value {positive!r} does not occur in column {column!r}; "
            f"values are {distinct[:10]}"
        )
    if len(distinct) == 1:
        raise CommandError(
            f"column {column!r}: a single class in truth (every row is {positive!r}); "
            f"expected positives and negatives"
        )
    return np.array([v == positive for v in values])


def run(args) -> int:
    if not 0.0 < args.level < 1.0:
        raise CommandError(
            f"--level: expected a confidence level between 0 and 1, got {args.level}"
        )
    scores = args.score
    if len(set(scores)) != len(scores):
        raise CommandError(f"--score: the same column given twice: {scores}")
    if args.unpaired and len(scores) != 2:
        raise CommandError(f"--unpaired: expected exactly two --score columns, got {len(scores)}")
    wanted = {"--truth": args.truth}
    for s in scores:
        wanted[f"--score {s}"] = s
    cols = read_columns(args.csv, wanted)
    lines = cols["__line__"]
    refuse_missing(cols[args.truth], args.truth, lines, "every row needs a truth value")
    truth = _truth(cols[args.truth], args.truth, args.positive, lines)
    values = {s: parse_numeric(cols[s], s, lines) for s in scores}

    per_score = []
    samples = []
    for s in scores:
        x = values[s]
        if args.unpaired:
            keep = ~np.isnan(x)
            y, x = truth[keep], x[keep]
        else:
            refuse_missing(
                x, s, lines, "paired analysis needs every score on every row (see --unpaired)"
            )
            y = truth
        if y.all() or not y.any():
            raise CommandError(
                f"column {args.truth!r}: a single class in truth among the rows with a {s!r} value"
            )
        try:
            per_score.append(roc_auc_ci(y, x, level=args.level))
        except ValueError as exc:
            raise CommandError(f"column {s!r}: {exc}") from None
        samples.append((y, x))

    test = None
    if len(scores) == 2:
        if args.unpaired:
            test = delong_test_unpaired(
                samples[0][0],
                samples[0][1],
                samples[1][0],
                samples[1][1],
                alternative=args.alternative,
                level=args.level,
            )
        else:
            test = delong_test(
                truth,
                values[scores[0]],
                values[scores[1]],
                alternative=args.alternative,
                level=args.level,
            )

    n_pos = [r.n_positive for r in per_score]
    n_neg = [r.n_negative for r in per_score]
    payload = {
        "n_positive": n_pos[0] if len(set(n_pos)) == 1 else n_pos,
        "n_negative": n_neg[0] if len(set(n_neg)) == 1 else n_neg,
        "scores": list(scores),
        "level": args.level,
        "auc": [r.auc for r in per_score],
        "var": [r.var for r in per_score],
        "se": [r.se for r in per_score],
        "ci": [list(r.ci) for r in per_score],
    }
    if test is not None:
        payload["test"] = {
            "statistic": test.statistic,
            "pvalue": test.pvalue,
            "difference": test.difference,
            "se": test.se,
            "ci": list(test.ci),
            "df": test.df,
            "alternative": test.alternative,
            "method": test.method,
        }

    if args.json:
        print(json.dumps(json_safe(payload), indent=2, allow_nan=False))
        return 0

    pct = f"{100 * args.level:g}%"
    print(
        f"Empirical ROC AUC, DeLong {pct} CI (truth {args.truth} == {args.positive!r} positive;"
        f" higher score = positive)"
    )
    print(f"{'score':<20} {'m':>6} {'n':>6} {'AUC':>8} {'SE':>8} {'CI low':>8} {'CI high':>8}")
    for s, r in zip(scores, per_score, strict=True):
        print(
            f"{s:<20} {r.n_positive:>6} {r.n_negative:>6} {r.auc:8.4f} {r.se:8.4f} "
            f"{r.ci[0]:8.4f} {r.ci[1]:8.4f}"
        )
    if test is not None:
        print()
        print(
            test.summary().replace("AUC 1", f"AUC {scores[0]}").replace("AUC 2", f"AUC {scores[1]}")
        )
    return 0
