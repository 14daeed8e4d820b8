"""`payroll ...`: Nmbrs and payroll files, the wage-component mapping, overview, export, reconciliation.

The CLI acts as the local owner. Secrets (client secret, subscription key, SOAP token) are read
from files ('-' for stdin), never from the command line.
"""

from __future__ import annotations

import csv
import sys
from decimal import Decimal
from pathlib import Path

from pipeline import db, entities, payroll, sources
from pipeline.access import LOCAL_USER
from pipeline.commands import print_csv, print_json, print_table, read_secret
from pipeline.errors import ConfigError

USER = LOCAL_USER
MAPPING_COLUMNS = ("component_code", "statement", "account_code", "sign", "hidden")


def register(sub) -> None:
    p = sub.add_parser(
        "payroll", help="payroll: Nmbrs and XAS files, wage-component mapping, overview, reconciliation"
    )
    s = p.add_subparsers(dest="payroll_command", required=True, metavar="ACTION")

    c = s.add_parser("add-nmbrs", help="add an Nmbrs source (then sign in: `source connect-url`)")
    c.add_argument("--name", default="Nmbrs")
    c.add_argument("--org")
    c.add_argument("--client-id", required=True)
    c.add_argument("--client-secret-file", required=True)
    c.add_argument("--subscription-key-file", required=True)
    c.add_argument("--redirect-uri", required=True)
    c.add_argument("--base-url", help="a sandbox URL instead of Nmbrs (tests and demos)")
    c.add_argument("--json", action="store_true")
    c.set_defaults(handler=cmd_add_nmbrs)

    c = s.add_parser("connect-soap", help="store the SOAP API user and token of an Nmbrs source, and test it")
    c.add_argument("source", help="id or name")
    c.add_argument("--username", required=True, help="the e-mail address you signed in to Nmbrs with")
    c.add_argument("--token-file", required=True, help="file holding the API token ('-' reads stdin)")
    c.add_argument("--json", action="store_true")
    c.set_defaults(handler=cmd_connect_soap)

    c = s.add_parser("check", help="test both Nmbrs APIs of a source")
    c.add_argument("source", help="id or name")
    c.add_argument("--json", action="store_true")
    c.set_defaults(handler=cmd_check)

    c = s.add_parser("import-xas", help="import a payroll auditfile (XAS 7) into a payroll entity")
    c.add_argument("file")
    c.add_argument("--entity", required=True)
    c.add_argument("--org")
    c.add_argument("--json", action="store_true")
    c.set_defaults(handler=cmd_import_xas)

    c = s.add_parser("entities", help="payroll entities with their ledger and unmapped components")
    c.add_argument("--org", type=int)
    c.add_argument("--json", action="store_true")
    c.set_defaults(handler=cmd_entities)

    c = s.add_parser("link", help="say which ledger (GL entity) a payroll entity is booked in")
    c.add_argument("entity")
    c.add_argument("--gl", required=True, help="the GL entity's name")
    c.set_defaults(handler=cmd_link)

    c = s.add_parser("mapping", help="a payroll entity's wage components and their mapping (CSV)")
    c.add_argument("entity")
    c.add_argument("--json", action="store_true")
    c.set_defaults(handler=cmd_mapping)

    c = s.add_parser("set-mapping", help="replace a payroll entity's mapping with a CSV file")
    c.add_argument("entity")
    c.add_argument("file", help=f"CSV with columns {', '.join(MAPPING_COLUMNS)}")
    c.set_defaults(handler=cmd_set_mapping)

    for name, help_text in (
        ("overview", "company costs per month (mapped components) and the unmapped ones"),
        ("export", "the flat data table (CSV or XLSX) for pivot tables"),
        ("reconcile", "mapped payroll costs per account and month against the GL"),
    ):
        c = s.add_parser(name, help=help_text)
        c.add_argument("--org", type=int)
        c.add_argument("--from", dest="from_month", help="YYYY-MM")
        c.add_argument("--to", dest="to_month", help="YYYY-MM")
        if name == "export":
            c.add_argument("--format", choices=("csv", "xlsx"), default="csv")
            c.add_argument("--output", required=True, help="file to write ('-' writes CSV to stdout)")
        else:
            c.add_argument("--json", action="store_true")
        if name == "reconcile":
            c.add_argument("--tolerance", default="0.00")
            c.add_argument(
                "--fail-on-difference", action="store_true", help="exit 1 when a difference is flagged"
            )
        c.set_defaults(
            handler={"overview": cmd_overview, "export": cmd_export, "reconcile": cmd_reconcile}[name]
        )


def cmd_add_nmbrs(args) -> int:
    settings = {
        "client_id": args.client_id,
        "client_secret": read_secret(args.client_secret_file),
        "subscription_key": read_secret(args.subscription_key_file),
        "redirect_uri": args.redirect_uri,
        "base_url": args.base_url,
    }
    src = sources.add_source(args.data, "nmbrs", name=args.name, settings=settings, organisation=args.org)
    if args.json:
        print_json(src)
    else:
        print(f"Added {src['name']} (id {src['id']}). Next: ledgerline source connect-url {src['id']}")
    return 0


def _print_check(args, result: dict) -> int:
    if args.json:
        print_json(result)
    else:
        print(f"{result['status']}: {result.get('message') or 'connected'}")
        for e in result.get("entities") or []:
            print(f"  {e['external_id']}  {e['name']}")
    return 0 if result["ok"] else 1


def cmd_connect_soap(args) -> int:
    sid = int(sources.find_source(args.data, args.source)["id"])
    token = read_secret(args.token_file)
    return _print_check(args, payroll.connect_soap(args.data, USER, sid, args.username, token or ""))


def cmd_check(args) -> int:
    sid = int(sources.find_source(args.data, args.source)["id"])
    return _print_check(args, payroll.check_connection(args.data, USER, sid))


def cmd_import_xas(args) -> int:
    result = payroll.import_xas(args.data, USER, args.file, args.entity, organisation=args.org)
    if args.json:
        print_json(result.as_json())
    elif result.status == "succeeded":
        print(
            f"Imported {Path(args.file).name} into {result.entity}: {result.inserted} new, {result.updated} changed."
        )
        for p in result.problems:
            print(f"  {p.kind}: {p.message}")
    else:
        print(f"error: {result.error_message}", file=sys.stderr)
    return 0 if result.status == "succeeded" else 1


def cmd_entities(args) -> int:
    rows = payroll.payroll_entities(args.data, USER, args.org)
    if args.json:
        print_json(rows)
        return 0
    print_table(
        ["entity", "company", "period", "ledger", "components", "unmapped", "last month"],
        [
            [
                r["name"],
                r["company"],
                r["period_type"],
                r["gl_entity"],
                r["components"],
                r["unmapped"],
                r["last_month"],
            ]
            for r in rows
        ],
    )
    return 0


def cmd_link(args) -> int:
    with db.connect(args.data) as con:
        gl = entities.entity_by_name(con, args.gl)["id"]
    entity = payroll.payroll_entity_id(args.data, USER, args.entity)
    row = payroll.set_gl_entity(args.data, USER, entity, gl)
    print(f"{row['name']} is booked in {row['gl_entity']}.")
    return 0


def cmd_mapping(args) -> int:
    view = payroll.mapping(args.data, USER, payroll.payroll_entity_id(args.data, USER, args.entity))
    rows = view.editor_rows()
    if args.json:
        print_json({"entity": view.entity, "rows": rows, "incomplete": view.incomplete})
        return 0
    names = {c["component_code"]: c["component_name"] for c in view.components}
    print_csv(
        [*MAPPING_COLUMNS, "component_name"],
        [
            [
                r["component_code"],
                r["statement"],
                r["account_code"],
                r["sign"],
                r["hidden"],
                names.get(r["component_code"]),
            ]
            for r in rows
        ],
    )
    return 0


def cmd_set_mapping(args) -> int:
    entity = payroll.payroll_entity_id(args.data, USER, args.entity)
    with open(args.file, encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        missing = [
            c for c in ("component_code", "statement", "account_code") if c not in (reader.fieldnames or [])
        ]
        if missing:
            raise ConfigError(f"{args.file} lacks the column(s) {', '.join(missing)}.")
        rows = [
            {
                "component_code": r["component_code"],
                "statement": (r.get("statement") or "").strip().lower() or None,
                "account_code": (r.get("account_code") or "").strip() or None,
                "sign": int(r["sign"]) if (r.get("sign") or "").strip() else None,
                "hidden": (r.get("hidden") or "").strip().lower() in ("1", "true", "yes", "y"),
            }
            for r in reader
        ]
    view = payroll.save_mapping(args.data, USER, entity, rows)
    print(f"Saved {len(view.lines)} mapping lines; {len(view.incomplete)} components still unmapped.")
    return 0


def cmd_overview(args) -> int:
    view = payroll.overview(args.data, USER, args.org, args.from_month, args.to_month)
    months = [m.strftime("%Y-%m") for m in view.months]
    if args.json:
        print_json(
            {
                "months": months,
                "companies": [
                    {
                        **c,
                        "costs": {
                            m.strftime("%Y-%m"): v for m, v in view.company_costs(c["entity_id"]).items()
                        },
                        "total": view.total(c["entity_id"]),
                    }
                    for c in view.companies
                ],
                "costs": {m.strftime("%Y-%m"): v for m, v in view.company_costs().items()},
                "total": view.total(),
                "unmapped": view.unmapped,
            }
        )
        return 0
    rows = [
        [c["company"], *view.company_costs(c["entity_id"]).values(), view.total(c["entity_id"])]
        for c in view.companies
    ]
    rows.append(["Total", *view.company_costs().values(), view.total()])
    print_table(["company costs", *months, "total"], rows)
    if view.unmapped:
        print("\nNot mapped yet (no values shown for these):")
        print_table(
            ["company", "component", "name", "amount"],
            [[u["company"], u["component_code"], u["component_name"], u["amount"]] for u in view.unmapped],
        )
    return 0


def cmd_export(args) -> int:
    rows = payroll.export_rows(args.data, USER, args.org, args.from_month, args.to_month)
    if args.format == "csv":
        content = payroll.export_csv(rows)
        if args.output == "-":
            sys.stdout.write(content.decode("utf-8-sig"))
            return 0
    else:
        if args.output == "-":
            raise ConfigError("An XLSX export needs a file: give --output.")
        content = payroll.export_xlsx(rows)
    Path(args.output).write_bytes(content)
    print(f"Wrote {len(rows)} rows to {args.output}.", file=sys.stderr)
    return 0


def cmd_reconcile(args) -> int:
    result = payroll.reconcile(
        args.data, USER, args.org, args.from_month, args.to_month, tolerance=Decimal(args.tolerance)
    )
    if args.json:
        print_json(
            {"tolerance": result.tolerance, "rows": result.rows, "differences": len(result.differences)}
        )
    else:
        print_table(
            ["ledger", "account", "name", "month", "payroll", "GL", "difference", ""],
            [
                [
                    r["gl_entity"],
                    r["account_code"],
                    r["account_name"],
                    r["month"].strftime("%Y-%m"),
                    r["payroll_amount"],
                    r["gl_amount"],
                    r["difference"],
                    "DIFFERENCE" if r["flagged"] else "ok",
                ]
                for r in result.rows
            ],
        )
        print(f"\n{len(result.differences)} difference(s) beyond {result.tolerance}.")
    return 1 if args.fail_on_difference and result.differences else 0
