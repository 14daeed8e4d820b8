"""Excel: `export-xlsx`, `refresh-workbook`, `refresh-open`, `xlsx-templates`, `feed-token`, `feed-serve`."""

from __future__ import annotations

import sys
from pathlib import Path

from pipeline import db
from pipeline.commands import print_json, print_table


def _selection_args(p, *, required: bool) -> None:
    who = p.add_mutually_exclusive_group(required=required)
    who.add_argument("--entity", action="append", help="entity name (repeat for several: a group workbook)")
    who.add_argument("--all", action="store_true", help="every active entity of the organisation")
    p.add_argument("--organisation", help="with --all: which organisation (when there are several)")
    p.add_argument("--structure", help="structure name (default: the organisation's default structure)")
    p.add_argument("--from", dest="from_month", help="first month, YYYY-MM (default: first month with data)")
    p.add_argument("--to", dest="to_month", help="last month, YYYY-MM (default: last month with data)")


def register(sub) -> None:
    p = sub.add_parser(
        "export-xlsx", help="write a statement workbook (P&L, balance sheet, cash flow by month)"
    )
    p.add_argument(
        "out", metavar="OUT.xlsx", help="the workbook to write (.xlsx, or .xlsm for a macro template)"
    )
    _selection_args(p, required=True)
    p.add_argument("--template", help="template name (see `ledgerline xlsx-templates`) or a workbook path")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_export)

    p = sub.add_parser(
        "refresh-workbook", help="replace a linked workbook's data sheet with current numbers, keep the rest"
    )
    p.add_argument("book", metavar="BOOK.xlsx|BOOK.xlsm")
    _selection_args(p, required=False)
    p.add_argument("--out", help="write the refreshed workbook here instead of replacing BOOK")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_refresh)

    p = sub.add_parser(
        "refresh-open", help="refresh the workbook open in desktop Excel (Windows/macOS, xlwings)"
    )
    p.add_argument("--book", help="the open workbook's name, e.g. Board.xlsx (default: the active one)")
    _selection_args(p, required=False)
    p.set_defaults(handler=cmd_refresh_open)

    p = sub.add_parser("xlsx-templates", help="list workbook templates, or add / remove your own")
    p.add_argument("--add", nargs=2, metavar=("NAME", "FILE"), help="add a linked workbook as template NAME")
    p.add_argument("--remove", metavar="NAME", help="remove an added template")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_templates)

    p = sub.add_parser("feed-token", help="tokens for the CSV feed Excel refreshes from (Power Query)")
    tsub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    t = tsub.add_parser("create", help="a new token for a user (shown once)")
    t.add_argument("--user", required=True, help="the user's login (e-mail), or 'local' without a login")
    t.add_argument("--label", help="what the token is for, e.g. 'board pack laptop'")
    t.set_defaults(handler=cmd_token_create)
    t = tsub.add_parser("list", help="tokens (never their secret)")
    t.add_argument("--user")
    t.add_argument("--json", action="store_true")
    t.set_defaults(handler=cmd_token_list)
    t = tsub.add_parser("revoke", help="revoke a token now")
    t.add_argument("id", type=int)
    t.set_defaults(handler=cmd_token_revoke)

    p = sub.add_parser("feed-serve", help="serve the CSV feed for Excel (what `ledgerline serve` starts)")
    p.add_argument("--port", type=int, default=8502)
    p.add_argument("--address", default="localhost")
    p.set_defaults(handler=cmd_feed_serve)


def _selection(args):
    from pipeline.workbooks import Selection

    return Selection(
        entities=list(args.entity or []),
        all=bool(args.all),
        organisation=args.organisation,
        structure=args.structure,
        from_month=args.from_month,
        to_month=args.to_month,
    )


def _report(result, verb: str, as_json: bool) -> int:
    if as_json:
        print_json(
            {
                "path": str(result.path) if result.path else None,
                "rows": result.rows,
                "entities": result.entities,
                "from": result.months[0],
                "to": result.months[1],
                "structure": result.structure,
                "statement_sheets": result.statement_sheets,
                "pivots": result.pivots,
                "tables": result.tables,
                "warnings": result.warnings,
            }
        )
    else:
        sheets = f", statement sheets {', '.join(result.statement_sheets)}" if result.statement_sheets else ""
        pivots = f", {result.pivots} pivot cache(s) refreshed on open" if result.pivots else ""
        print(
            f"{verb} {result.path}: {result.rows} data rows for {', '.join(result.entities)}, "
            f"{result.months[0]} to {result.months[1]}, structure {result.structure}{sheets}{pivots}."
        )
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return 0


def cmd_export(args) -> int:
    from pipeline.workbooks import export_workbook

    result = export_workbook(args.data, args.out, _selection(args), template=args.template)
    return _report(result, "Wrote", args.json)


def cmd_refresh(args) -> int:
    from pipeline.workbooks import refresh_workbook

    book = Path(args.book)
    result = refresh_workbook(args.data, book, args.out or book, overrides=_selection(args))
    return _report(result, "Refreshed", args.json)


def cmd_refresh_open(args) -> int:
    from pipeline.excel_desktop import refresh_open

    rows = refresh_open(args.book, args.data, _selection(args))
    print(f"Refreshed the open workbook: {rows} data rows.")
    return 0


def cmd_templates(args) -> int:
    from pipeline.workbooks import add_template, list_templates, remove_template

    if args.add:
        name, file = args.add
        info = add_template(args.data, name, Path(file).read_bytes(), filename=Path(file).name)
        print(f"Added template {info.name} ({info.kind}).")
        return 0
    if args.remove:
        remove_template(args.data, args.remove)
        print(f"Removed template {args.remove}.")
        return 0
    found = list_templates(args.data)
    if args.json:
        print_json([t.as_json() for t in found])
        return 0
    print_table(
        ["name", "kind", "statements", "from", "description"],
        [
            [t.name, t.kind, " ".join(t.statements), "shipped" if t.shipped else "added", t.description]
            for t in found
        ],
    )
    return 0


def cmd_token_create(args) -> int:
    from pipeline.feed import create_token

    with db.transaction(args.data) as con:
        token_id, token = create_token(con, args.user, label=args.label)
    print(f"Feed token #{token_id} for {args.user} (shown once, keep it like a password):")
    print(token)
    return 0


def cmd_token_list(args) -> int:
    from pipeline.feed import list_tokens

    with db.connect(args.data) as con:
        rows = list_tokens(con, args.user)
    if args.json:
        print_json(rows)
        return 0
    print_table(
        ["id", "user", "starts", "label", "created", "last used", "state"],
        [
            [
                r["id"],
                r["login"],
                r["hint"] + "...",
                r["label"] or "",
                f"{r['created_at']:%Y-%m-%d}",
                f"{r['last_used_at']:%Y-%m-%d %H:%M}" if r["last_used_at"] else "never",
                "active" if r["active"] else "revoked",
            ]
            for r in rows
        ],
    )
    return 0


def cmd_token_revoke(args) -> int:
    from pipeline.feed import revoke_token

    with db.transaction(args.data) as con:
        revoke_token(con, args.id)
    print(f"Revoked feed token #{args.id}.")
    return 0


def cmd_feed_serve(args) -> int:
    from pipeline.feed import serve_feed

    return serve_feed(args.data, args.port, args.address)
