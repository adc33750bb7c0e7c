"""``python -m analysis kappa``: Cohen's kappa (unweighted, linear or quadratic weights) of two
rater columns of a CSV file, with the asymptotic SE of Fleiss, Cohen & Everitt (1969), the SE
under H0, z, p and a Wald CI.

Levels: ``--levels A,B,C1,C2`` sets the study's full ordered label set (weights are built from
it, levels nobody used included); without it the sorted union of the observed values is used
(numeric order when all values are numbers), and the output says so. Values are compared as
text, so ``--levels 1,2,3`` matches cells ``1``, ``2``, ``3``.

JSON output: ``{"kappa": .., "se": .., "se0": .., "z": .., "p": .., "ci": [lo, hi]}``.
"""

from __future__ import annotations

import json
import sys

from analysis._validation import sort_levels
from analysis.agreement.kappa import WEIGHTS, cohen_kappa
from analysis.cli import CommandError
from analysis.cli._csv import is_missing, read_columns


def add_arguments(parser) -> None:
    parser.add_argument("--csv", required=True, help="input CSV file with a header row")
    parser.add_argument(
        "--rater", action="extend", nargs="+", required=True, metavar="COL",
        help="a rater column (give exactly two: --rater R1 --rater R2)",
    )
    parser.add_argument("--weights", choices=WEIGHTS, default="none",
                        help="agreement weights (default: none = simple kappa)")
    parser.add_argument("--levels", help="ordered label set, comma-separated, e.g. A,B,C1,C2")
    parser.add_argument("--confidence", type=float, default=0.95,
                        help="confidence level of the CI (default 0.95)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def read_ratings(path: str, columns: list[str]) -> dict[str, list[str]]:
    """Rater columns of a CSV file as text; a missing value is an error naming column and line.

    Shared by the agreement commands (kappa, fleiss)."""
    data = read_columns(path, {f"--rater #{i + 1}": c for i, c in enumerate(columns)})
    lines = data["__line__"]
    for column in columns:
        for i, value in enumerate(data[column]):
            if is_missing(value):
                n_missing = sum(is_missing(v) for v in data[column])
                raise CommandError(
                    f"column {column!r}: missing value on line {lines[i]} ({n_missing} missing "
                    f"in all); every subject needs a rating from every rater"
                )
    return data


def parse_levels(text: str | None, values: list[list[str]]) -> tuple[list[str], str]:
    """The label set from ``--levels`` or, when absent, the sorted union of observed values,
    with a note saying which."""
    if text is None:
        levels = sort_levels({v for col in values for v in col})
        note = (f"levels: {', '.join(levels)} (sorted union of observed values; pass --levels "
                f"to set the study's full label set)")
        return levels, note
    levels = [v.strip() for v in text.split(",")]
    if any(not v for v in levels):
        raise CommandError(f"--levels: empty label in {text!r}; expected e.g. A,B,C1,C2")
    if len(set(levels)) != len(levels):
        raise CommandError(f"--levels: duplicate labels in {text!r}")
    return levels, f"levels: {', '.join(levels)} (from --levels)"


def print_agreement(res, args, *, keys, heading: str, note: str) -> int:
    """Print a kappa result: ``keys`` of ``to_dict()`` as JSON (``--json``), else a heading and
    the summary; the note on the label set goes along (to stderr with JSON) when the levels
    were inferred."""
    if args.json:
        d = res.to_dict()
        print(json.dumps({key: d[key] for key in keys}))
    else:
        print(heading)
        print(res.summary())
    if args.levels is None:
        print(note, file=sys.stderr if args.json else sys.stdout)
    return 0


def run(args) -> int:
    if len(args.rater) != 2:
        raise CommandError(
            f"--rater: Cohen's kappa needs exactly two rater columns, got {len(args.rater)} "
            f"({', '.join(args.rater)}); for more raters use `python -m analysis fleiss`"
        )
    data = read_ratings(args.csv, args.rater)
    r1, r2 = data[args.rater[0]], data[args.rater[1]]
    levels, note = parse_levels(args.levels, [r1, r2])
    res = cohen_kappa(r1, r2, labels=levels, weights=args.weights, confidence=args.confidence,
                      names=(f"column {args.rater[0]!r}", f"column {args.rater[1]!r}"))
    return print_agreement(res, args, keys=("kappa", "se", "se0", "z", "p", "ci"),
                           heading=f"{args.rater[0]} vs {args.rater[1]} ({args.csv})", note=note)
