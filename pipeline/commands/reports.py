"""`report`: statements and the trial balance."""

from __future__ import annotations

from pipeline import db
from pipeline.commands import print_csv, print_json, print_table
from pipeline.trial_balance import trial_balance


def register(sub) -> None:
    p = sub.add_parser("report", help="print a report")
    rsub = p.add_subparsers(dest="report", required=True, metavar="REPORT")
    tb = rsub.add_parser("tb", help="trial balance")
    tb.add_argument("--entity", required=True)
    tb.add_argument("--from", dest="from_month", help="first month, YYYY-MM")
    tb.add_argument("--to", dest="to_month", help="last month, YYYY-MM")
    out = tb.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true")
    out.add_argument("--csv", action="store_true")
    tb.set_defaults(handler=cmd_tb)


def cmd_tb(args) -> int:
    with db.connect(args.data, read_only=False) as con:
        tb = trial_balance(con, args.entity, args.from_month, args.to_month)
    header = ["code", "name", "opening", "debit", "credit", "balance"]
    rows = [[a["code"], a["name"], a["opening"], a["debit"], a["credit"], a["balance"]] for a in tb.accounts]
    if args.json:
        print_json(tb.as_json())
    elif args.csv:
        print_csv(header, rows)
    else:
        print_table(header, [*rows, ["", "Total", "", tb.debit_total, tb.credit_total, ""]])
    return 0
