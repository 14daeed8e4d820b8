"""Subcommands of the `ledgerline` CLI, one module per area; shared output helpers here."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal


def _default(value):
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def print_json(obj) -> None:
    """One JSON document on stdout; Decimals as strings, dates ISO."""
    json.dump(obj, sys.stdout, default=_default, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")


def print_csv(header: Sequence[str], rows: Iterable[Sequence]) -> None:
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([_default(v) if v is not None and not isinstance(v, str | int) else v for v in row])


def print_table(header: Sequence[str], rows: Iterable[Sequence]) -> None:
    """A plain aligned text table for people."""
    text = [
        [("" if v is None else _default(v) if not isinstance(v, str | int) else str(v)) for v in r]
        for r in rows
    ]
    widths = [max([len(h)] + [len(r[i]) for r in text]) for i, h in enumerate(header)]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    for r in text:
        print("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)))


def read_secret(path: str | None) -> str | None:
    """A secret from a file, or from standard input for '-', so it never sits in the shell history."""
    if not path:
        return None
    if path == "-":
        return sys.stdin.read().strip()
    with open(path, encoding="utf-8") as fh:
        return fh.read().strip()
