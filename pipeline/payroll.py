"""Payroll: connecting Nmbrs, the XAS payroll auditfile, wage-component mapping, the payroll
overview and its export, and reconciliation with the general ledger.

Only Owners and Accountants see payroll (`access` action 'payroll.view'); every function here
checks that before it reads or changes anything, whatever a page shows or hides.

Payroll entities hold company costs per wage component and payroll period as the payroll system
reports them (a cost is positive). A payroll entity books into one GL entity (an imported
ledger): its wage components are mapped onto that ledger's accounts, each mapping line with a
statement (P&L or balance sheet) and a sign (GL amount = sign * payroll amount, debit positive:
+1 for a cost, -1 for what becomes payable). One component can go to several lines (a pension
premium to a P&L cost account and to the payable on the balance sheet), or be hidden (a total).
Values appear only for mapped components; the others are listed with their amounts until they
are mapped or hidden. The mapping is replaced as a whole on "Save changes", in one transaction,
with the before and after in the audit log.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from connectors import registry
from connectors.nmbrs.client import PERMISSIONS
from pipeline import access, audit, db, entities, imports, sources
from pipeline.access import User
from pipeline.errors import ConfigError, NotFoundError, ParseError, PermissionDenied
from pipeline.sqlfiles import query_file
from pipeline.trial_balance import parse_month
from pipeline.uploads import save_upload

STATEMENTS = {"pnl": "P&L", "bs": "Balance sheet"}
DEFAULT_SIGN = {"pnl": 1, "bs": -1}
ACCOUNT_STATEMENT = {"pnl": "pnl", "balance": "bs"}
XAS_SOURCE = "Payroll files"
SOAP_KEYS = ("soap_username", "soap_token")
EXPORT_COLUMNS = (
    "company",
    "company_number",
    "entity",
    "payroll_year",
    "period",
    "period_start",
    "period_end",
    "month",
    "component_code",
    "component_name",
    "statement",
    "account_code",
    "account_name",
    "amount",
    "gl_amount",
)
_FORMULA_START = ("=", "+", "-", "@")


def nmbrs_permissions() -> tuple[str, ...]:
    """The SOAP operations the Nmbrs API user must be allowed (its API user template)."""
    return PERMISSIONS


def payroll_connectors() -> list[str]:
    """Names of the registered connectors that bring payroll (Nmbrs, the XAS file)."""
    return sorted(c.name for c in registry.REGISTRY if c.capabilities.payroll)


def _rows(cursor) -> list[dict[str, Any]]:
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]


# ---------------------------------------------------------------- access


def _can_see(con, user: User, *, organisation_id: int | None = None, entity_id: int | None = None) -> None:
    access.require(con, user, "payroll.view", organisation_id, entity_id)


def _can_edit(con, user: User, entity_id: int) -> None:
    access.require(con, user, "payroll.view", entity_id=entity_id)
    access.require(con, user, "mapping.edit", entity_id=entity_id)


def _organisation(con, user: User, organisation_id: int | None) -> int:
    """The organisation asked for, or the user's only one (refused when there are several)."""
    if organisation_id is not None:
        return int(organisation_id)
    orgs = access.visible_organisations(con, user)
    if len(orgs) == 1:
        return orgs[0]["id"]
    if not orgs and user.local:
        raise NotFoundError("There is no organisation yet: import a ledger or a payroll file first.")
    if not orgs:
        raise PermissionDenied(f"{user.label} has no role in any organisation.")
    raise ConfigError("Several organisations: say which one.")


def _payroll_entity(con, entity_id: int) -> dict[str, Any]:
    ent = entities.entity(con, entity_id)
    found = query_file(
        con,
        "payroll",
        "payroll_entities.sql",
        params={"organisation_id": ent["organisation_id"], "payroll_connectors": payroll_connectors()},
    )
    for row in _rows(found):
        if row["id"] == entity_id:
            return row
    raise ConfigError(
        f"{ent['name']} holds no payroll; choose a payroll entity (an Nmbrs company or a payroll file)."
    )


# ---------------------------------------------------------------- payroll and GL entities


def payroll_entities(
    data: str | os.PathLike | None, user: User, organisation_id: int | None = None
) -> list[dict]:
    """The payroll entities the user may see, with company, GL entity and unmapped components."""
    with db.connect(data) as con:
        return _visible_payroll_entities(con, user, organisation_id)[1]


def gl_entities(data: str | os.PathLike | None, user: User, organisation_id: int | None = None) -> list[dict]:
    """The ledgers (entities with a chart of accounts) a payroll entity can book into."""
    with db.connect(data) as con:
        org = _organisation(con, user, organisation_id)
        _can_see(con, user, organisation_id=org)
        visible = set(access.visible_entity_ids(con, user, org))
        rows = db.rows_as_dicts(
            con.execute(
                """SELECT e.id, e.name, e.currency, count(a.code) AS accounts FROM entities e
                   JOIN accounts a ON a.entity_id = e.id
                   WHERE e.organisation_id = ? GROUP BY ALL ORDER BY e.name""",
                [org],
            )
        )
    return [r for r in rows if r["id"] in visible]


def set_gl_entity(
    data: str | os.PathLike | None, user: User, payroll_entity_id: int, gl_entity_id: int | None
) -> dict[str, Any]:
    """Say which ledger a payroll entity books into (None removes the link)."""
    with db.transaction(data) as con:
        _can_edit(con, user, payroll_entity_id)
        payroll = _payroll_entity(con, payroll_entity_id)
        before = payroll["gl_entity_id"]
        if gl_entity_id is None:
            con.execute("DELETE FROM payroll_gl_links WHERE entity_id = ?", [payroll_entity_id])
        else:
            gl = entities.entity(con, gl_entity_id)
            access.require(con, user, "payroll.view", entity_id=gl_entity_id)
            if gl["organisation_id"] != payroll["organisation_id"]:
                raise ConfigError(f"{gl['name']} is in another organisation than {payroll['name']}.")
            if gl_entity_id == payroll_entity_id:
                raise ConfigError(
                    "A payroll entity cannot book into itself; choose the ledger it is booked in."
                )
            con.execute(
                """INSERT INTO payroll_gl_links (entity_id, gl_entity_id, updated_by) VALUES (?, ?, ?)
                   ON CONFLICT (entity_id) DO UPDATE SET gl_entity_id = excluded.gl_entity_id,
                       updated_by = excluded.updated_by, updated_at = now()""",
                [payroll_entity_id, gl_entity_id, user.login],
            )
        audit.record(
            con,
            "payroll.set_gl_entity",
            "entity",
            payroll_entity_id,
            before={"gl_entity_id": before},
            after={"gl_entity_id": gl_entity_id},
            actor=user.login,
        )
        return _payroll_entity(con, payroll_entity_id)


# ---------------------------------------------------------------- wage-component mapping


@dataclass
class MappingView:
    """What the Payroll admin page shows for one payroll entity."""

    entity: dict[str, Any]
    components: list[dict[str, Any]]  # component_code, component_name, amount, periods, months
    lines: list[dict[str, Any]]  # the saved mapping lines
    accounts: list[dict[str, Any]]  # code, name, account_type of the GL entity
    incomplete: list[dict[str, Any]] = field(default_factory=list)  # components without values yet

    def editor_rows(self) -> list[dict[str, Any]]:
        """One row per mapping line, and one empty row per component that has none: the draft."""
        by_code: dict[str, list[dict[str, Any]]] = {}
        for line in self.lines:
            by_code.setdefault(line["component_code"], []).append(line)
        out = []
        for comp in self.components:
            code = comp["component_code"]
            for line in by_code.get(code) or [{"component_code": code}]:
                out.append(_row(line))
        return out


def _row(line: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "component_code": str(line["component_code"]),
        "statement": line.get("statement") or None,
        "account_code": (str(line["account_code"]).strip() or None) if line.get("account_code") else None,
        "sign": int(line["sign"]) if line.get("sign") not in (None, "") else None,
        "hidden": bool(line.get("hidden")),
    }


def _mapping_view(con, entity_id: int) -> MappingView:
    ent = _payroll_entity(con, entity_id)
    components = _rows(query_file(con, "payroll", "payroll_components.sql", params={"entity_id": entity_id}))
    lines = db.rows_as_dicts(
        con.execute(
            """SELECT component_code, line_no, statement, account_code, sign, hidden
               FROM payroll_component_map WHERE entity_id = ? ORDER BY component_code, line_no""",
            [entity_id],
        )
    )
    accounts = []
    if ent["gl_entity_id"] is not None:
        accounts = db.rows_as_dicts(
            con.execute(
                "SELECT code, name, account_type FROM accounts WHERE entity_id = ? ORDER BY code",
                [ent["gl_entity_id"]],
            )
        )
    done = {ln["component_code"] for ln in lines if ln["hidden"] or ln["account_code"]}
    incomplete = [c for c in components if c["component_code"] not in done and c["periods"]]
    return MappingView(ent, components, lines, accounts, incomplete)


def mapping(data: str | os.PathLike | None, user: User, entity_id: int) -> MappingView:
    """Every wage component of a payroll entity with its saved mapping and the GL accounts."""
    with db.connect(data) as con:
        _can_see(con, user, entity_id=entity_id)
        return _mapping_view(con, entity_id)


def duplicate_row(rows: Sequence[Mapping[str, Any]], index: int) -> list[dict[str, Any]]:
    """The draft with a second line for the row's component, right below it, on the other statement.

    For a component that goes to both the P&L and the balance sheet (a premium that is a cost
    and a payable at once).
    """
    out = [_row(r) for r in rows]
    if not 0 <= index < len(out):
        raise ConfigError(f"There is no row {index + 1} to duplicate.")
    source = out[index]
    if source["hidden"]:
        raise ConfigError(
            f"Component {source['component_code']} is hidden; show it before duplicating its row."
        )
    other = {"pnl": "bs", "bs": "pnl"}.get(source["statement"] or "")
    out.insert(
        index + 1,
        {
            "component_code": source["component_code"],
            "statement": other,
            "account_code": None,
            "sign": None,
            "hidden": False,
        },
    )
    return out


def hide_component(rows: Sequence[Mapping[str, Any]], code: str, hidden: bool = True) -> list[dict[str, Any]]:
    """The draft with a component hidden (its lines become one hidden row) or shown again."""
    out: list[dict[str, Any]] = []
    placed = False
    for r in rows:
        row = _row(r)
        if row["component_code"] != code:
            out.append(row)
        elif not placed:
            out.append(
                {
                    "component_code": code,
                    "statement": None,
                    "account_code": None,
                    "sign": None,
                    "hidden": hidden,
                }
            )
            placed = True
    if not placed:
        raise ConfigError(f"There is no wage component {code} in the mapping.")
    return out


def _clean(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The lines a draft really holds: hidden rows and rows with an account (empty rows dropped)."""
    out = []
    for r in rows:
        row = _row(r)
        if row["hidden"] or row["account_code"] or row["statement"]:
            out.append(row)
    return out


def _key(row: Mapping[str, Any]) -> tuple:
    if row["hidden"]:
        return (row["component_code"], True, "", "", 0)
    sign = row["sign"] if row["sign"] is not None else DEFAULT_SIGN.get(row["statement"] or "", 0)
    return (
        row["component_code"],
        bool(row["hidden"]),
        row["statement"] or "",
        row["account_code"] or "",
        sign,
    )


def mapping_changes(saved: Iterable[Mapping[str, Any]], draft: Iterable[Mapping[str, Any]]) -> list[str]:
    """What Save changes would change, in words; empty when the draft holds nothing unsaved."""
    before = sorted(_key(r) for r in _clean(saved))
    after = sorted(_key(r) for r in _clean(draft))
    if before == after:
        return []
    out = []
    for code, hidden, statement, account, sign in (k for k in after if k not in before):
        if hidden:
            out.append(f"{code}: hidden")
        else:
            side = "debit" if sign == 1 else "credit" if sign == -1 else "?"
            out.append(f"{code}: {STATEMENTS.get(statement or '', '?')} account {account} ({side})")
    for code, hidden, _, account, _ in (k for k in before if k not in after):
        out.append(f"{code}: shown again" if hidden else f"{code}: no longer on account {account}")
    return out


def _validate(view: MappingView, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    known = {c["component_code"] for c in view.components}
    accounts = {a["code"]: a for a in view.accounts}
    seen: set[tuple] = set()
    by_code: dict[str, list[dict[str, Any]]] = {}
    for n, row in enumerate(rows, 1):
        code = row["component_code"]
        where = f"Row {n} ({code})"
        if code not in known:
            raise ConfigError(f"{where}: {view.entity['name']} has no wage component {code}.")
        by_code.setdefault(code, []).append(row)
        if row["hidden"]:
            row.update(statement=None, account_code=None, sign=1)
            continue
        if not row["account_code"]:
            raise ConfigError(
                f"{where}: choose an account for the {STATEMENTS.get(row['statement'], '')} line, or remove it."
            )
        if view.entity["gl_entity_id"] is None:
            raise ConfigError(
                f"Choose the ledger {view.entity['name']} is booked in before mapping its components.",
                guidance="Set the GL entity at the top of the Payroll admin page.",
            )
        account = accounts.get(row["account_code"])
        if account is None:
            raise ConfigError(f"{where}: {view.entity['gl_entity']} has no account {row['account_code']}.")
        implied = ACCOUNT_STATEMENT.get(account["account_type"] or "")
        statement = row["statement"] or implied
        if statement not in STATEMENTS:
            raise ConfigError(
                f"{where}: choose the statement (P&L or Balance sheet) of account {row['account_code']}."
            )
        if implied and implied != statement:
            raise ConfigError(
                f"{where}: account {row['account_code']} ({account['name']}) is a "
                f"{STATEMENTS[implied]} account, not a {STATEMENTS[statement]} one."
            )
        sign = row["sign"] if row["sign"] is not None else DEFAULT_SIGN[statement]
        if sign not in (1, -1):
            raise ConfigError(f"{where}: the sign is +1 (debit) or -1 (credit), not {sign}.")
        row.update(statement=statement, sign=sign)
        key = (code, statement, row["account_code"])
        if key in seen:
            raise ConfigError(
                f"{where}: {code} is mapped to {STATEMENTS[statement]} account {row['account_code']} twice."
            )
        seen.add(key)
    for code, lines in by_code.items():
        if any(r["hidden"] for r in lines) and len(lines) > 1:
            raise ConfigError(f"Wage component {code} is hidden, so it cannot also be mapped to an account.")
    return rows


def save_mapping(
    data: str | os.PathLike | None, user: User, entity_id: int, rows: Iterable[Mapping[str, Any]]
) -> MappingView:
    """Replace a payroll entity's mapping with the draft (Save changes), or refuse it whole."""
    draft = _clean(rows)
    with db.transaction(data) as con:
        _can_edit(con, user, entity_id)
        view = _mapping_view(con, entity_id)
        lines = _validate(view, draft)
        before = [
            {k: ln[k] for k in ("component_code", "statement", "account_code", "sign", "hidden")}
            for ln in view.lines
        ]
        con.execute("DELETE FROM payroll_component_map WHERE entity_id = ?", [entity_id])
        numbers: dict[str, int] = {}
        for row in lines:
            numbers[row["component_code"]] = numbers.get(row["component_code"], 0) + 1
            con.execute(
                """INSERT INTO payroll_component_map
                       (entity_id, component_code, line_no, statement, account_code, sign, hidden, updated_by)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?)""",
                [
                    entity_id,
                    row["component_code"],
                    numbers[row["component_code"]],
                    row["statement"],
                    row["account_code"],
                    row["sign"],
                    row["hidden"],
                    user.login,
                ],
            )
        audit.record(
            con, "payroll.save_mapping", "entity", entity_id, before=before, after=lines, actor=user.login
        )
        return _mapping_view(con, entity_id)


# ---------------------------------------------------------------- the overview


def _visible_payroll_entities(con, user: User, organisation_id: int | None) -> tuple[int, list[dict]]:
    """The organisation (checked for the user) and its payroll entities the user may see."""
    org = _organisation(con, user, organisation_id)
    _can_see(con, user, organisation_id=org)
    visible = set(access.visible_entity_ids(con, user, org))
    found = query_file(
        con,
        "payroll",
        "payroll_entities.sql",
        params={"organisation_id": org, "payroll_connectors": payroll_connectors()},
    )
    return org, [r for r in _rows(found) if r["id"] in visible]


def _scope(
    con, user: User, organisation_id: int | None, entity_ids: Iterable[int] | None
) -> tuple[int, list[int]]:
    org, rows = _visible_payroll_entities(con, user, organisation_id)
    payroll_ids = [r["id"] for r in rows]
    if entity_ids is not None:
        wanted = {int(i) for i in entity_ids}
        for eid in wanted - set(payroll_ids):
            _can_see(con, user, entity_id=eid)  # a refusal says why; else it is just not payroll
        payroll_ids = [i for i in payroll_ids if i in wanted]
    return org, payroll_ids


def _months(from_month: str | date | None, to_month: str | date | None) -> tuple[date | None, date | None]:
    lo = from_month if isinstance(from_month, date) or from_month is None else parse_month(from_month)
    hi = to_month if isinstance(to_month, date) or to_month is None else parse_month(to_month)
    if lo and hi and hi < lo:
        raise ConfigError(f"The range ends ({hi:%Y-%m}) before it starts ({lo:%Y-%m}).")
    return lo, hi


@dataclass
class Overview:
    """Company costs per month (mapped components only), per company and in total."""

    months: list[date]
    companies: list[dict[str, Any]]  # entity_id, company
    lines: list[dict[str, Any]]  # one per company, period, component and mapping line
    unmapped: list[dict[str, Any]]  # components with costs but no mapping yet, with their amounts

    @staticmethod
    def shown(line: Mapping[str, Any]) -> Decimal:
        """A line's amount as the overview shows it: a cost positive on the P&L, a payable on the BS."""
        return line["gl_amount"] if line["statement"] == "pnl" else -line["gl_amount"]

    def company_costs(self, entity_id: int | None = None) -> dict[date, Decimal]:
        """P&L total per month (the company costs), for one company or all."""
        out = dict.fromkeys(self.months, Decimal("0.00"))
        for ln in self.lines:
            if ln["statement"] == "pnl" and (entity_id is None or ln["entity_id"] == entity_id):
                out[ln["month"]] += ln["gl_amount"]
        return out

    def components(self, entity_id: int | None = None, statement: str = "pnl") -> list[dict[str, Any]]:
        """The rows behind a total: per component and account, an amount per month and a total."""
        rows: dict[tuple, dict[str, Any]] = {}
        for ln in self.lines:
            if ln["statement"] != statement or (entity_id is not None and ln["entity_id"] != entity_id):
                continue
            key = (ln["component_code"], ln["account_code"])
            row = rows.get(key)
            if row is None:
                row = rows[key] = {
                    "component_code": ln["component_code"],
                    "component_name": ln["component_name"],
                    "account_code": ln["account_code"],
                    "account_name": ln["account_name"],
                    "months": dict.fromkeys(self.months, Decimal("0.00")),
                    "total": Decimal("0.00"),
                }
            value = self.shown(ln)
            row["months"][ln["month"]] += value
            row["total"] += value
        return list(rows.values())

    def total(self, entity_id: int | None = None) -> Decimal:
        return sum(self.company_costs(entity_id).values(), Decimal("0.00"))


def _mapped(con, ids: list[int], lo: date | None, hi: date | None) -> list[dict[str, Any]]:
    return _rows(
        query_file(
            con, "payroll", "payroll_mapped.sql", params={"entity_ids": ids, "from_month": lo, "to_month": hi}
        )
    )


def overview(
    data: str | os.PathLike | None,
    user: User,
    organisation_id: int | None = None,
    from_month: str | date | None = None,
    to_month: str | date | None = None,
    entity_ids: Iterable[int] | None = None,
) -> Overview:
    """Company costs per month of the organisation's payroll entities the user may see."""
    lo, hi = _months(from_month, to_month)
    with db.connect(data) as con:
        _, ids = _scope(con, user, organisation_id, entity_ids)
        lines = _mapped(con, ids, lo, hi)
        unmapped = _rows(
            query_file(
                con,
                "payroll",
                "payroll_unmapped.sql",
                params={"entity_ids": ids, "from_month": lo, "to_month": hi},
            )
        )
    months = sorted({ln["month"] for ln in lines})
    companies = sorted({(ln["entity_id"], ln["company"]) for ln in lines}, key=lambda c: c[1] or "")
    return Overview(months, [{"entity_id": i, "company": n} for i, n in companies], lines, unmapped)


# ---------------------------------------------------------------- export


def export_rows(
    data: str | os.PathLike | None,
    user: User,
    organisation_id: int | None = None,
    from_month: str | date | None = None,
    to_month: str | date | None = None,
    entity_ids: Iterable[int] | None = None,
) -> list[dict[str, Any]]:
    """The flat data table: one row per company, period, component and account, ready to pivot."""
    lo, hi = _months(from_month, to_month)
    with db.connect(data) as con:
        org, ids = _scope(con, user, organisation_id, entity_ids)
        access.require(con, user, "export", org)
        lines = _mapped(con, ids, lo, hi)
    return [{k: ln[k] for k in EXPORT_COLUMNS} for ln in lines]


def _as_text(value: Any) -> Any:
    """A cell value for a spreadsheet: text from a source never starts a formula."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def export_csv(rows: Iterable[Mapping[str, Any]]) -> bytes:
    """The data table as UTF-8 CSV (with a BOM, so Excel reads the accents), amounts with a point."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(EXPORT_COLUMNS)
    for row in rows:
        out = []
        for name in EXPORT_COLUMNS:
            value = row.get(name)
            if isinstance(value, Decimal):
                out.append(f"{value:.2f}")
            elif isinstance(value, date):
                out.append(value.isoformat())
            elif value is None:
                out.append("")
            else:
                out.append(_as_text(str(value)))
        writer.writerow(out)
    return buffer.getvalue().encode("utf-8-sig")


def export_xlsx(rows: Iterable[Mapping[str, Any]]) -> bytes:
    """The data table as an Excel workbook: one sheet, typed cells, a filter on the header."""
    from openpyxl import Workbook
    from openpyxl.utils import get_column_letter

    book = Workbook()
    sheet = book.active
    sheet.title = "Payroll"
    sheet.append(list(EXPORT_COLUMNS))
    count = 0
    for row in rows:
        count += 1
        sheet.append([None] * len(EXPORT_COLUMNS))
        for col, name in enumerate(EXPORT_COLUMNS, 1):
            value = row.get(name)
            cell = sheet.cell(row=count + 1, column=col)
            if isinstance(value, str):
                # Set as a string type explicitly: openpyxl would read '=...' as a formula.
                cell.value = value
                cell.data_type = "s"
            else:
                cell.value = value
                if isinstance(value, Decimal):
                    cell.number_format = "#,##0.00"
                elif isinstance(value, date):
                    cell.number_format = "yyyy-mm-dd"
    sheet.auto_filter.ref = f"A1:{get_column_letter(len(EXPORT_COLUMNS))}{count + 1}"
    sheet.freeze_panes = "A2"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


# ---------------------------------------------------------------- reconciliation


@dataclass
class Reconciliation:
    """Mapped payroll costs per GL account and month against the GL postings on that account."""

    rows: list[dict[str, Any]]
    tolerance: Decimal

    @property
    def differences(self) -> list[dict[str, Any]]:
        return [r for r in self.rows if r["flagged"]]


def reconcile(
    data: str | os.PathLike | None,
    user: User,
    organisation_id: int | None = None,
    from_month: str | date | None = None,
    to_month: str | date | None = None,
    *,
    tolerance: Decimal | str = Decimal("0.00"),
    entity_ids: Iterable[int] | None = None,
) -> Reconciliation:
    """Payroll vs GL per account and month; a difference beyond `tolerance` is flagged.

    P&L accounts compare their net movement; balance-sheet accounts only the postings on
    payroll's side (the credits of a payable), since they also carry the payments.
    """
    tol = Decimal(str(tolerance))
    if tol < 0:
        raise ConfigError("The tolerance cannot be negative.")
    lo, hi = _months(from_month, to_month)
    with db.connect(data) as con:
        _, ids = _scope(con, user, organisation_id, entity_ids)
        rows = _rows(
            query_file(
                con,
                "payroll",
                "payroll_reconciliation.sql",
                params={"entity_ids": ids, "from_month": lo, "to_month": hi},
            )
        )
    for r in rows:
        r["difference"] = r["gl_amount"] - r["payroll_amount"]
        r["flagged"] = abs(r["difference"]) > tol
    return Reconciliation(rows, tol)


# ---------------------------------------------------------------- sources and files


def import_xas(
    data: str | os.PathLike | None,
    user: User,
    path: str | os.PathLike,
    entity_name: str,
    *,
    organisation: str | None = None,
    organisation_id: int | None = None,
) -> imports.RunResult:
    """Import a payroll auditfile (XAS) into a payroll entity (created when new) and wait for it."""
    data = db.data_dir(data)
    path = Path(path).resolve()
    if not path.is_file():
        raise ParseError("the file does not exist or is not a file", file=str(path))
    with db.transaction(data, vacuum=False) as con:
        org = (
            entities.ensure_organisation(con, organisation)
            if organisation
            else entities.default_organisation(con)
        )
        access.require(con, user, "upload", org)
        _can_see(con, user, organisation_id=org)
        source_id = entities.ensure_source(con, org, XAS_SOURCE, "xas")
        existing = [e for e in entities.find_entities(con, entity_name) if e["organisation_id"] == org]
        if existing and existing[0]["source_id"] != source_id:
            raise ConfigError(
                f"{entity_name} already holds other data; import the payroll file under another name."
            )
        entity_id = entities.ensure_entity(con, entity_name, organisation_id=org, source_id=source_id)
        run_id = imports.queue_run(
            con,
            entity_id,
            trigger="upload",
            priority=10,
            fmt="xas",
            file_name=path.name,
            file_sha256=imports.file_sha256(path),
            params={"path": str(path), "options": {}},
        )
        claimed = imports.claim_run(con, data, run_id)
    return imports.run_claimed(data, claimed)


def import_xas_upload(
    data: str | os.PathLike | None,
    user: User,
    file_name: str,
    content: bytes,
    entity_name: str,
    *,
    organisation_id: int | None = None,
) -> imports.RunResult:
    """Keep an uploaded payroll auditfile under data/uploads/ and import it (the page's upload)."""
    path = save_upload(data, file_name, content)
    return import_xas(data, user, path, entity_name, organisation_id=organisation_id)


def payroll_sources(
    data: str | os.PathLike | None, user: User, organisation_id: int | None = None
) -> list[dict]:
    """The connected payroll sources (Nmbrs) with their status, for the Payroll tab of Sources."""
    with db.connect(data) as con:
        org = _organisation(con, user, organisation_id)
        _can_see(con, user, organisation_id=org)
    out = []
    for src in sources.list_sources(data, org):
        if src["connector"] in payroll_connectors():
            creds = sources.SourceCredentialStore(data, src["id"]).load()
            src["soap_username"] = creds.get("soap_username")
            src["soap_connected"] = bool(creds.get("soap_username") and creds.get("soap_token"))
            src["rest_signed_in"] = bool(creds.get("refresh_token") or creds.get("access_token"))
            out.append(src)
    return out


def _source_for_edit(data, user: User, source_id: int) -> dict[str, Any]:
    src = sources.get_source(data, source_id)
    with db.connect(data) as con:
        access.require(con, user, "sources.edit", src["organisation_id"])
        _can_see(con, user, organisation_id=src["organisation_id"])
    if src["connector"] not in payroll_connectors():
        raise ConfigError(f"{src['name']} is not a payroll source.")
    return src


def connect_soap(
    data: str | os.PathLike | None, user: User, source_id: int, username: str, token: str
) -> dict[str, Any]:
    """Store the SOAP API user (e-mail) and token of an Nmbrs source, then test the connection.

    The e-mail must be the one the REST API was signed in with; the test says so if it is not,
    and names any permission the API user lacks. Returns the check ({ok, status, message, ...}).
    """
    src = _source_for_edit(data, user, source_id)
    username, token = (username or "").strip(), (token or "").strip()
    if not username or "@" not in username:
        raise ConfigError("The SOAP API user is an e-mail address: the one you signed in to Nmbrs with.")
    if not token:
        raise ConfigError("Enter the API token you created in Nmbrs.")
    store = sources.SourceCredentialStore(data, source_id)
    with store.lock():
        store.save({**store.load(), "soap_username": username, "soap_token": token})
    with db.transaction(data) as con:
        audit.record(
            con,
            "payroll.connect_soap",
            "source",
            source_id,
            after={"soap_username": username},
            actor=user.login,
        )
    result = sources.check_connection(data, source_id)
    result["source"] = src["name"]
    return result


def disconnect_soap(data: str | os.PathLike | None, user: User, source_id: int) -> dict[str, Any]:
    """Forget the SOAP API token of an Nmbrs source (the source then needs attention)."""
    _source_for_edit(data, user, source_id)
    store = sources.SourceCredentialStore(data, source_id)
    with store.lock():
        store.save({k: v for k, v in store.load().items() if k not in SOAP_KEYS})
    with db.transaction(data) as con:
        audit.record(con, "payroll.disconnect_soap", "source", source_id, actor=user.login)
    return sources.check_connection(data, source_id)


def check_connection(data: str | os.PathLike | None, user: User, source_id: int) -> dict[str, Any]:
    """Test both Nmbrs APIs again; the source is Active only when both answer for the same user."""
    _source_for_edit(data, user, source_id)
    return sources.check_connection(data, source_id)


def complete_signin(data: str | os.PathLike | None, user: User, callback_url: str) -> dict[str, Any]:
    """Finish the REST sign-in from the URL Nmbrs redirected to, then test both APIs."""
    source = sources.complete_oauth_url(data, callback_url)
    _source_for_edit(data, user, source["id"])
    return sources.check_connection(data, source["id"])


def connect_url(
    data: str | os.PathLike | None, user: User, source_id: int, *, redirect_uri: str | None = None
) -> str:
    """The Nmbrs sign-in URL of a payroll source (the REST API's authorization-code flow)."""
    _source_for_edit(data, user, source_id)
    return sources.connect_url(data, source_id, redirect_uri=redirect_uri)


def payroll_entity_id(data: str | os.PathLike | None, user: User, name: str) -> int:
    """The id of a payroll entity by name (for the CLI)."""
    with db.connect(data) as con:
        ent = entities.entity_by_name(con, name)
        _can_see(con, user, entity_id=ent["id"])
        _payroll_entity(con, ent["id"])
        return ent["id"]
