"""`report`: statements and the trial balance."""

from __future__ import annotations

import sys
from decimal import Decimal

from pipeline import db
from pipeline.commands import print_csv, print_json, print_table
from pipeline.commands.statements import add_statement_reports
from pipeline.trial_balance import TrialBalance, trial_balance


def register(sub) -> None:
    p = sub.add_parser("report", help="print a report")
    rsub = p.add_subparsers(dest="report", required=True, metavar="REPORT")
    tb = rsub.add_parser("tb", help="trial balance")
    who = tb.add_mutually_exclusive_group(required=True)
    who.add_argument("--entity")
    who.add_argument(
        "--all", action="store_true", help="every entity of the organisation, summed per account"
    )
    tb.add_argument("--organisation", help="with --all: which organisation (when there are several)")
    tb.add_argument("--from", dest="from_month", help="first month, YYYY-MM")
    tb.add_argument("--to", dest="to_month", help="last month, YYYY-MM")
    out = tb.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true")
    out.add_argument("--csv", action="store_true")
    tb.set_defaults(handler=cmd_tb)
    add_statement_reports(rsub)


def _group_tb(con, args) -> TrialBalance:
    """The trial balances of the organisation's entities summed per account code."""
    from pipeline.reports import scope

    sc = scope(con, organisation=args.organisation)
    for check in sc.checks:
        if not check.ok:
            print(f"warning: {check.message}", file=sys.stderr)
    lo, hi = con.execute(
        "SELECT strftime(min(month), '%Y-%m'), strftime(max(month), '%Y-%m') FROM rpt_trial_balance "
        "WHERE entity_id = ANY(?)",
        [sc.ids],
    ).fetchone()
    start, end = args.from_month or lo, args.to_month or hi
    merged: dict[str, dict] = {}
    result = TrialBalance(sc.label, None, None, [])
    for ent in sc.entities:
        part = trial_balance(con, ent["name"], start, end)
        result.from_month, result.to_month = (
            part.from_month or result.from_month,
            part.to_month or result.to_month,
        )
        for a in part.accounts:
            row = merged.setdefault(
                a["code"],
                {
                    "code": a["code"],
                    "name": a["name"],
                    "account_type": a["account_type"],
                    **dict.fromkeys(("opening", "debit", "credit", "balance"), Decimal("0.00")),
                },
            )
            for key in ("opening", "debit", "credit", "balance"):
                row[key] += a[key]
    result.accounts = [merged[k] for k in sorted(merged)]
    return result


def cmd_tb(args) -> int:
    with db.connect(args.data, read_only=False) as con:
        tb = (
            _group_tb(con, args)
            if args.all
            else trial_balance(con, args.entity, args.from_month, args.to_month)
        )
    header = ["code", "name", "opening", "debit", "credit", "balance"]
    rows = [[a["code"], a["name"], a["opening"], a["debit"], a["credit"], a["balance"]] for a in tb.accounts]
    if args.json:
        print_json(tb.as_json())
    elif args.csv:
        print_csv(header, rows)
    else:
        print_table(header, [*rows, ["", "Total", "", tb.debit_total, tb.credit_total, ""]])
    return 0
