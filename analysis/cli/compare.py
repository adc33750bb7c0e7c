"""``python -m analysis compare LONG.csv``: the human-vs-machine comparison of a long table.

With ``--json`` the whole :class:`analysis.compare.comparison.Comparison` is printed as JSON
(``Comparison.to_dict()``); without it, a readable report in sections.
"""

from __future__ import annotations

import argparse
import json

from analysis.cli import CommandError
from analysis.compare.text import render_text


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("long_table", metavar="LONG.csv", help="the long table (CSV)")
    parser.add_argument("--labels", help="ordered classes, lowest first, comma-separated "
                        "(default: the order of the score_<class> columns)")
    parser.add_argument("--endpoint", action="append", default=None, metavar="NAME=C1,C2",
                        help="a binary endpoint: its name and positive classes; repeat for "
                        "several (default: the cumulative endpoints '>= class')")
    parser.add_argument("--bootstrap", type=int, default=2000, metavar="N",
                        help="patient-clustered bootstrap resamples (default 2000; 0 for none)")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    parser.add_argument("--level", type=float, default=0.95,
                        help="confidence level of every interval (default 0.95)")
    parser.add_argument("--condition", help="primary reading condition (default: unaided)")
    parser.add_argument("--external-sites", metavar="S1,S2",
                        help="sites whose cases are external (besides partition 'external')")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def _split(text: str | None, option: str) -> list[str] | None:
    if text is None:
        return None
    items = [x.strip() for x in text.split(",")]
    if not all(items):
        raise CommandError(f"{option}: expected comma-separated names, got {text!r}")
    return items


def _endpoints(values: list[str] | None):
    if not values:
        return None
    out = []
    for value in values:
        name, sep, classes = value.partition("=")
        if not sep or not name.strip():
            raise CommandError(f"--endpoint: expected NAME=CLASS,CLASS..., got {value!r}")
        out.append((name.strip(), _split(classes, "--endpoint")))
    return out


def run(args: argparse.Namespace) -> int:
    from analysis.compare.comparison import compare

    result = compare(
        args.long_table, labels=_split(args.labels, "--labels"),
        endpoints=_endpoints(args.endpoint), n_bootstrap=args.bootstrap, seed=args.seed,
        level=args.level, condition=args.condition,
        external_sites=_split(args.external_sites, "--external-sites"),
    )
    if args.json:
        print(json.dumps(result.to_dict(), indent=1, allow_nan=False))
    else:
        print(render_text(result.to_dict()))
    return 0
