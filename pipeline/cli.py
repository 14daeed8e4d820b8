"""The `ledgerline` console script.

Exit codes (a contract other tools rely on): 0 success, 1 a failed run or bad input (the message
goes to stderr), 2 a usage error.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

from pipeline.errors import LedgerlineError

# Each module adds its subcommands with `register(subparsers)`; its handlers take (args) -> int.
COMMAND_MODULES = (
    "pipeline.commands.warehouse",
    "pipeline.commands.reports",
    "pipeline.commands.statements",
    "pipeline.commands.mapping",
    "pipeline.commands.scheduling",
    "pipeline.commands.sources",
    "pipeline.commands.excel",
    "pipeline.commands.payroll",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ledgerline", description="Ledgerline financial reporting hub")
    parser.add_argument(
        "--data",
        default=os.environ.get("LEDGERLINE_DATA", "data"),
        help="data folder holding the warehouse (default: $LEDGERLINE_DATA, else ./data)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run the command, map errors to exit codes."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s"
    )
    try:
        return args.handler(args)
    except LedgerlineError as exc:
        print(f"error: {exc.user_message()}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `ledgerline report tb ... | head`: the reader left; not an error of ours.
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
