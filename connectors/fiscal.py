"""Fiscal years and periods of sources that only say in which month their year ends."""

from __future__ import annotations

from datetime import date


def fiscal_period(day: date, year_end_month: int) -> tuple[int, int]:
    """(fiscal year, period) of a day when the year ends in `year_end_month` (1-12).

    The fiscal year is named after the calendar year it ends in, as Xero, QuickBooks and Sage
    name them in their reports; period 1 is the month after the year end.
    """
    if not 1 <= year_end_month <= 12:
        raise ValueError(f"a year cannot end in month {year_end_month}")
    start_month = year_end_month % 12 + 1
    period = (day.month - start_month) % 12 + 1
    year = day.year if day.month <= year_end_month else day.year + 1
    return year, period


def start_month(year_end_month: int) -> int:
    """The first month of a fiscal year that ends in `year_end_month`."""
    return year_end_month % 12 + 1
