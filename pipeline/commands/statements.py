"""`report pnl|bs|cf`, `kpi`, `check` and `drill`: statements and what stands behind them."""

from __future__ import annotations

import sys

from pipeline import db, reports
from pipeline.commands import print_csv, print_json, print_table


def _scope_args(p, *, group: bool = True) -> None:
    if group:
        who = p.add_mutually_exclusive_group(required=True)
        who.add_argument("--entity", help="entity name")
        who.add_argument("--all", action="store_true", help="every entity of the organisation, summed")
        p.add_argument("--organisation", help="with --all: which organisation (when there are several)")
    else:
        p.add_argument("--entity", required=True, help="entity name")
    p.add_argument("--structure", help="structure name (default: the organisation's default structure)")
    p.add_argument("--from", dest="from_month", help="first month, YYYY-MM (default: first month with data)")
    p.add_argument("--to", dest="to_month", help="last month, YYYY-MM (default: last month with data)")


def _output_args(p) -> None:
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="one JSON object")
    out.add_argument("--csv", action="store_true", help="CSV on stdout")


def add_statement_reports(rsub) -> None:
    """Add `pnl`, `bs` and `cf` under the existing `report` subcommand."""
    for name, text in (("pnl", "profit and loss"), ("bs", "balance sheet"), ("cf", "cash flow (indirect)")):
        p = rsub.add_parser(name, help=text)
        _scope_args(p)
        p.add_argument("--by", choices=["month", "quarter", "year"], default="month", help="column period")
        p.add_argument("--ytd", action="store_true", help="year-to-date amounts per column")
        p.add_argument("--compare", action="store_true", help="add the same periods of the previous year")
        _output_args(p)
        p.set_defaults(handler=cmd_statement, statement=name)


def register(sub) -> None:
    p = sub.add_parser(
        "kpi", help="KPIs: gross margin, EBITDA, net result, current ratio, working capital, DSO, DPO"
    )
    _scope_args(p)
    p.add_argument("--by", choices=["month", "quarter", "year"], default="year")
    _output_args(p)
    p.set_defaults(handler=cmd_kpi)

    p = sub.add_parser("check", help="validations per entity and period (exit 1 when one fails)")
    _scope_args(p)
    p.add_argument("--by", choices=["month", "quarter", "year"], default="month")
    p.add_argument("--failed", action="store_true", help="list only what failed")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_check)

    p = sub.add_parser("drill", help="a report line's accounts, or an account's ledger lines on it")
    _scope_args(p, group=False)
    p.add_argument("--line", required=True, help="line code, e.g. OMZ")
    p.add_argument("--account", help="show this account's ledger lines")
    _output_args(p)
    p.set_defaults(handler=cmd_drill)


def _scope_kwargs(args) -> dict:
    if getattr(args, "all", False):
        return {"organisation": args.organisation}
    return {"entity": args.entity}


def _amount(value) -> str:
    return "" if value is None else f"{value:,.2f}"


def cmd_statement(args) -> int:
    with db.connect(args.data) as con:
        st = reports.statement(
            con,
            args.statement,
            structure=args.structure,
            from_month=args.from_month,
            to_month=args.to_month,
            by=args.by,
            ytd=args.ytd,
            compare=args.compare,
            **_scope_kwargs(args),
        )
    labels = [p.label for p in st.periods]
    if args.json:
        print_json(st.as_json())
        return 0
    if args.csv:
        header = ["code", "name", "kind", *labels, "total"]
        rows = [[ln.code, ln.name, ln.kind, *(ln.amounts[k] for k in labels), ln.total] for ln in st.lines]
        if st.compare:
            header += [f"previous {k}" for k in labels] + ["previous total"]
            rows = [
                [*row, *((ln.previous or {}).get(k) for k in labels), ln.previous_total]
                for row, ln in zip(rows, st.lines, strict=True)
            ]
        print_csv(header, rows)
        return 0
    total_label = "total" if st.statement != "bs" else f"at {labels[-1]}" if labels else "total"
    print(
        f"{st.title} - {st.entity} - structure {st.structure}" + (f" ({st.currency})" if st.currency else "")
    )
    rows = [
        ["  " * ln.level + ln.name, ln.code, *(_amount(ln.amounts[k]) for k in labels), _amount(ln.total)]
        for ln in st.lines
    ]
    print_table(["line", "code", *labels, total_label], rows)
    if st.result is not None:
        print(f"Result: {st.result:,.2f}")
    _print_validations(st.validations)
    return 0


def _print_validations(validations) -> None:
    failed = [v for v in validations if not v.ok]
    if not failed:
        print("Validations: all passed")
        return
    print(f"VALIDATION FAILED ({len(failed)} of {len(validations)} checks):")
    for v in failed:
        print(f"  ! {v.name}: {v.message}")


def cmd_kpi(args) -> int:
    with db.connect(args.data) as con:
        report = reports.kpis(
            con,
            structure=args.structure,
            from_month=args.from_month,
            to_month=args.to_month,
            by=args.by,
            **_scope_kwargs(args),
        )
    labels = [p.label for p in report.periods] + ["total"]
    if args.json:
        print_json(report.as_json())
        return 0
    rows = [[name, *(report.values[name].get(k) for k in labels)] for name in report.values]
    if args.csv:
        print_csv(["kpi", *labels], rows)
        return 0
    print(f"KPIs - {report.entity} - structure {report.structure}")
    print_table(["kpi", *labels], [[r[0], *(_amount(v) for v in r[1:])] for r in rows])
    _print_validations(report.validations)
    return 0


def cmd_check(args) -> int:
    with db.connect(args.data) as con:
        checks = reports.validations(
            con,
            structure=args.structure,
            from_month=args.from_month,
            to_month=args.to_month,
            by=args.by,
            **_scope_kwargs(args),
        )
    shown = [c for c in checks if not c.ok] if args.failed else checks
    if args.json:
        print_json([{"entity": c.entity, "period": c.period, **c.as_json()} for c in shown])
    else:
        print_table(
            ["entity", "period", "check", "ok", "message"],
            [[c.entity or "", c.period or "", c.name, "yes" if c.ok else "NO", c.message] for c in shown],
        )
    return 0 if all(c.ok for c in checks) else 1


def cmd_drill(args) -> int:
    with db.connect(args.data) as con:
        d = reports.drilldown(
            con,
            entity=args.entity,
            line=args.line,
            structure=args.structure,
            from_month=args.from_month,
            to_month=args.to_month,
            account=args.account,
        )
    if args.json:
        print_json(d.as_json())
        return 0
    if args.account:
        header = ["date", "journal", "entry", "line", "description", "amount", "source_ref", "run", "file"]
        rows = [
            [
                r["date"],
                r["journal"],
                r["entry"],
                r["line"],
                r["description"],
                r["amount"],
                r["source_ref"],
                r["run_id"],
                r["file_name"],
            ]
            for r in d.ledger_lines
        ]
    else:
        header = ["account", "name", "movement", "balance", "amount"]
        rows = [[a["code"], a["name"], a["movement"], a["balance"], a["amount"]] for a in d.accounts]
    if args.csv:
        print_csv(header, rows)
        return 0
    print(f"{d.line_name} ({d.line}) - {d.entity} - total {d.total:,.2f}", file=sys.stdout)
    print_table(header, rows)
    return 0
