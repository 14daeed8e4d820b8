"""Text from sources never becomes a formula, and never breaks the XML it is written into.

A cell is a formula only when the sheet XML says so (`<f>`): every text Ledgerline writes into a
workbook is an inline string, so `=HYPERLINK(...)` from an account name stays text by construction.
The risk returns wherever text is *typed* into a spreadsheet: a CSV opened in Excel, or a value
set through Excel's object model (xlwings). There the leading character decides, so text that
starts with one of the trigger characters gets the apostrophe Excel itself uses for "this is text".
"""

from __future__ import annotations

import re

# = + - @ start a formula when typed; a tab or carriage return in front is stripped by Excel first.
TRIGGERS = ("=", "+", "-", "@", "\t", "\r")

# XML 1.0 cannot carry most control characters; Excel writes them as _xHHHH_, and a literal
# "_xHHHH_" in text must itself be escaped (its underscore as _x005F_) so it is not decoded.
_NEEDS_ESCAPE = re.compile(r"[&<>\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]|_(?=x[0-9A-Fa-f]{4}_)")
_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", "_": "_x005F_"}


def starts_like_formula(text: str) -> bool:
    """Whether a spreadsheet would read this typed text as a formula."""
    return bool(text) and text.startswith(TRIGGERS)


def typed_text(text: str) -> str:
    """Text to type into Excel (xlwings) or a CSV cell: an apostrophe in front of formula-like text."""
    return "'" + text if starts_like_formula(text) else text


def _escape_char(match: re.Match) -> str:
    char = match.group(0)
    return _ENTITIES.get(char) or f"_x{ord(char):04X}_"


def xml_text(text: str) -> str:
    """Text for a cell's string (`<t>`): markup escaped, control characters as _xHHHH_."""
    return _NEEDS_ESCAPE.sub(_escape_char, text)


def xml_content(text: str) -> str:
    """Plain XML escaping for element content (formulas): &, < and >."""
    if "&" in text or "<" in text or ">" in text:
        return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text


def xml_escape(text: str) -> str:
    """Plain XML escaping for formulas and attribute values in double quotes."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
