"""Cells as SpreadsheetML text: references, serial dates, exact amounts, inline strings.

Rows are built as strings and streamed: this is the hot loop of a million-row sheet, so the
helpers are plain functions over pre-escaped text, and repeated strings are escaped once.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache

from pipeline.xlsx.guard import xml_escape, xml_text

MAX_ROWS = 1_048_576
MAX_COLUMNS = 16_384
_EPOCH = date(1899, 12, 30)  # Excel's day 0 in the 1900 date system (it counts a false 1900-02-29)


@lru_cache(maxsize=MAX_COLUMNS)
def col_letter(index: int) -> str:
    """1 -> A, 27 -> AA."""
    out = ""
    while index:
        index, rest = divmod(index - 1, 26)
        out = chr(65 + rest) + out
    return out


def col_index(letters: str) -> int:
    """A -> 1, AA -> 27."""
    out = 0
    for ch in letters.upper():
        out = out * 26 + ord(ch) - 64
    return out


def split_ref(ref: str) -> tuple[int, int]:
    """'C12' -> (12, 3): row and column, 1-based."""
    i = 0
    while i < len(ref) and ref[i].isalpha():
        i += 1
    return int(ref[i:]), col_index(ref[:i])


def excel_date(day: date) -> int:
    """The serial number Excel stores for a date."""
    return (day - _EPOCH).days


def from_excel_date(serial: float) -> date:
    return date.fromordinal(_EPOCH.toordinal() + int(serial))


def excel_datetime(moment: datetime) -> str:
    """A date-time as the serial Excel stores, to the second, as exact decimal text."""
    days = (moment.date() - _EPOCH).days
    seconds = moment.hour * 3600 + moment.minute * 60 + moment.second
    return str((Decimal(days) + Decimal(seconds) / Decimal(86400)).quantize(Decimal("0.00000001")))


def money_text(value: Decimal) -> str:
    """An amount as the exact decimal text a cell stores: two decimals, no exponent."""
    return f"{value:.2f}"


@lru_cache(maxsize=65536)
def text_value(text: str) -> str:
    """The escaped inline string element for a text, cached: names repeat on every row."""
    body = xml_text(text)
    if body != body.strip() or "\n" in body:
        return f'<is><t xml:space="preserve">{body}</t></is>'
    return f"<is><t>{body}</t></is>"


def style(index: int) -> str:
    return f' s="{index}"' if index else ""


def text_cell(ref: str, text: str, s: int = 0) -> str:
    """A string cell; never a formula, whatever the text starts with."""
    return f'<c r="{ref}"{style(s)} t="inlineStr">{text_value(text)}</c>'


def number_cell(ref: str, number: str | int, s: int = 0) -> str:
    return f'<c r="{ref}"{style(s)}><v>{number}</v></c>'


def formula_cell(ref: str, formula: str, s: int = 0) -> str:
    """A formula without a cached value: the application computes it when the file opens."""
    return f'<c r="{ref}"{style(s)}><f>{xml_escape(formula)}</f></c>'


def empty_cell(ref: str, s: int) -> str:
    return f'<c r="{ref}"{style(s)}/>' if s else ""


_PLAIN_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_REF_LIKE = re.compile(r"^([A-Za-z]{1,3}[0-9]+|[Rr][0-9]*[Cc][0-9]*|TRUE|FALSE)$", re.IGNORECASE)


def quote_sheet(name: str) -> str:
    """A sheet name as formulas and defined names write it: quoted unless it is a plain word."""
    if _PLAIN_NAME.match(name) and not _REF_LIKE.match(name):
        return name
    return "'" + name.replace("'", "''") + "'"
