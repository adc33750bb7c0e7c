"""``python -m analysis fleiss``: Fleiss' kappa of two or more rater columns of a CSV file (one
row per subject), with the SE under H0, z and p as R irr ``kappam.fleiss`` reports them, and the
category-wise kappas.

Levels as in ``python -m analysis kappa``: ``--levels`` or the sorted union of observed values.

JSON output: ``{"kappa": .., "se": .., "z": .., "p": ..}``.
"""

from __future__ import annotations

import numpy as np

from analysis.agreement.many_raters import fleiss_kappa
from analysis.cli import CommandError
from analysis.cli.kappa import parse_levels, print_agreement, read_ratings


def add_arguments(parser) -> None:
    parser.add_argument("--csv", required=True, help="input CSV file with a header row")
    parser.add_argument(
        "--rater", action="extend", nargs="+", required=True, metavar="COL",
        help="rater columns (two or more): --rater R1 R2 R3 or --rater R1 --rater R2 ...",
    )
    parser.add_argument("--levels", help="label set, comma-separated, e.g. A,B,C1,C2")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def run(args) -> int:
    if len(args.rater) < 2:
        raise CommandError(
            f"--rater: Fleiss' kappa needs at least two rater columns, got {len(args.rater)} "
            f"({', '.join(args.rater)})"
        )
    if len(set(args.rater)) != len(args.rater):
        dupes = sorted({c for c in args.rater if args.rater.count(c) > 1})
        raise CommandError(f"--rater: column(s) {dupes} given more than once")
    data = read_ratings(args.csv, args.rater)
    columns = [data[c] for c in args.rater]
    levels, note = parse_levels(args.levels, columns)
    ratings = np.array(columns, dtype=object).T
    res = fleiss_kappa(ratings, labels=levels, names=[f"column {c!r}" for c in args.rater])
    return print_agreement(res, args, keys=("kappa", "se", "z", "p"),
                           heading=f"raters: {', '.join(args.rater)} ({args.csv})", note=note)
