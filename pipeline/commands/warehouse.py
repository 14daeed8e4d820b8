"""`init`, `demo`, `import`, `runs` and `serve`: the warehouse and its import runs."""

from __future__ import annotations

import sys

from pipeline import db, imports
from pipeline.commands import print_json, print_table


def register(sub) -> None:
    p = sub.add_parser("init", help="create the warehouse (or migrate it) in the data folder")
    p.set_defaults(handler=cmd_init)

    p = sub.add_parser("demo", help="load the demo organisation (three entities, three years)")
    p.add_argument("--if-empty", action="store_true", help="only when the warehouse has no entity yet")
    p.add_argument("--as-of", help="the demo's 'today' (YYYY-MM-DD); default today")
    p.set_defaults(handler=cmd_demo)

    p = sub.add_parser("import", help="import a ledger file for an entity as one run")
    p.add_argument("file")
    p.add_argument("--entity", required=True, help="entity name (created when new)")
    p.add_argument("--format", default="auto", choices=["auto", *imports.FILE_FORMATS])
    p.add_argument("--preset", help="CSV/Excel layout preset (default: detected)")
    p.add_argument(
        "--column",
        action="append",
        default=[],
        metavar="FIELD=COLUMN",
        help="for the generic preset: which file column holds a field, e.g. --column amount=Bedrag",
    )
    p.add_argument("--org", help="organisation of a new entity (default: the only or the default one)")
    p.add_argument("--max-mb", type=int, help="refuse files larger than this many megabytes")
    p.add_argument("--json", action="store_true", help="print the run as one JSON object")
    p.set_defaults(handler=cmd_import)

    p = sub.add_parser("runs", help="import history, newest first")
    p.add_argument("--entity")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_runs)

    p = sub.add_parser("serve", help="start the scheduler sidecar and the web app")
    p.add_argument("--port", type=int, default=8501)
    p.add_argument("--no-scheduler", action="store_true")
    p.set_defaults(handler=cmd_serve)


def cmd_init(args) -> int:
    with db.connect(args.data) as con:
        n = con.execute("SELECT count(*) FROM schema_migrations").fetchone()[0]
    print(f"warehouse ready: {db.warehouse_path(args.data)} ({n} migrations applied)")
    return 0


def cmd_demo(args) -> int:
    from pipeline.demo import load_demo

    results = load_demo(args.data, as_of=args.as_of, if_empty=args.if_empty)
    if not results:
        print("demo: the warehouse already has entities; nothing loaded")
        return 0
    failed = [r for r in results if r.status != "succeeded"]
    for r in results:
        print(f"{r.entity}: {r.status}, {r.lines} lines, +{r.inserted} ~{r.updated} -{r.deleted}")
        if r.error_message:
            print(f"  {r.error_message}", file=sys.stderr)
    return 1 if failed else 0


def cmd_import(args) -> int:
    options = {}
    if args.column:
        columns = {}
        for item in args.column:
            field, sep, column = item.partition("=")
            if not sep or not field or not column:
                print(f"error: --column takes FIELD=COLUMN, got {item!r}", file=sys.stderr)
                return 2
            columns[field.strip()] = column.strip()
        options["columns"] = columns
        options.setdefault("preset", "generic")
    result = imports.import_file(
        args.data,
        args.file,
        args.entity,
        fmt=args.format,
        preset=args.preset,
        options=options,
        organisation=args.org,
        max_bytes=args.max_mb * 1024 * 1024 if args.max_mb is not None else None,
    )
    if args.json:
        print_json(result.as_json())
    elif result.status == "succeeded":
        print(
            f"run {result.run_id} succeeded: {result.entity} ({result.format}), {result.lines} lines, "
            f"debit {result.debit_total:.2f} / credit {result.credit_total:.2f}; "
            f"inserted {result.inserted}, updated {result.updated}, deleted {result.deleted}"
        )
        for p in result.problems:
            print(f"  {p.severity}: {p.message}" + (f" [{p.where}]" if p.where else ""))
    if result.status != "succeeded":
        print(f"error: run {result.run_id} failed: {result.error_message}", file=sys.stderr)
        return 1
    return 0


def cmd_runs(args) -> int:
    from pipeline import entities

    with db.connect(args.data) as con:
        imports.recover_interrupted(con, args.data)
        entity_id = entities.entity_by_name(con, args.entity)["id"] if args.entity else None
        runs = imports.list_runs(con, entity_id=entity_id, limit=args.limit)
    if args.json:
        print_json(runs)
        return 0
    print_table(
        ["run", "entity", "trigger", "status", "started", "secs", "ins", "upd", "del", "message"],
        [
            [
                r["id"],
                r["entity"],
                r["trigger"],
                r["status"],
                r["started_at"].strftime("%Y-%m-%d %H:%M") if r["started_at"] else "",
                f"{r['seconds']:.1f}" if r["seconds"] is not None else "",
                r["inserted"],
                r["updated"],
                r["deleted"],
                (r["error_message"] or "")[:80],
            ]
            for r in runs
        ],
    )
    return 0


def cmd_serve(args) -> int:
    from pipeline.serve import serve

    return serve(args.data, port=args.port, scheduler=not args.no_scheduler)
