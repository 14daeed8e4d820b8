"""Checks on staged rows before anything is merged.

Broken rows (a missing key, date, account or amount; a key used twice) stop the run: merging
them would corrupt the ledger. Data that is odd but meaningful (an entry that does not balance,
a line outside the file's period) becomes a Problem the user sees, and the lines are kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from connectors.base import REQUIRED, STREAM_KEYS, Problem, where_in_source
from pipeline import db
from pipeline.errors import ParseError
from pipeline.merge import DERIVED_KEY
from pipeline.staging import Staged

MAX_LISTED = 200  # problems listed one by one; beyond this a single summary problem counts the rest


@dataclass
class Totals:
    lines: int = 0
    entries: int = 0
    unbalanced_entries: int | None = None  # None: the staged lines held no transactions
    debit_total: Decimal = Decimal("0.00")
    credit_total: Decimal = Decimal("0.00")
    accounts: int = 0
    opening_lines: int = 0
    problems: list[Problem] = field(default_factory=list)


def validate(staged: Staged, *, file_name: str | None = None) -> Totals:
    """Validate staged streams; raise ParseError for broken rows, return totals and problems."""
    totals = Totals()
    con = db.cursor()
    try:
        for name, stream in staged.streams.items():
            con.register(name, con.read_parquet(str(stream.path)))
            if name != "transactions":
                _check_required(con, name, file_name)
                _check_unique(con, name, file_name)
        tx = staged.streams.get("transactions")
        if tx is not None and tx.rows:
            # One scan for the checks that pass on good files; the detailed queries run only to
            # name the first offender when one of them fails.
            # Counting distinct keys is the costliest check on a large file; a connector that
            # has checked them itself (StreamData.keys_unique) skips it.
            # Lines with derived keys (StreamData.derived_keys) have no line_key to check.
            key = DERIVED_KEY if tx.derived_keys else "line_key"
            distinct = "count(*)" if tx.keys_unique else f"count(DISTINCT {key})"
            no_key = "" if tx.derived_keys else "line_key IS NULL OR line_key = '' OR "
            lines, keys, missing, debit, credit, first_day, last_day = con.execute(
                f"""SELECT count(*), {distinct},
                          count_if({no_key}tx_date IS NULL
                                   OR account_code IS NULL OR account_code = '' OR amount IS NULL),
                          coalesce(sum(greatest(amount, 0)), 0), coalesce(sum(greatest(-amount, 0)), 0),
                          min(tx_date), max(tx_date)
                   FROM transactions"""  # noqa: S608 (fixed expressions)
            ).fetchone()
            if missing:
                _check_required(con, "transactions", file_name, derived_keys=tx.derived_keys)
            if keys != lines:
                _check_unique(con, "transactions", file_name, key=key)
            totals.lines = lines
            totals.debit_total, totals.credit_total = debit, credit
            # Changed lines sent on their own (replace 'none') are parts of entries whose other
            # lines are stored: their balance is the ledger's after the merge, which the run
            # reports (pipeline.imports), not the balance of the parts.
            whole = tx.replace != "none"
            totals.entries, totals.unbalanced_entries, unbalanced = _entries(con, listed=whole)
            totals.problems += unbalanced
            if whole and debit != credit:
                totals.problems.append(
                    Problem(
                        "unbalanced_total",
                        f"Debits ({debit}) and credits ({credit}) differ by {debit - credit}.",
                        file_name or "",
                    )
                )
            # Lines between the first and last day of one unbroken span of the declared ranges
            # cannot be outside them: the usual file, which need not be read again to know.
            if tx.replace == "ranges" and tx.ranges and not _spanned(tx.ranges, first_day, last_day):
                totals.problems += _outside_ranges(con, tx.ranges)
        acc = staged.streams.get("accounts")
        totals.accounts = acc.rows if acc else 0
        ob = staged.streams.get("opening_balances")
        if ob is not None and ob.rows:
            totals.opening_lines = ob.rows
            for year, net in con.execute(
                "SELECT fiscal_year, sum(amount) FROM opening_balances GROUP BY 1 HAVING sum(amount) <> 0 ORDER BY 1"
            ).fetchall():
                totals.problems.append(
                    Problem(
                        "unbalanced_opening",
                        f"The opening balance of {year} does not balance: debit minus credit is {net}.",
                        f"opening balance {year}",
                    )
                )
    finally:
        con.close()
    return totals


# Stream and column names below come from connectors.base constants, never from input.


def _check_required(con, stream: str, file_name: str | None, *, derived_keys: bool = False) -> None:
    for column in REQUIRED[stream]:
        if derived_keys and column == "line_key":
            continue
        row = con.execute(
            f"SELECT * FROM {stream} WHERE {column} IS NULL OR CAST({column} AS VARCHAR) = '' LIMIT 1"  # noqa: S608
        ).fetchone()
        if row is not None:
            names = [d[0] for d in con.description]
            record = dict(zip(names, row, strict=True))
            where = (
                where_in_source(record.get("source_ref"), record.get("source_line"))
                or record.get("line_key")
                or record.get("code")
                or ""
            )
            raise ParseError(
                f"a {stream[:-1]} has no {column}", file=file_name, where=str(where), field=column
            )


def _check_unique(con, stream: str, file_name: str | None, *, key: str | None = None) -> None:
    # A derived key is named by the columns it is made of, not by its SQL.
    field_name = "journal, entry and line" if key == DERIVED_KEY else None
    key = key or ", ".join(STREAM_KEYS[stream])
    dup = con.execute(
        f"SELECT {key}, count(*) FROM {stream} GROUP BY ALL HAVING count(*) > 1 ORDER BY 1 LIMIT 3"  # noqa: S608
    ).fetchall()
    if dup:
        shown = "; ".join(" / ".join(str(v) for v in row[:-1]) + f" ({row[-1]}x)" for row in dup)
        raise ParseError(
            f"the same {stream[:-1]} key appears more than once: {shown}",
            file=file_name,
            field=field_name or key,
            guidance="Each line must be identifiable; check for duplicated rows in the export.",
        )


def _entries(con, *, listed: bool = True) -> tuple[int, int, list[Problem]]:
    """The number of entries and of unbalanced ones, and (`listed`) a problem for each
    unbalanced entry.

    Lines without an entry number count as an entry each and are not checked for balance.
    """
    # Most files balance: count entries and unbalanced ones in one pass, and group again for
    # the listing only when there is something to list. An entry is its journal and entry
    # number; lines without one are counted apart, an entry each.
    entries, unbalanced = con.execute(
        """SELECT count(*) + (SELECT count(*) FROM transactions WHERE entry IS NULL), count_if(diff <> 0)
           FROM (SELECT sum(amount) AS diff FROM transactions WHERE entry IS NOT NULL GROUP BY journal, entry)"""
    ).fetchone()
    if not unbalanced or not listed:
        return entries, unbalanced, []
    rows = con.execute(
        """SELECT journal, entry, min(tx_date) AS day, sum(amount) AS diff FROM transactions
           WHERE entry IS NOT NULL GROUP BY journal, entry
           HAVING sum(amount) <> 0 ORDER BY journal NULLS FIRST, entry LIMIT ?""",
        [MAX_LISTED],
    ).fetchall()
    return entries, unbalanced, unbalanced_entry_problems(rows, unbalanced)


def unbalanced_entry_problems(rows, count: int, *, after: str = "") -> list[Problem]:
    """A problem per unbalanced entry (journal, entry, day or month, debit minus credit) of the
    first MAX_LISTED rows, and one that counts the rest of `count`. `after` ends the sentence
    ("after this run")."""
    problems = [
        Problem(
            "unbalanced_entry",
            f"Entry {entry} in journal {journal or '-'} ({day}) does not balance{after}: "
            f"debit minus credit is {diff}.",
            f"journal {journal or '-'} / entry {entry}",
        )
        for journal, entry, day, diff in rows[:MAX_LISTED]
    ]
    if count > MAX_LISTED:
        problems.append(Problem("unbalanced_entry", f"{count - MAX_LISTED} more entries do not balance.", ""))
    return problems


def _spanned(ranges, first: date, last: date) -> bool:
    """Whether one unbroken run of the ranges (inclusive, adjacent ones joined) covers first..last."""
    start, end = None, None
    for lo, hi in sorted(ranges):
        if end is not None and lo <= end + timedelta(days=1):
            end = max(end, hi)
        else:
            start, end = lo, hi
        if start <= first and last <= end:
            return True
    return False


def _outside_ranges(con, ranges) -> list[Problem]:
    con.execute("CREATE OR REPLACE TEMP TABLE declared_ranges (start_date DATE, end_date DATE)")
    con.executemany("INSERT INTO declared_ranges VALUES (?, ?)", [list(r) for r in ranges])
    n, first = con.execute(
        """SELECT count(*), coalesce(arg_min(source_ref || source_line, source_line), min(source_ref))
           FROM transactions t
           WHERE NOT EXISTS (SELECT 1 FROM declared_ranges r WHERE t.tx_date BETWEEN r.start_date AND r.end_date)"""
    ).fetchone()
    if not n:
        return []
    return [
        Problem(
            "outside_period",
            f"{n} lines are dated outside the period the file declares; they are imported but a "
            "later file for their own period will not replace them.",
            first or "",
            "warning",
        )
    ]
