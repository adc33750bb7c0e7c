"""``python -m analysis COMMAND ...``: each command lives in its own module of this package,
exposing ``add_arguments(parser)`` and ``run(args) -> int``; only the chosen one is imported."""

from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS = {
    "delong": ("analysis.cli.delong", "DeLong AUCs, CIs and the paired or unpaired test"),
    "mrmc": ("analysis.cli.mrmc", "Obuchowski-Rockette MRMC analysis of reader AUCs"),
    "kappa": ("analysis.cli.kappa", "Cohen's kappa of two raters (unweighted or weighted)"),
    "fleiss": ("analysis.cli.fleiss", "Fleiss' kappa of many raters"),
    "mcnemar": ("analysis.cli.mcnemar", "McNemar's test of a paired 2x2 table"),
    "compare": ("analysis.cli.compare", "the full human-vs-machine comparison of a long table"),
}


class CommandError(Exception):
    """A usage or data error to show the user as one line (exit status 2)."""


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m analysis", description=__doc__)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module_name, help_text) in COMMANDS.items():
        sub_parser = sub.add_parser(name, help=help_text, description=help_text)
        if name == command:
            importlib.import_module(module_name).add_arguments(sub_parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = argv[0] if argv and argv[0] in COMMANDS else None
    args = build_parser(command).parse_args(argv)
    module = importlib.import_module(COMMANDS[args.command][0])
    try:
        return int(module.run(args) or 0)
    except (CommandError, ValueError, KeyError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
