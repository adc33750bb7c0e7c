"""``python -m analysis mrmc``: Obuchowski-Rockette MRMC analysis of empirical AUC from a long
CSV table (one row per reader x treatment x case).

The truth column holds 0/1 (1 = positive); ratings are numbers, higher = more likely positive.
The design must be complete (every reader rates every case in every treatment); a missing rating
is an error naming the column, line, reader, treatment and case.

JSON output (difference = first treatment minus second, treatments in sorted order; the ``se``
and ``ci`` of each analysis are those of that difference; with more than two treatments every
pair is listed under ``comparisons``)::

    {"treatments": [..], "readers": [..], "n_positive": m, "n_negative": n, "cov": "jackknife",
     "level": 0.95,
     "auc": {"<treatment>": {"<reader>": auc}}, "treatment_auc": {"<treatment>": auc},
     "difference": d,
     "covariance": {"var_error": .., "cov1": .., "cov2": .., "cov3": ..},
     "rrrc": {"F": .., "df1": .., "df2": .., "p": .., "se": .., "ci": [lo, hi],
              "treatment_ci": {"<treatment>": [lo, hi]}, "comparisons": [..]},
     "frrc": {"statistic": .., "df": .., "p": .., "se": .., "ci": [lo, hi], ...},
     "rrfc": {"F": .., "df1": .., "df2": .., "p": .., "se": .., "ci": [lo, hi], ...}}
"""

from __future__ import annotations

import json

import numpy as np

from analysis.cli import CommandError
from analysis.cli._csv import json_safe, parse_numeric, read_columns, refuse_missing
from analysis.mrmc.covariance import COV_METHODS
from analysis.mrmc.data import ratings_from_long_table
from analysis.mrmc.obuchowski_rockette import mrmc
from analysis.mrmc.results import ORAnalysis


def add_arguments(parser) -> None:
    parser.add_argument(
        "--csv", required=True, help="long table, one row per reader x treatment x case"
    )
    parser.add_argument("--reader", required=True, help="reader column")
    parser.add_argument("--treatment", required=True, help="treatment (modality) column")
    parser.add_argument("--case", required=True, help="case column")
    parser.add_argument("--truth", required=True, help="truth column, 0/1 (1 = positive)")
    parser.add_argument("--rating", required=True, help="rating column (higher = positive)")
    parser.add_argument(
        "--cov",
        choices=COV_METHODS,
        default="jackknife",
        help="covariance estimator of the reader AUCs (default jackknife)",
    )
    parser.add_argument("--level", type=float, default=0.95, help="confidence level")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def _truth(values: list[str], column: str, lines: list[str]) -> np.ndarray:
    out = np.empty(len(values), dtype=np.int8)
    for i, v in enumerate(values):
        try:
            x = float(v)
        except ValueError:
            x = None
        if x not in (0.0, 1.0):
            raise CommandError(
                f"column {column!r}: expected 0/1 truth (1 = positive), got {v!r} on line "
                f"{lines[i]}"
            )
        out[i] = int(x)
    return out


def _analysis_dict(a: ORAnalysis) -> dict:
    full = a.to_dict()  # non-finite numbers already turned into null
    first = full["comparisons"][0]
    d = {}
    if a.distribution == "F":
        d.update({"F": full["statistic"], "df1": full["df1"], "df2": full["df2"]})
    else:
        d.update({"statistic": full["statistic"], "df": full["df1"]})
    d.update(
        {
            "p": full["pvalue"],
            "se": first["se"],
            "ci": first["ci"],
            "treatment_ci": {e["treatment"]: e["ci"] for e in full["treatment_estimates"]},
            "comparisons": full["comparisons"],
        }
    )
    if "reader_comparisons" in full:
        d["reader_comparisons"] = full["reader_comparisons"]
    return d


def run(args) -> int:
    if not 0.0 < args.level < 1.0:
        raise CommandError(
            f"--level: expected a confidence level between 0 and 1, got {args.level}"
        )
    wanted = {
        "--reader": args.reader,
        "--treatment": args.treatment,
        "--case": args.case,
        "--truth": args.truth,
        "--rating": args.rating,
    }
    cols = read_columns(args.csv, wanted)
    lines = cols["__line__"]
    for option in ("--reader", "--treatment", "--case", "--truth"):
        refuse_missing(cols[wanted[option]], wanted[option], lines, "every row needs one")
    rating = parse_numeric(cols[args.rating], args.rating, lines)
    if np.isnan(rating).any():
        i = int(np.flatnonzero(np.isnan(rating))[0])
        raise CommandError(
            f"column {args.rating!r}: missing rating on line {lines[i]} (reader "
            f"{cols[args.reader][i]!r}, treatment {cols[args.treatment][i]!r}, case "
            f"{cols[args.case][i]!r}); the analysis needs a complete reader x treatment x "
            f"case design"
        )
    truth = _truth(cols[args.truth], args.truth, lines)
    data = ratings_from_long_table(
        cols[args.reader], cols[args.treatment], cols[args.case], truth, rating
    )
    if len(data.treatments) < 2:
        raise CommandError(
            f"column {args.treatment!r}: expected at least 2 treatments, got "
            f"{list(data.treatments)}"
        )
    if len(data.readers) < 2:
        raise CommandError(
            f"column {args.reader!r}: expected at least 2 readers, got {list(data.readers)}"
        )
    res = mrmc(
        data.truth,
        data.ratings,
        cov=args.cov,
        level=args.level,
        treatments=data.treatments,
        readers=data.readers,
    )
    if not args.json:
        print(res.summary())
        return 0
    full = res.to_dict()
    payload = {
        "treatments": full["treatments"],
        "readers": full["readers"],
        "n_positive": res.n_positive,
        "n_negative": res.n_negative,
        "cov": res.cov_method,
        "level": res.level,
        "auc": full["auc"],
        "treatment_auc": full["treatment_auc"],
        "difference": res.difference,
        "covariance": full["covariance"],
        "rrrc": _analysis_dict(res.rrrc),
        "frrc": _analysis_dict(res.frrc),
        "rrfc": _analysis_dict(res.rrfc),
    }
    print(json.dumps(json_safe(payload), indent=2, allow_nan=False))
    return 0
