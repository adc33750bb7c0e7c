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

import json

import numpy as np

from analysis.cli import CommandError
from analysis.cli._csv import json_safe, parse_numeric, read_columns, refuse_missing
from analysis.roc.auc import roc_auc_ci
from analysis.roc.compare_curves import ALTERNATIVES, delong_test, delong_test_unpaired


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
