"""`mapping` (rules, unmapped accounts, suggestions, export/import) and `structure` commands."""

from __future__ import annotations

import sys

from pipeline import audit, db, entities, mapping, suggest
from pipeline.commands import print_json, print_table
from pipeline.errors import ConfigError
from pipeline.structure import (
    create_from_template,
    duplicate_structure,
    list_structures,
    resolve_structure,
    set_default,
    structure_to_dict,
)


def register(sub) -> None:
    p = sub.add_parser("mapping", help="map accounts to structure lines")
    msub = p.add_subparsers(dest="mapping_command", required=True, metavar="ACTION")

    s = msub.add_parser("suggest", help="ranked suggestions with reasons for the entity's unmapped accounts")
    s.add_argument("--entity", required=True)
    s.add_argument("--structure")
    s.add_argument("--limit", type=int, default=3, help="suggestions per account")
    s.add_argument(
        "--accept", action="store_true", help="apply the best suggestion of every unmapped account"
    )
    s.add_argument("--json", action="store_true")
    s.set_defaults(handler=cmd_suggest)

    s = msub.add_parser("preview", help="how report totals change if the best suggestions were accepted")
    s.add_argument("--entity", required=True)
    s.add_argument("--structure")
    s.add_argument("--account", action="append", help="only these accounts (repeat)")
    s.add_argument("--json", action="store_true")
    s.set_defaults(handler=cmd_preview)

    s = msub.add_parser("unmapped", help="unmapped accounts with their amounts, newest first")
    s.add_argument("--entity", required=True)
    s.add_argument("--structure")
    s.add_argument("--json", action="store_true")
    s.set_defaults(handler=cmd_unmapped)

    s = msub.add_parser("rules", help="list the rules of a structure")
    s.add_argument("--structure")
    s.add_argument("--entity", help="pick the entity's default structure")
    s.add_argument("--json", action="store_true")
    s.set_defaults(handler=cmd_rules)

    s = msub.add_parser("add", help="add a rule (regenerates the reports at once)")
    target = s.add_mutually_exclusive_group(required=True)
    target.add_argument("--line", help="line code")
    target.add_argument("--exclude", action="store_true", help="exclude the accounts on purpose")
    accounts = s.add_mutually_exclusive_group(required=True)
    accounts.add_argument("--account")
    accounts.add_argument("--range", help="e.g. 4000-4999")
    s.add_argument("--entity", help="only for this entity (default: every entity)")
    s.add_argument("--structure")
    axis = s.add_mutually_exclusive_group()
    axis.add_argument("--cost-centre")
    axis.add_argument("--project")
    s.add_argument("--priority", type=int, default=0)
    s.add_argument("--note")
    s.set_defaults(handler=cmd_add)

    s = msub.add_parser("delete", help="delete a rule by id")
    s.add_argument("rule_id", type=int)
    s.set_defaults(handler=cmd_delete)

    s = msub.add_parser("conflicts", help="rules that tie and disagree")
    s.add_argument("--structure")
    s.add_argument("--entity")
    s.add_argument("--json", action="store_true")
    s.set_defaults(handler=cmd_conflicts)

    s = msub.add_parser("history", help="recorded changes to structures and mappings")
    s.add_argument("--limit", type=int, default=50)
    s.add_argument("--json", action="store_true")
    s.set_defaults(handler=cmd_history)

    s = msub.add_parser("export", help="write structures and rules to FILE (.yaml, .csv, .structure.csv)")
    s.add_argument("file")
    s.add_argument("--structure", action="append", help="only this structure (repeat)")
    s.set_defaults(handler=cmd_export)

    s = msub.add_parser("import", help="read structures and rules from FILE and make the warehouse match")
    s.add_argument("file")
    s.add_argument("--organisation")
    s.set_defaults(handler=cmd_import)

    p = sub.add_parser("structure", help="reporting structures")
    ssub = p.add_subparsers(dest="structure_command", required=True, metavar="ACTION")
    s = ssub.add_parser("list")
    s.add_argument("--json", action="store_true")
    s.set_defaults(handler=cmd_structure_list)
    s = ssub.add_parser("show", help="print a structure as YAML")
    s.add_argument("name", nargs="?")
    s.add_argument("--entity", help="the entity's default structure")
    s.set_defaults(handler=cmd_structure_show)
    s = ssub.add_parser("create", help="create a structure from a shipped template")
    s.add_argument("--template", required=True, choices=["rgs", "international"])
    s.add_argument("--name")
    s.add_argument("--organisation")
    s.set_defaults(handler=cmd_structure_create)
    s = ssub.add_parser("duplicate", help="copy a structure and its rules")
    s.add_argument("name")
    s.add_argument("new_name")
    s.add_argument("--without-rules", action="store_true")
    s.set_defaults(handler=cmd_structure_duplicate)
    s = ssub.add_parser("default", help="make a structure the organisation's default")
    s.add_argument("name")
    s.set_defaults(handler=cmd_structure_default)


def _structure(con, args):
    ent_name = getattr(args, "entity", None)
    if ent_name:
        return resolve_structure(con, args.structure, entity_id=entities.entity_by_name(con, ent_name)["id"])
    if args.structure:
        return resolve_structure(con, args.structure)
    return resolve_structure(con, None, organisation_id=entities.default_organisation(con))


def cmd_suggest(args) -> int:
    with db.connect(args.data) as con:
        found = suggest.suggest(con, args.entity, args.structure, limit=args.limit)
        accepted: list[int] = []
        if args.accept:
            choices = {a.code: a.best.line for a in found if a.best}
            accepted = suggest.accept(con, args.entity, args.structure, choices) if choices else []
    if args.json:
        print_json(
            {"entity": args.entity, "accounts": [a.as_json() for a in found], "accepted": len(accepted)}
        )
        return 0
    if not found:
        print("No unmapped accounts.")
        return 0
    rows = []
    for a in found:
        if not a.suggestions:
            rows.append([a.code, a.name or "", f"{a.movement:.2f}", "-", "", "no suggestion"])
        for i, s in enumerate(a.suggestions):
            rows.append(
                [
                    a.code if i == 0 else "",
                    (a.name or "") if i == 0 else "",
                    f"{a.movement:.2f}" if i == 0 else "",
                    f"{s.line} {s.line_name}",
                    s.score,
                    "; ".join(s.reasons),
                ]
            )
    print_table(["account", "name", "movement", "suggested line", "score", "reasons"], rows)
    if args.accept:
        print(f"Accepted {len(accepted)} suggestion(s); the reports were regenerated.")
    return 0


def cmd_preview(args) -> int:
    with db.connect(args.data) as con:
        choices = None
        if args.account:
            found = suggest.suggest(con, args.entity, args.structure, accounts=args.account)
            choices = {a.code: a.best.line for a in found if a.best}
        changes = suggest.preview(con, args.entity, args.structure, choices)
    if args.json:
        print_json([c.as_json() for c in changes])
    else:
        print_table(
            ["statement", "line", "name", "before", "after", "change"],
            [[c.statement, c.code, c.name, c.before, c.after, c.change] for c in changes],
        )
    return 0


def cmd_unmapped(args) -> int:
    with db.connect(args.data) as con:
        rows = mapping.unmapped(con, args.entity, args.structure)
    if args.json:
        print_json({"entity": args.entity, "count": len(rows), "accounts": rows})
        return 0
    print_table(
        ["code", "name", "type", "status", "movement", "lines", "last month", "shown on"],
        [
            [
                r["code"],
                r["name"],
                r["account_type"],
                r["status"],
                r["movement"],
                r["lines"],
                r["last_month"],
                r["shown_on"],
            ]
            for r in rows
        ],
    )
    print(f"{len(rows)} unmapped account(s)")
    return 0


def cmd_rules(args) -> int:
    with db.connect(args.data) as con:
        struct = _structure(con, args)
        rules = mapping.list_rules(con, struct)
    if args.json:
        print_json({"structure": struct.name, "rules": [{"id": r.id, **r.as_dict()} for r in rules]})
        return 0
    print_table(["id", "rule"], [[r.id, r.describe()] for r in rules])
    return 0


def cmd_add(args) -> int:
    item = {
        "line": args.line,
        "exclude": args.exclude,
        "priority": args.priority,
        "note": args.note,
        "cost_centre": args.cost_centre,
        "project": args.project,
        "entity": args.entity,
    }
    if args.account:
        item["account"] = args.account
    else:
        item["range"] = args.range
    with db.connect(args.data) as con:
        struct = _structure(con, args)
        rule = mapping.rule_from_dict(item)
        rule_id = mapping.add_rule(con, struct, rule)
    print(f"rule {rule_id} added to {struct.name}: {rule.describe()}")
    return 0


def cmd_delete(args) -> int:
    with db.connect(args.data) as con:
        mapping.delete_rule(con, args.rule_id)
    print(f"rule {args.rule_id} deleted")
    return 0


def cmd_conflicts(args) -> int:
    with db.connect(args.data) as con:
        struct = _structure(con, args)
        rows = mapping.conflicts(con, struct, entity=args.entity)
    if args.json:
        print_json(rows)
    else:
        print_table(
            ["entity", "account", "cost centre", "project", "rules", "lines", "amount"],
            [
                [
                    r["entity"],
                    r["account_code"],
                    r["cost_centre"],
                    r["project"],
                    r["rule_ids"],
                    r["lines"],
                    r["amount"],
                ]
                for r in rows
            ],
        )
    return 1 if rows else 0


def cmd_history(args) -> int:
    with db.connect(args.data) as con:
        rows = [
            r
            for r in audit.list_changes(con, limit=args.limit * 4)
            if r["object_type"] in ("structure", "mapping_rule")
        ][: args.limit]
    if args.json:
        print_json(rows)
    else:
        print_table(
            ["when", "who", "action", "object", "after"],
            [
                [
                    r["changed_at"],
                    r["actor"],
                    r["action"],
                    f"{r['object_type']} {r['object_id']}",
                    str(r["after"] or r["before"])[:80],
                ]
                for r in rows
            ],
        )
    return 0


def cmd_export(args) -> int:
    with db.connect(args.data) as con:
        counts = mapping.export_config(con, args.file, structures=args.structure)
    print(f"wrote {counts['structures']} structure(s) and {counts['rules']} rule(s) to {args.file}")
    return 0


def cmd_import(args) -> int:
    with db.connect(args.data) as con:
        summary = mapping.import_config(con, args.file, organisation=args.organisation)
    print(f"structures: {summary['structures_created']} created, {summary['structures_updated']} updated")
    for name, counts in summary["rules"].items():
        print(
            f"{name}: {counts['added']} rule(s) added, {counts['deleted']} deleted, {counts['unchanged']} unchanged"
        )
    return 0


def cmd_structure_list(args) -> int:
    with db.connect(args.data) as con:
        rows = list_structures(con)
    if args.json:
        print_json(rows)
    else:
        print_table(
            ["name", "organisation", "template", "default", "lines", "rules"],
            [
                [
                    r["name"],
                    r["organisation"],
                    r["template"] or "",
                    "yes" if r["is_default"] else "",
                    r["lines"],
                    r["rules"],
                ]
                for r in rows
            ],
        )
    return 0


def cmd_structure_show(args) -> int:
    import yaml

    with db.connect(args.data) as con:
        args.structure = args.name
        struct = _structure(con, args)
    sys.stdout.write(
        yaml.safe_dump(structure_to_dict(struct), sort_keys=False, allow_unicode=True, width=110)
    )
    return 0


def cmd_structure_create(args) -> int:
    with db.connect(args.data) as con:
        org = (
            entities.ensure_organisation(con, args.organisation)
            if args.organisation
            else entities.default_organisation(con)
        )
        struct = create_from_template(con, args.template, organisation_id=org, name=args.name)
    print(f"structure {struct.name!r} created from the {args.template} template ({len(struct.lines)} lines)")
    return 0


def cmd_structure_duplicate(args) -> int:
    with db.connect(args.data) as con:
        struct = duplicate_structure(con, args.name, args.new_name, with_rules=not args.without_rules)
    print(f"structure {args.name!r} copied to {struct.name!r}")
    return 0


def cmd_structure_default(args) -> int:
    with db.connect(args.data) as con:
        struct = set_default(con, args.name)
    if not struct.is_default:
        raise ConfigError(f"Could not make {args.name!r} the default.")
    print(f"{struct.name!r} is now the default structure")
    return 0
