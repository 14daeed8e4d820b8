"""Reporting structures: named sets of three statement trees (P&L, balance sheet, cash flow).

A structure belongs to an organisation. Each of its statements is a tree of lines:

- group: a heading whose amount is the sum of its children (formula children excluded);
- mapped: receives accounts through mapping rules (cash-flow mapped lines receive the movements
  of the balance-sheet lines whose `cf` names them);
- formula: arithmetic over other lines of the same statement (e.g. `OMZ + KPR`);
- reserved lines that can never receive accounts: `result` (balance sheet: the current fiscal
  year's P&L result inside equity; cash flow: the period's net result), `retained` (results of
  earlier years that no opening balance has closed into equity yet), `unmapped` and `excluded`
  (every account without a line, or excluded on purpose, lands here so totals reconcile with the
  trial balance), and on the cash flow `cash_open` / `cash` (cash at the start and end of the
  period: the balance-sheet lines whose `cf` names the `cash` line are the designated cash).

Amounts are stored debit positive ("net"); a line shows `sign * net`, so the P&L (sign -1) shows
revenue and profit positive, assets (sign 1) show positive and liabilities (sign -1) too.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from importlib import resources
from typing import Any

import duckdb
import yaml

from pipeline import audit, entities
from pipeline.db import atomic, rows_as_dicts
from pipeline.errors import ConfigError, NotFoundError, RefusedError

STATEMENTS = ("pnl", "bs", "cf")
STATEMENT_NAMES = {"pnl": "Profit & Loss", "bs": "Balance Sheet", "cf": "Cash Flow"}
KINDS = ("group", "mapped", "formula", "result", "retained", "unmapped", "excluded", "cash_open", "cash")
ALLOWED_KINDS = {
    "pnl": {"group", "mapped", "formula", "unmapped", "excluded"},
    "bs": {"group", "mapped", "formula", "result", "retained", "unmapped", "excluded"},
    "cf": {"group", "mapped", "formula", "result", "unmapped", "excluded", "cash_open", "cash"},
}
# Reserved lines each statement must have exactly once.
REQUIRED_ONCE = {
    "pnl": ("unmapped", "excluded"),
    "bs": ("result", "retained", "unmapped", "excluded"),
    "cf": ("result", "unmapped", "excluded", "cash_open", "cash"),
}
# Kinds whose amount adds up into their group.
ADDITIVE = {"group", "mapped", "result", "retained", "unmapped", "excluded"}
# Kinds that hold amounts of their own in report-ready rows.
LEAF_KINDS = {"mapped", "unmapped", "excluded"}
DEFAULT_SIGN = {"pnl": -1, "bs": 1, "cf": 1}
TEMPLATES = {"rgs": "rgs.yaml", "international": "international.yaml"}
_CODE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")
_RGS_SHAPE = re.compile(r"^[BW][A-Z][a-z]{2}")


# ---------------------------------------------------------------- formulas


_TOKEN = re.compile(r"\s*(?:(\d+(?:\.\d+)?)|([A-Za-z_][A-Za-z0-9_.]*)|(.))")


@lru_cache(maxsize=4096)
def parse_formula(text: str) -> tuple:
    """Parse `A + B - 2 * (C / D)` into a small tree; line codes are identifiers."""
    tokens: list[tuple[str, str]] = []
    for number, name, other in _TOKEN.findall(text):
        if number:
            tokens.append(("num", number))
        elif name:
            tokens.append(("ref", name))
        elif other.strip():
            if other not in "+-*/()":
                raise ConfigError(f"The formula {text!r} has an unexpected character {other!r}.")
            tokens.append(("op", other))
    pos = 0

    def peek() -> tuple[str, str] | None:
        return tokens[pos] if pos < len(tokens) else None

    def take() -> tuple[str, str]:
        nonlocal pos
        if pos >= len(tokens):
            raise ConfigError(f"The formula {text!r} ends too early.")
        pos += 1
        return tokens[pos - 1]

    def expr() -> tuple:
        node = term()
        while peek() in (("op", "+"), ("op", "-")):
            node = (take()[1], node, term())
        return node

    def term() -> tuple:
        node = unary()
        while peek() in (("op", "*"), ("op", "/")):
            node = (take()[1], node, unary())
        return node

    def unary() -> tuple:
        if peek() == ("op", "-"):
            take()
            return ("neg", unary())
        if peek() == ("op", "+"):
            take()
            return unary()
        kind, value = take()
        if kind == "num":
            return ("num", Decimal(value))
        if kind == "ref":
            return ("ref", value)
        if value == "(":
            node = expr()
            if take() != ("op", ")"):
                raise ConfigError(f"The formula {text!r} misses a closing parenthesis.")
            return node
        raise ConfigError(f"The formula {text!r} has {value!r} where a line code or number should be.")

    if not tokens:
        raise ConfigError("A formula line needs a formula, e.g. REVENUE + COST_OF_SALES.")
    tree = expr()
    if pos != len(tokens):
        raise ConfigError(f"The formula {text!r} has something extra after {tokens[pos - 1][1]!r}.")
    return tree


def formula_refs(tree: tuple) -> set[str]:
    """The line codes a parsed formula reads."""
    if tree[0] == "ref":
        return {tree[1]}
    if tree[0] == "num":
        return set()
    return set().union(*(formula_refs(t) for t in tree[1:]))


def evaluate_formula(tree: tuple, values: dict[str, Decimal | None]) -> Decimal | None:
    """The formula's value; None when an operand is missing or a division by zero happens."""
    kind = tree[0]
    if kind == "num":
        return tree[1]
    if kind == "ref":
        return values.get(tree[1])
    if kind == "neg":
        inner = evaluate_formula(tree[1], values)
        return None if inner is None else -inner
    left, right = evaluate_formula(tree[1], values), evaluate_formula(tree[2], values)
    if left is None or right is None:
        return None
    if kind == "+":
        return left + right
    if kind == "-":
        return left - right
    if kind == "*":
        return left * right
    if right == 0:
        return None
    try:
        return left / right
    except InvalidOperation:
        return None


# ---------------------------------------------------------------- the model


@dataclass
class Line:
    """One line of a statement tree."""

    statement: str
    code: str
    name: str
    kind: str
    parent: str | None = None
    sign: int = 1
    formula: str | None = None
    role: str | None = None
    cf: str | None = None
    standard: tuple[str, ...] = ()
    level: int = 0


@dataclass
class Structure:
    """A named structure with its lines in display order (depth-first, per statement)."""

    name: str
    lines: list[Line]
    id: int | None = None
    organisation_id: int | None = None
    description: str | None = None
    template: str | None = None
    is_default: bool = False
    _by_code: dict[str, Line] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self):
        self._index()

    def __setattr__(self, name, value):
        super().__setattr__(name, value)
        if name == "lines" and "_by_code" in self.__dict__:
            self._index()  # keep lookups right when a caller swaps the lines

    def _index(self) -> None:
        self._by_code = {line.code: line for line in self.lines}
        self._kids: dict[tuple[str, str | None], list[Line]] = {}
        self._memo: dict[tuple, Any] = {}
        for line in self.lines:
            self._kids.setdefault((line.statement, line.parent), []).append(line)
        for line in self.lines:
            depth, parent = 0, line.parent
            while parent and parent in self._by_code and depth < 50:
                depth += 1
                parent = self._by_code[parent].parent
            line.level = depth

    def _cached(self, key: tuple, make):
        if key not in self._memo:
            self._memo[key] = make()
        return self._memo[key]

    def line(self, code: str) -> Line:
        try:
            return self._by_code[code]
        except KeyError:
            raise NotFoundError(f"The structure {self.name!r} has no line {code!r}.") from None

    def has_line(self, code: str) -> bool:
        return code in self._by_code

    def statement_lines(self, statement: str) -> list[Line]:
        return self._cached(("st", statement), lambda: [ln for ln in self.lines if ln.statement == statement])

    def children(self, code: str | None, statement: str | None = None) -> list[Line]:
        if statement is not None:
            return self._kids.get((statement, code), [])
        return [line for line in self.lines if line.parent == code]

    def reserved(self, statement: str, kind: str) -> Line:
        """The statement's one line of a reserved kind (unmapped, excluded, result ...)."""

        def find() -> Line:
            for line in self.lines:
                if line.statement == statement and line.kind == kind:
                    return line
            raise ConfigError(f"The {STATEMENT_NAMES[statement]} of {self.name!r} has no {kind} line.")

        return self._cached(("reserved", statement, kind), find)

    def leaves(self, statement: str) -> list[Line]:
        """Lines that carry amounts of their own in report-ready rows."""
        return self._cached(
            ("leaves", statement),
            lambda: [ln for ln in self.lines if ln.statement == statement and ln.kind in LEAF_KINDS],
        )

    def mappable(self, statement: str | None = None) -> list[Line]:
        """Lines that may receive accounts: mapped lines of the P&L and balance sheet."""
        return [
            line
            for line in self.lines
            if line.kind == "mapped"
            and line.statement in ("pnl", "bs")
            and statement in (None, line.statement)
        ]

    def cf_target(self, code: str) -> str:
        """The cash-flow line a balance-sheet line's movements go to (inherited from its parents)."""

        def find() -> str:
            line = self.line(code)
            probe: Line | None = line
            while probe is not None:
                if probe.cf:
                    return probe.cf
                probe = self._by_code.get(probe.parent) if probe.parent else None
            if line.kind == "excluded":
                return self.reserved("cf", "excluded").code
            return self.reserved("cf", "unmapped").code

        return self._cached(("cf", code), find)

    def cash_lines(self) -> list[str]:
        """The balance-sheet leaf lines designated as cash (their `cf` is the cash line)."""
        cash = self.reserved("cf", "cash").code
        return self._cached(
            ("cash",), lambda: [line.code for line in self.leaves("bs") if self.cf_target(line.code) == cash]
        )

    def with_role(self, role: str, statement: str | None = None) -> list[Line]:
        return [line for line in self.lines if line.role == role and statement in (None, line.statement)]


# ---------------------------------------------------------------- dict / YAML / CSV forms


def structure_from_dict(data: dict[str, Any]) -> Structure:
    """Build a structure from its YAML form: {name, description, statements: {pnl: [...], ...}}."""
    if not isinstance(data, dict) or not data.get("name"):
        raise ConfigError("A structure needs a `name` and `statements` (pnl, bs, cf).")
    statements = data.get("statements") or {}
    unknown = set(statements) - set(STATEMENTS)
    if unknown:
        raise ConfigError(f"Structure {data['name']!r}: unknown statement(s) {', '.join(sorted(unknown))}.")
    lines: list[Line] = []

    def walk(items: list, statement: str, parent: str | None, sign: int) -> None:
        if not isinstance(items, list):
            raise ConfigError(f"Structure {data['name']!r}: the lines of {statement} must be a list.")
        for item in items:
            if not isinstance(item, dict) or "code" not in item:
                raise ConfigError(f"Structure {data['name']!r}: every line needs a `code` ({item!r}).")
            line_sign = int(item.get("sign", sign))
            standard = item.get("standard") or ()
            if isinstance(standard, str):
                standard = standard.split()
            lines.append(
                Line(
                    statement=statement,
                    code=str(item["code"]).strip(),
                    name=str(item.get("name") or item["code"]).strip(),
                    kind=str(item.get("kind") or ("group" if item.get("children") else "mapped")),
                    parent=parent,
                    sign=line_sign,
                    formula=item.get("formula"),
                    role=item.get("role"),
                    cf=item.get("cf"),
                    standard=tuple(str(s) for s in standard),
                )
            )
            walk(item.get("children") or [], statement, lines[-1].code, line_sign)

    for statement in STATEMENTS:
        walk(statements.get(statement) or [], statement, None, DEFAULT_SIGN[statement])
    structure = Structure(
        name=str(data["name"]).strip(),
        lines=lines,
        description=data.get("description"),
        template=data.get("template"),
        is_default=bool(data.get("default", False)),
    )
    check_structure(structure)
    return structure


def structure_to_dict(structure: Structure) -> dict[str, Any]:
    """The YAML form: nested lines, defaults left out so the file reads well in a review."""

    def node(line: Line, parent_sign: int) -> dict[str, Any]:
        out: dict[str, Any] = {"code": line.code, "name": line.name, "kind": line.kind}
        if line.sign != parent_sign:
            out["sign"] = line.sign
        for key in ("formula", "role", "cf"):
            if getattr(line, key):
                out[key] = getattr(line, key)
        if line.standard:
            out["standard"] = list(line.standard)
        kids = structure.children(line.code, line.statement)
        if kids:
            out["children"] = [node(kid, line.sign) for kid in kids]
        return out

    out: dict[str, Any] = {"name": structure.name}
    if structure.description:
        out["description"] = structure.description
    if structure.template:
        out["template"] = structure.template
    if structure.is_default:
        out["default"] = True
    out["statements"] = {
        st: [node(line, DEFAULT_SIGN[st]) for line in structure.children(None, st)] for st in STATEMENTS
    }
    return out


CSV_COLUMNS = (
    "structure",
    "statement",
    "code",
    "name",
    "kind",
    "parent",
    "sign",
    "formula",
    "role",
    "cf",
    "standard",
)


def structures_to_csv(structures: list[Structure]) -> str:
    """Flat CSV, one line per row with its parent code; `standard` patterns space-separated."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for s in structures:
        for line in s.lines:
            writer.writerow(
                [
                    s.name,
                    line.statement,
                    line.code,
                    line.name,
                    line.kind,
                    line.parent or "",
                    line.sign,
                    line.formula or "",
                    line.role or "",
                    line.cf or "",
                    " ".join(line.standard),
                ]
            )
    return buf.getvalue()


def structures_from_csv(text: str, *, file: str = "structure.csv") -> list[Structure]:
    """Parse the CSV form back; rows keep their order, parents must come before children."""
    from pipeline.errors import ParseError

    reader = csv.DictReader(io.StringIO(text))
    missing = {"structure", "statement", "code", "kind"} - set(reader.fieldnames or ())
    if missing:
        raise ParseError(
            f"the structure CSV misses column(s) {', '.join(sorted(missing))}", file=file, where="line 1"
        )
    by_name: dict[str, list[Line]] = {}
    for number, row in enumerate(reader, start=2):
        try:
            sign = int(row.get("sign") or DEFAULT_SIGN.get(row["statement"], 1))
        except ValueError:
            raise ParseError(
                "the sign must be 1 or -1", file=file, where=f"line {number}", field="sign"
            ) from None
        by_name.setdefault(row["structure"], []).append(
            Line(
                statement=row["statement"],
                code=row["code"].strip(),
                name=(row.get("name") or row["code"]).strip(),
                kind=row["kind"].strip(),
                parent=(row.get("parent") or "").strip() or None,
                sign=sign,
                formula=row.get("formula") or None,
                role=row.get("role") or None,
                cf=row.get("cf") or None,
                standard=tuple((row.get("standard") or "").split()),
            )
        )
    out = []
    for name, lines in by_name.items():
        s = Structure(name=name, lines=lines)
        check_structure(s)
        out.append(s)
    return out


def load_template(template: str) -> Structure:
    """One of the shipped templates ('rgs' or 'international')."""
    if template not in TEMPLATES:
        raise ConfigError(f"Unknown template {template!r}; choose one of {', '.join(TEMPLATES)}.")
    text = resources.files("pipeline").joinpath("templates", TEMPLATES[template]).read_text(encoding="utf-8")
    return structure_from_dict(yaml.safe_load(text))


# ---------------------------------------------------------------- checks


def check_structure(structure: Structure) -> None:
    """Raise ConfigError listing everything wrong with a structure (all at once)."""
    problems: list[str] = []
    seen: dict[str, Line] = {}
    for line in structure.lines:
        if not _CODE.match(line.code or ""):
            problems.append(
                f"line code {line.code!r} must start with a letter and hold only letters, digits, _ and ."
            )
        if line.code in seen:
            problems.append(f"line code {line.code!r} is used twice")
        seen[line.code] = line
        if line.statement not in STATEMENTS:
            problems.append(f"line {line.code}: unknown statement {line.statement!r}")
            continue
        if line.kind not in ALLOWED_KINDS[line.statement]:
            problems.append(
                f"line {line.code}: a {STATEMENT_NAMES[line.statement]} line cannot be of kind {line.kind!r} "
                f"(allowed: {', '.join(sorted(ALLOWED_KINDS[line.statement]))})"
            )
        if line.sign not in (1, -1):
            problems.append(f"line {line.code}: sign must be 1 or -1")
        if line.formula and line.kind != "formula":
            problems.append(f"line {line.code}: only formula lines have a formula")
        if line.standard and line.kind != "mapped":
            problems.append(f"line {line.code}: only mapped lines can carry standard-code patterns")
        for pattern in line.standard:
            if ":" not in pattern:
                problems.append(
                    f"line {line.code}: pattern {pattern!r} must be SCHEME:PATTERN, e.g. RGS:WOmz*"
                )
        if line.cf and line.statement != "bs":
            problems.append(f"line {line.code}: only balance-sheet lines name a cash-flow line (cf)")
    for line in structure.lines:
        if line.parent is not None:
            parent = seen.get(line.parent)
            if parent is None:
                problems.append(f"line {line.code}: parent {line.parent!r} does not exist")
            elif parent.statement != line.statement:
                problems.append(f"line {line.code}: parent {line.parent!r} is in another statement")
            elif parent.kind != "group":
                problems.append(
                    f"line {line.code}: parent {line.parent!r} is a {parent.kind} line, not a group"
                )
        if line.cf:
            target = seen.get(line.cf)
            if target is None or target.statement != "cf":
                problems.append(f"line {line.code}: cash-flow line {line.cf!r} does not exist")
            elif target.kind not in ("mapped", "unmapped", "excluded", "cash"):
                problems.append(f"line {line.code}: cash-flow line {line.cf!r} is a {target.kind} line")
    for statement in STATEMENTS:
        kinds = [line.kind for line in structure.lines if line.statement == statement]
        for kind in REQUIRED_ONCE[statement]:
            n = kinds.count(kind)
            if n != 1:
                problems.append(
                    f"the {STATEMENT_NAMES[statement]} needs exactly one {kind} line (it has {n})"
                )
    formulas: dict[str, set[str]] = {}
    for line in structure.lines:
        if line.kind != "formula":
            continue
        try:
            refs = formula_refs(parse_formula(line.formula or ""))
        except ConfigError as exc:
            problems.append(f"line {line.code}: {exc.message}")
            continue
        for ref in sorted(refs):
            target = seen.get(ref)
            if target is None:
                problems.append(f"line {line.code}: formula refers to unknown line {ref!r}")
            elif target.statement != line.statement:
                problems.append(f"line {line.code}: formula refers to {ref!r} of another statement")
        formulas[line.code] = refs
    cycle = _formula_cycle(formulas)
    if cycle:
        problems.append(f"formulas refer to each other in a circle: {' -> '.join(cycle)}")
    if problems:
        raise ConfigError(f"Structure {structure.name!r} is not valid: " + "; ".join(problems) + ".")


def _formula_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if nxt not in graph:
                continue
            if state.get(nxt) == 1:
                return [*path, node, nxt]
            if state.get(nxt) is None:
                found = visit(nxt, [*path, node])
                if found:
                    return found
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node, [])
            if found:
                return found
    return None


# ---------------------------------------------------------------- warehouse


def _load_lines(con: duckdb.DuckDBPyConnection, structure_id: int) -> list[Line]:
    rows = con.execute(
        """SELECT statement, code, name, kind, parent_code, sign, formula, role, cf_line, standard
           FROM structure_lines WHERE structure_id = ? ORDER BY position""",
        [structure_id],
    ).fetchall()
    return [_line_of(row) for row in rows]


def _line_of(row: tuple) -> Line:
    st, code, name, kind, parent, sign, formula, role, cf, standard = row
    return Line(st, code, name, kind, parent, int(sign), formula, role, cf, tuple(standard or ()))


_SELECT_WITH_LINES = """
    SELECT s.id, s.organisation_id, s.name, s.description, s.template, s.is_default,
           l.statement, l.code, l.name, l.kind, l.parent_code, l.sign, l.formula, l.role, l.cf_line, l.standard
    FROM structures s LEFT JOIN structure_lines l ON l.structure_id = s.id
    WHERE {where}
    ORDER BY s.id, l.position"""


def _load(con: duckdb.DuckDBPyConnection, where: str, args: list) -> list[Structure]:
    """Structures matching a fixed WHERE clause, with their lines, in one query."""
    out: dict[int, Structure] = {}
    lines: dict[int, list[Line]] = {}
    for row in con.execute(_SELECT_WITH_LINES.format(where=where), args).fetchall():
        sid = row[0]
        if sid not in out:
            out[sid] = Structure(
                name=row[2],
                lines=[],
                id=sid,
                organisation_id=row[1],
                description=row[3],
                template=row[4],
                is_default=row[5],
            )
            lines[sid] = []
        if row[7] is not None:
            lines[sid].append(_line_of(row[6:]))
    for sid, structure in out.items():
        structure.lines = lines[sid]
    return list(out.values())


def _from_row(con, row: dict) -> Structure:
    return Structure(
        name=row["name"],
        lines=_load_lines(con, row["id"]),
        id=row["id"],
        organisation_id=row["organisation_id"],
        description=row["description"],
        template=row["template"],
        is_default=row["is_default"],
    )


def structure_by_id(con: duckdb.DuckDBPyConnection, structure_id: int) -> Structure:
    found = _load(con, "s.id = ?", [structure_id])
    if not found:
        raise NotFoundError(f"No structure with id {structure_id}.")
    return found[0]


def list_structures(con: duckdb.DuckDBPyConnection, organisation_id: int | None = None) -> list[dict]:
    """Structures with their organisation, line count and rule count."""
    return rows_as_dicts(
        con.execute(
            """SELECT s.id, s.name, o.name AS organisation, s.organisation_id, s.template, s.is_default,
                      s.description, s.created_at,
                      (SELECT count(*) FROM structure_lines l WHERE l.structure_id = s.id) AS lines,
                      (SELECT count(*) FROM mapping_rules r WHERE r.structure_id = s.id) AS rules
               FROM structures s JOIN organisations o ON o.id = s.organisation_id
               WHERE $org IS NULL OR s.organisation_id = $org
               ORDER BY o.name, s.name""",
            {"org": organisation_id},
        )
    )


def find_structure(
    con: duckdb.DuckDBPyConnection, name: str, organisation_id: int | None = None
) -> Structure:
    """The structure with this name (in the organisation, when given)."""
    found = _load(
        con, "s.name = ? AND (? IS NULL OR s.organisation_id = ?)", [name, organisation_id, organisation_id]
    )
    if not found:
        known = [r["name"] for r in list_structures(con, organisation_id)]
        hint = f" Known structures: {', '.join(known)}." if known else " There are no structures yet."
        raise NotFoundError(f"No structure named {name!r}.{hint}")
    if len(found) > 1:
        raise ConfigError(f"Several organisations have a structure named {name!r}; name the organisation.")
    return found[0]


def entity_uses_rgs(con: duckdb.DuckDBPyConnection, entity_id: int) -> bool:
    """Whether most of the entity's accounts that carry a standard code carry an RGS code."""
    codes = [
        r[0]
        for r in con.execute(
            "SELECT standard_code FROM accounts WHERE entity_id = ? AND standard_code IS NOT NULL",
            [entity_id],
        ).fetchall()
    ]
    rgs = sum(1 for c in codes if _RGS_SHAPE.match(c))
    return bool(codes) and rgs * 2 >= len(codes)


def default_structure(
    con: duckdb.DuckDBPyConnection, entity_id: int, *, create: bool = True, actor: str | None = None
) -> Structure:
    """The organisation's default structure for an entity.

    The structure marked default, else the one made from the template that fits the entity (RGS
    when its accounts carry RGS codes, else international), created from the template when the
    organisation has none yet (which needs a writable connection).
    """
    ent = entities.entity(con, entity_id)
    org = ent["organisation_id"]
    rows = rows_as_dicts(
        con.execute(
            "SELECT * FROM structures WHERE organisation_id = ? AND is_default ORDER BY id LIMIT 1", [org]
        )
    )
    if rows:
        return _from_row(con, rows[0])
    template = "rgs" if entity_uses_rgs(con, entity_id) else "international"
    rows = rows_as_dicts(
        con.execute(
            "SELECT * FROM structures WHERE organisation_id = ? AND template = ? ORDER BY id LIMIT 1",
            [org, template],
        )
    )
    if rows:
        return _from_row(con, rows[0])
    if not create:
        raise NotFoundError(
            f"The organisation of {ent['name']!r} has no reporting structure yet.",
            guidance="Create one from a template (ledgerline structure create --template rgs).",
        )
    return create_from_template(con, template, organisation_id=org, actor=actor or "system")


def resolve_structure(
    con: duckdb.DuckDBPyConnection,
    name: str | None,
    *,
    entity_id: int | None = None,
    organisation_id: int | None = None,
    create: bool = True,
) -> Structure:
    """The named structure, else the default one for the entity (or the organisation)."""
    if name:
        org = organisation_id
        if org is None and entity_id is not None:
            org = entities.entity(con, entity_id)["organisation_id"]
        return find_structure(con, name, org)
    if entity_id is None:
        if organisation_id is None:
            raise ConfigError("Name a structure or an entity.")
        row = con.execute(
            "SELECT id FROM entities WHERE organisation_id = ? ORDER BY id LIMIT 1", [organisation_id]
        ).fetchone()
        if row is None:
            raise NotFoundError("The organisation has no entities yet.")
        entity_id = row[0]
    return default_structure(con, entity_id, create=create)


def _insert_lines(con: duckdb.DuckDBPyConnection, structure_id: int, lines: list[Line]) -> None:
    ordered = _depth_first(lines)
    con.executemany(
        """INSERT INTO structure_lines (structure_id, statement, code, name, kind, parent_code, position, sign,
                                        formula, role, cf_line, standard) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        [
            [
                structure_id,
                ln.statement,
                ln.code,
                ln.name,
                ln.kind,
                ln.parent,
                i,
                ln.sign,
                ln.formula,
                ln.role,
                ln.cf,
                list(ln.standard),
            ]
            for i, ln in enumerate(ordered)
        ],
    )


def _depth_first(lines: list[Line]) -> list[Line]:
    """Lines in display order: per statement, each parent followed by its subtree."""
    kids: dict[tuple[str, str | None], list[Line]] = {}
    for line in lines:
        kids.setdefault((line.statement, line.parent), []).append(line)
    out: list[Line] = []

    def walk(statement: str, parent: str | None) -> None:
        for line in kids.get((statement, parent), []):
            out.append(line)
            walk(statement, line.code)

    for statement in STATEMENTS:
        walk(statement, None)
    return out


def _snapshot(structure: Structure) -> dict:
    return structure_to_dict(structure)


def create_structure(
    con: duckdb.DuckDBPyConnection,
    structure: Structure,
    *,
    organisation_id: int,
    actor: str | None = None,
    regenerate: bool = True,
) -> Structure:
    """Store a new structure (validated) for an organisation and build its report-ready rows."""
    from pipeline.mapping import regenerate_statements

    check_structure(structure)
    with atomic(con):
        if con.execute(
            "SELECT 1 FROM structures WHERE organisation_id = ? AND name = ?",
            [organisation_id, structure.name],
        ).fetchone():
            raise RefusedError(f"The organisation already has a structure named {structure.name!r}.")
        if structure.is_default:
            con.execute(
                "UPDATE structures SET is_default = FALSE WHERE organisation_id = ?", [organisation_id]
            )
        new_id = con.execute(
            """INSERT INTO structures (organisation_id, name, description, template, is_default)
               VALUES (?, ?, ?, ?, ?) RETURNING id""",
            [
                organisation_id,
                structure.name,
                structure.description,
                structure.template,
                structure.is_default,
            ],
        ).fetchone()[0]
        _insert_lines(con, new_id, structure.lines)
        stored = structure_by_id(con, new_id)
        audit.record(con, "structure.create", "structure", new_id, after=_snapshot(stored), actor=actor)
        if regenerate:
            regenerate_statements(con, structure_ids=[new_id], organisation_id=organisation_id)
    return stored


def create_from_template(
    con: duckdb.DuckDBPyConnection,
    template: str,
    *,
    organisation_id: int,
    name: str | None = None,
    actor: str | None = None,
) -> Structure:
    """A new structure copied from a shipped template."""
    base = load_template(template)
    return create_structure(
        con, replace(base, name=name or base.name), organisation_id=organisation_id, actor=actor
    )


def duplicate_structure(
    con: duckdb.DuckDBPyConnection,
    name: str,
    new_name: str,
    *,
    organisation_id: int | None = None,
    with_rules: bool = True,
    actor: str | None = None,
) -> Structure:
    """Copy a structure (and, by default, its mapping rules) under a new name."""
    from pipeline.mapping import copy_rules

    source = find_structure(con, name, organisation_id)
    copy = Structure(
        name=new_name,
        lines=[replace(line) for line in source.lines],
        description=source.description,
        template=None,
    )
    with atomic(con):
        stored = create_structure(
            con, copy, organisation_id=source.organisation_id, actor=actor, regenerate=False
        )
        if with_rules:
            copy_rules(con, source.id, stored.id)
        audit.record(
            con,
            "structure.duplicate",
            "structure",
            stored.id,
            before={"from": source.name},
            after={"name": new_name, "with_rules": with_rules},
            actor=actor,
        )
        from pipeline.mapping import regenerate_statements

        regenerate_statements(con, structure_ids=[stored.id], organisation_id=source.organisation_id)
    return stored


def save_structure(
    con: duckdb.DuckDBPyConnection, structure: Structure, *, actor: str | None = None
) -> Structure:
    """Replace a stored structure's lines (and description) and regenerate its report rows.

    Refused when a mapping rule points at a line that would no longer be a mapped line.
    """
    from pipeline.mapping import regenerate_statements

    if structure.id is None:
        raise ConfigError("save_structure needs a stored structure; use create_structure for a new one.")
    check_structure(structure)
    with atomic(con):
        before = structure_by_id(con, structure.id)
        mappable = {line.code for line in structure.mappable()}
        orphans = con.execute(
            "SELECT DISTINCT line_code FROM mapping_rules WHERE structure_id = ? AND NOT exclude ORDER BY 1",
            [structure.id],
        ).fetchall()
        lost = [r[0] for r in orphans if r[0] not in mappable]
        if lost:
            raise RefusedError(
                f"Mapping rules of {before.name!r} point at line(s) {', '.join(lost)}, which the new version "
                "does not have as mapped lines.",
                guidance="Move or delete those rules first.",
            )
        if structure.is_default and not before.is_default:
            con.execute(
                "UPDATE structures SET is_default = FALSE WHERE organisation_id = ?", [before.organisation_id]
            )
        con.execute(
            "UPDATE structures SET name = ?, description = ?, is_default = ? WHERE id = ?",
            [structure.name, structure.description, structure.is_default, structure.id],
        )
        con.execute("DELETE FROM structure_lines WHERE structure_id = ?", [structure.id])
        _insert_lines(con, structure.id, structure.lines)
        after = structure_by_id(con, structure.id)
        if _snapshot(before) != _snapshot(after):
            audit.record(
                con,
                "structure.update",
                "structure",
                structure.id,
                before=_snapshot(before),
                after=_snapshot(after),
                actor=actor,
            )
            regenerate_statements(con, structure_ids=[structure.id], organisation_id=before.organisation_id)
    return after


def set_default(
    con: duckdb.DuckDBPyConnection, name: str, *, organisation_id: int | None = None, actor: str | None = None
) -> Structure:
    """Make a structure its organisation's default."""

    target = find_structure(con, name, organisation_id)
    with atomic(con):
        con.execute(
            "UPDATE structures SET is_default = (id = ?) WHERE organisation_id = ?",
            [target.id, target.organisation_id],
        )
        audit.record(
            con, "structure.set_default", "structure", target.id, after={"default": target.name}, actor=actor
        )
    return structure_by_id(con, target.id)


def delete_structure(
    con: duckdb.DuckDBPyConnection, name: str, *, organisation_id: int | None = None, actor: str | None = None
) -> None:
    """Delete a structure with its rules and report-ready rows."""
    from pipeline.mapping import delete_rows_of_structure

    target = find_structure(con, name, organisation_id)
    with atomic(con):
        rules = con.execute(
            "SELECT count(*) FROM mapping_rules WHERE structure_id = ?", [target.id]
        ).fetchone()[0]
        delete_rows_of_structure(con, target.id)
        con.execute("DELETE FROM structure_lines WHERE structure_id = ?", [target.id])
        con.execute("DELETE FROM structures WHERE id = ?", [target.id])
        audit.record(
            con,
            "structure.delete",
            "structure",
            target.id,
            before={**_snapshot(target), "rules": rules},
            actor=actor,
        )
