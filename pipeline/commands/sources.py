"""`source ...`: connect ERP and payroll APIs, choose entities, disconnect.

Secrets are read from files (or '-' for stdin), never from the command line, so they do not land
in shell history or process listings.
"""

from __future__ import annotations

import sys

from pipeline import sources
from pipeline.commands import print_json, print_table, read_secret


def register(sub) -> None:
    p = sub.add_parser(
        "source",
        help="connect ERP and payroll APIs (AFAS, Exact, Xero, QuickBooks, Sage, Twinfield, Nmbrs) and choose entities",
    )
    s = p.add_subparsers(dest="source_command", required=True, metavar="ACTION")

    c = s.add_parser("connectors", help="the API connectors, their setup fields and capabilities")
    c.add_argument("--json", action="store_true")
    c.set_defaults(handler=cmd_connectors)

    c = s.add_parser("add", help="add a source (its status stays 'attention' until entities are chosen)")
    c.add_argument("connector", help="afas or exact")
    c.add_argument("--name", required=True)
    c.add_argument("--org", help="organisation (default: the only or the default one)")
    c.add_argument("--environment", help="AFAS: environment number (Omgevingsnaam), e.g. 12345")
    c.add_argument("--env-type", choices=["production", "test", "accept"], help="AFAS: environment type")
    c.add_argument("--token-name", help="AFAS: the token's name")
    c.add_argument("--token-file", help="AFAS: file holding the token value ('-' reads stdin)")
    c.add_argument("--region", help="Exact: country of the Exact Online site (nl, be, de, uk, us, fr, es)")
    c.add_argument("--client-id", help="Exact: the app's client id")
    c.add_argument("--client-secret-file", help="Exact: file holding the app's client secret")
    c.add_argument("--redirect-uri", help="Exact: this app's OAuth callback URL")
    c.add_argument("--base-url", help="a sandbox URL instead of the vendor (tests and demos)")
    c.add_argument("--administrations", help="AFAS: only these AdministrationIds, separated by ';'")
    c.add_argument(
        "--connector",
        dest="getconnectors",
        action="append",
        default=[],
        metavar="ROLE=NAME",
        help="AFAS: another GetConnector name for a role, e.g. accounts=Ledgerline_Accounts",
    )
    c.add_argument("--json", action="store_true")
    c.set_defaults(handler=cmd_add)

    c = s.add_parser("list", help="sources with status, entities and latest import")
    c.add_argument("--json", action="store_true")
    c.set_defaults(handler=cmd_list)

    c = s.add_parser("test", help="test the connection and update the status")
    c.add_argument("source", help="id or name")
    c.add_argument("--json", action="store_true")
    c.set_defaults(handler=cmd_test)

    c = s.add_parser("entities", help="the entities the credentials can see")
    c.add_argument("source", help="id or name")
    c.add_argument("--json", action="store_true")
    c.set_defaults(handler=cmd_entities)

    c = s.add_parser("select", help="import these entities (by their id in the source)")
    c.add_argument("source", help="id or name")
    c.add_argument("external_ids", nargs="+")
    c.add_argument("--json", action="store_true")
    c.set_defaults(handler=cmd_select)

    c = s.add_parser("connect-url", help="the sign-in URL of an OAuth source (Exact Online)")
    c.add_argument("source", help="id or name")
    c.add_argument("--redirect-uri")
    c.set_defaults(handler=cmd_connect_url)

    c = s.add_parser("callback", help="finish signing in with the URL the browser was sent back to")
    c.add_argument("url")
    c.add_argument("--json", action="store_true")
    c.set_defaults(handler=cmd_callback)

    c = s.add_parser("reconnect", help="store new credentials (e.g. a new AFAS token) and test them")
    c.add_argument("source", help="id or name")
    c.add_argument("--token-file")
    c.add_argument("--client-secret-file")
    c.add_argument("--json", action="store_true")
    c.set_defaults(handler=cmd_reconnect)

    c = s.add_parser("runs", help="import history with API calls and token time left")
    c.add_argument("source", help="id or name")
    c.add_argument("--limit", type=int, default=20)
    c.add_argument("--json", action="store_true")
    c.set_defaults(handler=cmd_runs)

    c = s.add_parser("disconnect", help="stop importing; the data stays, read-only")
    c.add_argument("source", help="id or name")
    c.set_defaults(handler=cmd_disconnect)

    c = s.add_parser("delete-data", help="delete what a disconnected source imported")
    c.add_argument("source", help="id or name")
    c.add_argument("--confirm", required=True, help="the source's name, to confirm")
    c.set_defaults(handler=cmd_delete_data)


def _out(args, obj, header, rows) -> int:
    if getattr(args, "json", False):
        print_json(obj)
    else:
        print_table(header, rows)
    return 0


def cmd_connectors(args) -> int:
    items = sources.connector_catalog()
    return _out(
        args,
        items,
        ["name", "label", "sign-in", "incremental", "deletions", "fields"],
        [
            [
                i["name"],
                i["label"],
                "OAuth" if i["oauth"] else "token",
                "yes" if i["capabilities"]["incremental"] else "no",
                "yes" if i["capabilities"]["deletions"] else "no",
                ", ".join(f["key"] for f in i["fields"]),
            ]
            for i in items
        ],
    )


def cmd_add(args) -> int:
    connectors = {}
    for item in args.getconnectors:
        role, sep, name = item.partition("=")
        if not sep or not role or not name:
            print(f"error: --connector takes ROLE=NAME, got {item!r}", file=sys.stderr)
            return 2
        connectors[role.strip()] = name.strip()
    settings = {
        "environment": args.environment,
        "env_type": args.env_type,
        "token_name": args.token_name,
        "token": read_secret(args.token_file),
        "region": args.region,
        "client_id": args.client_id,
        "client_secret": read_secret(args.client_secret_file),
        "redirect_uri": args.redirect_uri,
        "base_url": args.base_url,
        "administrations": args.administrations,
        "connectors": connectors or None,
    }
    source = sources.add_source(
        args.data, args.connector, name=args.name, settings=settings, organisation=args.org
    )
    return _show(args, source)


def _show(args, source) -> int:
    if getattr(args, "json", False):
        print_json(source)
    else:
        print(f"source {source['id']} {source['name']!r} ({source['label']}): {source['status']}")
        if source.get("status_message"):
            print(f"  {source['status_message']}")
    return 0


def cmd_list(args) -> int:
    items = sources.list_sources(args.data)
    return _out(
        args,
        items,
        ["id", "name", "connector", "status", "entities", "last import", "api calls", "message"],
        [
            [
                i["id"],
                i["name"],
                i["connector"],
                i["status"],
                i["entities_selected"],
                (i.get("last_run") or {}).get("status"),
                (i.get("last_run") or {}).get("api_calls"),
                i.get("status_message"),
            ]
            for i in items
        ],
    )


def cmd_test(args) -> int:
    source = sources.find_source(args.data, args.source)
    result = sources.check_connection(args.data, source["id"])
    if args.json:
        print_json(result)
    else:
        print(f"{'ok' if result['ok'] else 'failed'}: status {result['status']}")
        if result["message"]:
            print(f"  {result['message']}")
        for e in result["entities"]:
            print(f"  {e['external_id']}  {e['name']}  {e['currency'] or ''}")
    return 0 if result["ok"] else 1


def cmd_entities(args) -> int:
    source = sources.find_source(args.data, args.source)
    items = sources.available_entities(args.data, source["id"])
    return _out(
        args,
        items,
        ["id in source", "name", "currency", "selected"],
        [[i["external_id"], i["name"], i["currency"], "yes" if i["selected"] else ""] for i in items],
    )


def cmd_select(args) -> int:
    source = sources.find_source(args.data, args.source)
    items = sources.select_entities(args.data, source["id"], args.external_ids)
    return _out(
        args,
        items,
        ["entity id", "name", "id in source", "importing"],
        [[i["id"], i["name"], i["external_id"], "yes" if i["active"] else "no"] for i in items],
    )


def cmd_connect_url(args) -> int:
    source = sources.find_source(args.data, args.source)
    print(sources.connect_url(args.data, source["id"], redirect_uri=args.redirect_uri))
    return 0


def cmd_callback(args) -> int:
    return _show(args, sources.complete_oauth_url(args.data, args.url))


def cmd_reconnect(args) -> int:
    source = sources.find_source(args.data, args.source)
    settings = {"token": read_secret(args.token_file), "client_secret": read_secret(args.client_secret_file)}
    settings = {k: v for k, v in settings.items() if v}
    return _show(args, sources.update_credentials(args.data, source["id"], settings))


def cmd_runs(args) -> int:
    source = sources.find_source(args.data, args.source)
    items = sources.source_runs(args.data, source["id"], limit=args.limit)
    return _out(
        args,
        items,
        ["run", "entity", "status", "api calls", "token days left", "error"],
        [
            [
                i["id"],
                i["entity"],
                i["status"],
                i["api_calls"],
                i["refresh_token_days_left"],
                i["error_message"],
            ]
            for i in items
        ],
    )


def cmd_disconnect(args) -> int:
    source = sources.find_source(args.data, args.source)
    return _show(args, sources.disconnect(args.data, source["id"]))


def cmd_delete_data(args) -> int:
    source = sources.find_source(args.data, args.source)
    counts = sources.delete_source_data(args.data, source["id"], confirm=args.confirm)
    print(", ".join(f"{table}: {n} deleted" for table, n in counts.items()) or "nothing to delete")
    return 0
