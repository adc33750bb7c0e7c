"""``python -m analysis mcnemar``: McNemar's test of a paired 2x2 table
``--table n11,n12,n21,n22`` (n11 both correct, n12 only A correct, n21 only B correct, n22 both
wrong), with continuity correction (default, like R ``mcnemar.test``), without
(``--no-correction``) or exact binomial (``--exact``).

JSON output: ``{"statistic": .., "p": ..}``.
"""

from __future__ import annotations

import json

from analysis.cli import CommandError
from analysis.metrics.paired import accuracy_difference_table, mcnemar_table


def add_arguments(parser) -> None:
    parser.add_argument("--table", required=True, metavar="n11,n12,n21,n22",
                        help="the 2x2 counts, comma-separated, row by row")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--no-correction", action="store_true",
                      help="chi-square without continuity correction")
    mode.add_argument("--exact", action="store_true", help="exact (binomial) test")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def parse_table(text: str) -> list[int]:
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != 4:
        raise CommandError(
            f"--table: expected four counts n11,n12,n21,n22, got {len(parts)} value(s) in {text!r}"
        )
    counts = []
    for name, part in zip(("n11", "n12", "n21", "n22"), parts, strict=True):
        try:
            value = int(part)
        except ValueError:
            raise CommandError(
                f"--table: {name} = {part!r} is not a whole number; expected counts >= 0"
            ) from None
        if value < 0:
            raise CommandError(f"--table: {name} = {value} is negative; expected counts >= 0")
        counts.append(value)
    if sum(counts) == 0:
        raise CommandError("--table: all four counts are zero; expected at least one pair")
    return counts


def run(args) -> int:
    counts = parse_table(args.table)
    res = mcnemar_table(*counts, correction=not args.no_correction, exact=args.exact)
    if args.json:
        print(json.dumps({"statistic": res.statistic, "p": res.p}))
    else:
        print(f"table: n11={counts[0]}, n12={counts[1]}, n21={counts[2]}, n22={counts[3]}")
        print(res.summary())
        print()
        print(accuracy_difference_table(*counts).summary())
    return 0
