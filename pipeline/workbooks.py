"""Statement workbooks: export from a template, refresh a linked workbook, list templates.

A *linked* workbook has a data sheet (the defined name `LedgerlineData`, or a sheet named
`Data` whose first row is the data sheet's header): report-ready rows per entity, statement line
and month, with the settings they were made from (see `pipeline.xlsx.datasheet`).

- Export fills a template: its statement sheets (marked with `#statement` prototype rows) are
  expanded into one row per structure line with formulas over the data sheet, and the data sheet
  is written. A template without statement sheets (any linked workbook a user uploads) only gets
  its data sheet filled.
- Refresh replaces the data sheet (and the name over it) with current numbers and leaves every
  other part of the package exactly as it was; pivot caches over the rows are pointed at them and
  refreshed when the file opens, and Excel recalculates everything on open.

The numbers come from `pipeline.reports.statement` for each entity, statement and month, so a
recalculated workbook shows what `ledgerline report` shows, to the cent.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import BinaryIO
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import duckdb

from pipeline import access, db, reports
from pipeline import entities as entities_mod
from pipeline.access import User
from pipeline.errors import ConfigError, NotFoundError, PermissionDenied, RefusedError
from pipeline.statements import add_months, month_span
from pipeline.structure import STATEMENT_NAMES, STATEMENTS, Structure, resolve_structure
from pipeline.trial_balance import parse_month
from pipeline.xlsx import links
from pipeline.xlsx.cells import excel_date
from pipeline.xlsx.datasheet import (
    DATA_NAME,
    DATA_SHEET,
    DataRow,
    Meta,
    data_ref,
    has_data_header,
    learn_styles,
    read_settings,
    write_data_sheet,
)
from pipeline.xlsx.package import (
    Package,
    Sheet,
    SheetParts,
    cell_formats,
    open_package,
    parse_xml,
    split_sheet,
    write_package,
)
from pipeline.xlsx.statement_sheet import Block, read_template, write_statement_sheet
from pipeline.xlsx.zipcopy import DeflateSink

ROOT = Path(__file__).resolve().parents[1]
SHIPPED_TEMPLATES = ROOT / "templates_xlsx"
USER_TEMPLATES = "templates_xlsx"  # folder under the data folder
DEFAULT_TEMPLATE = "statements"
TEMPLATE_SUFFIXES = (".xlsx", ".xlsm")
XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
XLSM_MIME = "application/vnd.ms-excel.sheet.macroEnabled.12"
SETTINGS_VERSION = 1
_TEMPLATE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.-]{0,63}$")
_CHECKS_LIMIT = 4000


class NotLinkedError(RefusedError):
    """A workbook without a data sheet: nothing to refresh, and it is left untouched."""

    kind = "not_linked"
    guidance = (
        "Export a workbook from Ledgerline (Reports page or `ledgerline export-xlsx`) and build on it, "
        "or add a sheet named Data to link your own workbook."
    )


# ---------------------------------------------------------------- what a workbook shows


@dataclass
class Selection:
    """Which entities, structure and months a workbook shows (as recorded in its data sheet)."""

    entities: list[str] = field(default_factory=list)
    all: bool = False
    organisation: str | None = None
    structure: str | None = None
    from_month: str | None = None
    to_month: str | None = None

    def settings(self) -> dict:
        return {
            "v": SETTINGS_VERSION,
            "entities": list(self.entities),
            "all": self.all,
            "organisation": self.organisation,
            "structure": self.structure,
            "from": self.from_month,
            "to": self.to_month,
        }

    @classmethod
    def from_settings(cls, settings: dict | None) -> Selection:
        s = settings or {}
        names = s.get("entities") or []
        return cls(
            entities=[str(n) for n in names] if isinstance(names, list) else [],
            all=bool(s.get("all")),
            organisation=s.get("organisation"),
            structure=s.get("structure"),
            from_month=s.get("from"),
            to_month=s.get("to"),
        )

    def overridden(self, other: Selection | None) -> Selection:
        """This selection with whatever `other` names instead (entities and --all replace each other)."""
        if other is None:
            return self
        out = Selection(**vars(self))
        if other.all or other.entities:
            out.all, out.entities = other.all, list(other.entities)
            out.organisation = other.organisation if other.all else None
        for key in ("structure", "from_month", "to_month"):
            if getattr(other, key):
                setattr(out, key, getattr(other, key))
        return out

    @property
    def named(self) -> bool:
        return self.all or bool(self.entities)


@dataclass
class Dataset:
    """Report-ready rows for a selection, with what the data sheet records about them."""

    meta: Meta
    rows: list[DataRow]
    structure: Structure
    blocks: list[Block]
    months: list[date]
    fingerprint: str


def _timezone(con, organisation_id: int) -> ZoneInfo:
    row = con.execute("SELECT timezone FROM organisations WHERE id = ?", [organisation_id]).fetchone()
    try:
        return ZoneInfo(row[0] if row and row[0] else "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _local(moment: datetime | None, tz: ZoneInfo) -> datetime | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(tz).replace(tzinfo=None)


def structure_fingerprint(structure: Structure) -> str:
    """Changes when a line is added, removed, moved or recomputed: what statement sheets depend on."""
    text = "\n".join(
        f"{ln.statement}|{ln.code}|{ln.kind}|{ln.parent}|{ln.sign}|{ln.formula}" for ln in structure.lines
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _scope(con, sel: Selection) -> reports.Scope:
    if sel.all:
        return reports.scope(con, organisation=sel.organisation)
    if len(sel.entities) == 1:
        return reports.scope(con, entity=sel.entities[0])
    if sel.entities:
        return reports.scope(con, entities=sel.entities)
    raise ConfigError("Name the entities the workbook shows (--entity NAME, repeatable) or choose --all.")


def build_dataset(
    con: duckdb.DuckDBPyConnection, selection: Selection, *, now: datetime | None = None
) -> Dataset:
    """The data sheet's rows and settings for a selection: every leaf line of the three
    statements, per entity and month, as `reports.statement` computes it."""
    sc = _scope(con, selection)
    first = sc.entities[0]
    struct = resolve_structure(
        con, selection.structure, entity_id=first["id"], organisation_id=first["organisation_id"]
    )
    start, end = parse_month(selection.from_month), parse_month(selection.to_month)
    if start is None or end is None:
        lo, hi = con.execute(
            "SELECT min(month), max(month) FROM rpt_trial_balance WHERE list_contains(?, entity_id)", [sc.ids]
        ).fetchone()
        if lo is None:
            raise NotFoundError(
                f"There is no ledger data for {sc.label} yet.", guidance="Import a ledger first, then export."
            )
        start, end = start or lo, end or hi
    if end < start:
        raise ConfigError(f"The range ends ({end:%Y-%m}) before it starts ({start:%Y-%m}).")
    months = month_span(start, end)
    labels = [m.strftime("%Y-%m") for m in months]
    serials = [excel_date(m) for m in months]
    checks = [v.message for v in sc.checks if not v.ok]
    rows: list[DataRow] = []
    for ent in sc.entities:
        for st in STATEMENTS:
            report = reports.statement(
                con, st, entity=ent["name"], structure=struct.name, from_month=labels[0], to_month=labels[-1]
            )
            checks += [f"{STATEMENT_NAMES[st]}: {v.message}" for v in report.validations if not v.ok]
            for line in report.lines:
                if line.kind in ("group", "formula"):
                    continue
                amounts = line.amounts
                for label, serial in zip(labels, serials, strict=True):
                    value = amounts.get(label)
                    if value:
                        rows.append((ent["name"], st, line.code, line.name, serial, f"{value:.2f}"))
    tz = _timezone(con, first["organisation_id"])
    last_import = con.execute(
        "SELECT max(finished_at) FROM import_runs WHERE status = 'succeeded' AND list_contains(?, entity_id)",
        [sc.ids],
    ).fetchone()[0]
    names = [e["name"] for e in sc.entities]
    settled = Selection(
        entities=[] if selection.all else names,
        all=selection.all,
        organisation=selection.organisation if selection.all else None,
        structure=struct.name,
        from_month=labels[0],
        to_month=labels[-1],
    )
    fingerprint = structure_fingerprint(struct)
    seen: list[str] = []
    for message in checks:
        if message not in seen:
            seen.append(message)
    checks_text = "all passed" if not seen else "; ".join(seen)
    if len(checks_text) > _CHECKS_LIMIT:
        checks_text = checks_text[: _CHECKS_LIMIT - 40] + " ... (see the Validations page)"
    meta = Meta(
        scope=sc.label,
        entities=names,
        structure=struct.name,
        first_month=months[0],
        last_month=months[-1],
        currency=sc.currency,
        last_import=_local(last_import, tz),
        refreshed=_local(now or datetime.now(UTC), tz),
        checks=checks_text,
        settings={**settled.settings(), "lines": fingerprint},
        timezone=tz.key,
    )
    if len(names) == 1:
        blocks = [Block(names[0], None)]
    else:
        blocks = [Block(f"Group: {sc.label}", None, "Group: ")] + [Block(n, n) for n in names]
    return Dataset(meta, rows, struct, blocks, months, fingerprint)


# ---------------------------------------------------------------- the package work


@dataclass
class WriteResult:
    rows: int
    entities: list[str]
    months: tuple[str, str]
    structure: str
    statement_sheets: list[str] = field(default_factory=list)
    pivots: int = 0
    tables: int = 0
    warnings: list[str] = field(default_factory=list)
    path: Path | None = None


def find_data_sheet(pkg: Package) -> tuple[Sheet, SheetParts]:
    """The workbook's data sheet and its surroundings, or NotLinkedError."""
    text = pkg.defined_name(DATA_NAME)
    if text is not None:
        name = links.sheet_of_reference(text)
        sheet = pkg.sheet(name) if name else None
        if sheet is None:
            raise NotLinkedError(
                f"{pkg.name}: the name {DATA_NAME} points at a sheet that no longer exists ({text})."
            )
    else:
        sheet = pkg.sheet(DATA_SHEET)
        if sheet is None:
            raise NotLinkedError(f"{pkg.name} is not linked to Ledgerline: it has no data sheet.")
    if not pkg.has(sheet.part) or "chartsheet" in sheet.part.lower():
        raise NotLinkedError(f"{pkg.name}: the data sheet {sheet.name!r} is not a worksheet.")
    parts = split_sheet(pkg, sheet.part)
    if text is None and not has_data_header(parts):
        raise NotLinkedError(
            f"{pkg.name} is not linked to Ledgerline: its sheet {sheet.name!r} is not a Ledgerline data sheet "
            "(its first row is not: entity, statement, code, line, month, amount).",
            guidance="Rename that sheet, or clear it so Ledgerline can fill it.",
        )
    return sheet, parts


def _write(
    pkg: Package, out: BinaryIO, ds: Dataset, sheet: Sheet, parts: SheetParts, *, expand: bool
) -> WriteResult:
    replaced: dict[str, bytes | DeflateSink] = {}
    deleted: set[str] = set()
    result = WriteResult(
        0,
        ds.meta.entities,
        (ds.months[0].strftime("%Y-%m"), ds.months[-1].strftime("%Y-%m")),
        ds.structure.name,
    )
    sinks: list[DeflateSink] = []
    try:
        if expand:
            for other in pkg.sheets:
                if other is sheet or not pkg.has(other.part):
                    continue
                other_parts = split_sheet(pkg, other.part, head_rows=40)
                template = read_template(other_parts)
                if template is None:
                    continue
                sink = DeflateSink()
                sinks.append(sink)
                blocks = ds.blocks if template.blocks == "entities" else ds.blocks[:1]
                write_statement_sheet(
                    sink, other_parts, template, ds.structure, blocks, len(ds.months), sheet.name
                )
                replaced[other.part] = sink
                result.statement_sheets.append(other.name)
            ds.meta.settings["statement_sheets"] = bool(result.statement_sheets)
        sink = DeflateSink()
        sinks.append(sink)
        styles = learn_styles(parts, cell_formats(pkg))
        result.rows = write_data_sheet(sink, parts, ds.rows, ds.meta, styles)
        replaced[sheet.part] = sink
        ref = data_ref(result.rows)
        replaced[pkg.workbook_part] = links.link_workbook(
            pkg.read(pkg.workbook_part), sheet.name, ref, sheet.index
        )
        names = links.names_on_sheet(pkg, sheet.name) | {DATA_NAME.lower()}
        for part in links.pivot_caches(pkg):
            new = links.link_pivot_cache(pkg.read(part), sheet.name, names, ref)
            if new is not None:
                replaced[part] = new
                result.pivots += 1
        for part in links.tables_on_sheet(pkg, sheet.part):
            new = links.link_table(pkg.read(part), ref)
            if new is not None:
                replaced[part] = new
                result.tables += 1
        chain = links.calc_chain(pkg)
        if chain:
            new = links.drop_from_calc_chain(pkg.read(chain), sheet.sheet_id)
            if new == b"":
                deleted.add(chain)
                rels = _rels_part(pkg.workbook_part)
                replaced[rels] = links.remove_relationship(pkg.read(rels), chain.rsplit("/", 1)[-1])
                replaced["[Content_Types].xml"] = links.remove_override(
                    pkg.read("[Content_Types].xml"), chain
                )
            elif new is not None:
                replaced[chain] = new
        write_package(pkg, out, replaced, deleted=deleted)
    finally:
        for s in sinks:
            s.discard()
    return result


def _rels_part(part: str) -> str:
    folder, base = part.rsplit("/", 1) if "/" in part else ("", part)
    return f"{folder}/_rels/{base}.rels" if folder else f"_rels/{base}.rels"


def _to_target(
    out: str | Path | BinaryIO, work: Callable[[BinaryIO], WriteResult], release: Callable[[], None]
) -> WriteResult:
    """Run `work` on a file object; for a path, write a temporary file beside it and move it into
    place only when everything succeeded (a failure leaves the target as it was). `release`
    closes the source first: it may be the very file being replaced."""
    if not isinstance(out, str | Path):
        return work(out)
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            result = work(f)
        release()
        try:
            os.replace(tmp, path)
        except PermissionError as exc:
            raise RefusedError(
                f"{path.name} could not be replaced: another program has it open.",
                guidance="Close it in Excel (or use the Refresh button inside Excel) and try again.",
            ) from exc
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    result.path = path
    return result


def _check_suffix(template: Path, out: str | Path | BinaryIO) -> None:
    if isinstance(out, str | Path):
        suffix = Path(out).suffix.lower()
        if suffix not in TEMPLATE_SUFFIXES:
            raise ConfigError(f"Name the workbook .xlsx or .xlsm (not {Path(out).name}).")
        if template.suffix.lower() == ".xlsm" and suffix != ".xlsm":
            raise ConfigError(f"The template {template.name} holds macros: name the workbook .xlsm.")
        if template.suffix.lower() == ".xlsx" and suffix == ".xlsm":
            raise ConfigError(f"The template {template.name} holds no macros: name the workbook .xlsx.")


# ---------------------------------------------------------------- export


def export_workbook(
    data: str | os.PathLike | None,
    out: str | Path | BinaryIO,
    selection: Selection,
    *,
    template: str | None = None,
    now: datetime | None = None,
) -> WriteResult:
    """Fill a template with the selection's statements and write the workbook to `out`."""
    path = find_template(data, template)
    _check_suffix(path, out)
    with db.connect(data) as con:
        ds = build_dataset(con, selection, now=now)
    return write_dataset(path, out, ds, expand=True)


def write_dataset(
    source: str | Path | bytes,
    out: str | Path | BinaryIO,
    ds: Dataset,
    *,
    expand: bool,
    name: str | None = None,
) -> WriteResult:
    """Write a dataset into a copy of `source` (a template or a linked workbook)."""
    pkg = open_package(source, name)
    try:
        sheet, parts = find_data_sheet(pkg)
        return _to_target(out, lambda f: _write(pkg, f, ds, sheet, parts, expand=expand), pkg.close)
    finally:
        pkg.close()


# ---------------------------------------------------------------- refresh


def refresh_workbook(
    data: str | os.PathLike | None,
    source: str | Path | bytes,
    out: str | Path | BinaryIO | None = None,
    *,
    overrides: Selection | None = None,
    name: str | None = None,
    now: datetime | None = None,
    authorize: Callable[[duckdb.DuckDBPyConnection, Selection], Selection] | None = None,
) -> WriteResult:
    """Replace a linked workbook's data sheet with current numbers; everything else stays as it is.

    The entities, structure and months are those the workbook records, unless `overrides` names
    others. `out` defaults to the source file itself (replaced only when all went well). A
    workbook without a data sheet raises NotLinkedError and is not touched.
    """
    pkg = open_package(source, name)
    try:
        sheet, parts = find_data_sheet(pkg)
        recorded = read_settings(parts)
        before = Selection.from_settings(recorded)
        selection = _keep_span(before, before.overridden(overrides), overrides)
        if not selection.named:
            raise ConfigError(
                f"{pkg.name} has a data sheet but does not say which entities it shows.",
                guidance="Name them once: --entity NAME (repeatable) or --all; the workbook remembers them.",
            )
        with db.connect(data) as con:
            if authorize is not None:
                selection = authorize(con, selection)
            ds = build_dataset(con, selection, now=now)
        warnings = []
        sheets = bool(recorded and recorded.get("statement_sheets"))
        ds.meta.settings["statement_sheets"] = sheets
        span = _span(before)
        if sheets and span and span != len(ds.months):
            warnings.append(
                f"The statement sheets show {span} months and the data now {len(ds.months)}: months beyond "
                "the data show zero. Give only --from or only --to to move the window, or export anew."
            )
        if recorded and recorded.get("lines") and recorded.get("lines") != ds.fingerprint:
            warnings.append(
                f"The structure {ds.structure.name!r} changed since this workbook was made: statement sheets "
                "show the lines they had then. Export a new workbook to see the new lines."
            )
        if out is None:
            if isinstance(source, bytes):
                raise ConfigError("Say where the refreshed workbook goes.")
            out = Path(source)
        result = _to_target(out, lambda f: _write(pkg, f, ds, sheet, parts, expand=False), pkg.close)
        result.warnings += warnings
        return result
    finally:
        pkg.close()


def _span(selection: Selection) -> int | None:
    """How many months a recorded selection covers (None when it does not say)."""
    start, end = parse_month(selection.from_month), parse_month(selection.to_month)
    if start is None or end is None:
        return None
    return (end.year - start.year) * 12 + end.month - start.month + 1


def _keep_span(before: Selection, after: Selection, overrides: Selection | None) -> Selection:
    """A window of months moved by only one end keeps its length: `--to 2025-07` on a workbook of
    twelve months shows 2024-08 .. 2025-07 (its statement sheets have twelve month columns)."""
    span = _span(before)
    if not span or overrides is None or bool(overrides.from_month) == bool(overrides.to_month):
        return after
    if overrides.to_month:
        after.from_month = add_months(parse_month(overrides.to_month), 1 - span).strftime("%Y-%m")
    else:
        after.to_month = add_months(parse_month(overrides.from_month), span - 1).strftime("%Y-%m")
    return after


# ---------------------------------------------------------------- templates


@dataclass
class TemplateInfo:
    name: str
    path: Path
    kind: str  # "statements": has statement sheets; "linked": a data sheet only
    description: str
    shipped: bool
    statements: list[str] = field(default_factory=list)

    def as_json(self) -> dict:
        return {
            "name": self.name,
            "kind": self.kind,
            "description": self.description,
            "shipped": self.shipped,
            "statements": self.statements,
            "file": self.path.name,
        }


def user_templates_dir(data: str | os.PathLike | None) -> Path:
    return db.data_dir(data) / USER_TEMPLATES


def describe_template(path: Path, *, shipped: bool) -> TemplateInfo:
    """What a template holds; NotLinkedError when it has no data sheet."""
    pkg = open_package(path)
    try:
        sheet, _ = find_data_sheet(pkg)
        statements = []
        for other in pkg.sheets:
            if other is sheet or not pkg.has(other.part):
                continue
            template = read_template(split_sheet(pkg, other.part, head_rows=40))
            if template is not None:
                statements.append(template.statement)
        description = _core_property(pkg, "description") or _core_property(pkg, "title") or ""
    finally:
        pkg.close()
    return TemplateInfo(
        path.stem, path, "statements" if statements else "linked", description, shipped, statements
    )


def _core_property(pkg: Package, name: str) -> str | None:
    if not pkg.has("docProps/core.xml"):
        return None
    for el in parse_xml(pkg.read("docProps/core.xml")):
        if isinstance(el.tag, str) and el.tag.rsplit("}", 1)[-1] == name and el.text:
            return el.text.strip()
    return None


def list_templates(data: str | os.PathLike | None = None) -> list[TemplateInfo]:
    """The shipped templates, then the ones users added (a user's template wins on a name clash)."""
    found: dict[str, TemplateInfo] = {}
    for folder, shipped in ((SHIPPED_TEMPLATES, True), (user_templates_dir(data), False)):
        if not folder.is_dir():
            continue
        for path in sorted(folder.iterdir()):
            if path.suffix.lower() in TEMPLATE_SUFFIXES and not path.name.startswith((".", "~$")):
                try:
                    found[path.stem] = describe_template(path, shipped=shipped)
                except RefusedError:
                    continue
    return list(found.values())


def find_template(data: str | os.PathLike | None, name: str | None) -> Path:
    """A template by name (a user's first, then the shipped ones), or a path to a workbook."""
    name = name or DEFAULT_TEMPLATE
    candidate = Path(name)
    if candidate.suffix.lower() in TEMPLATE_SUFFIXES and candidate.is_file():
        return candidate
    for folder in (user_templates_dir(data), SHIPPED_TEMPLATES):
        for suffix in TEMPLATE_SUFFIXES:
            path = folder / f"{name}{suffix}"
            if path.is_file():
                return path
    known = ", ".join(t.name for t in list_templates(data)) or "none"
    raise NotFoundError(f"No workbook template named {name!r}. Known templates: {known}.")


def add_template(data: str | os.PathLike | None, name: str, content: bytes, *, filename: str) -> TemplateInfo:
    """Store a user's template (any linked workbook) so exports and the app can use it."""
    if not _TEMPLATE_NAME.match(name or ""):
        raise ConfigError(
            f"{name!r} cannot be a template name: use letters, digits, spaces, dots, dashes or underscores."
        )
    suffix = Path(filename).suffix.lower()
    if suffix not in TEMPLATE_SUFFIXES:
        raise ConfigError(f"{filename} is not an .xlsx or .xlsm workbook.")
    pkg = open_package(content, filename)
    try:
        find_data_sheet(pkg)
    finally:
        pkg.close()
    folder = user_templates_dir(data)
    folder.mkdir(parents=True, exist_ok=True)
    for other in TEMPLATE_SUFFIXES:
        (folder / f"{name}{other}").unlink(missing_ok=True)
    path = folder / f"{name}{suffix}"
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(content)
    os.replace(tmp, path)
    return describe_template(path, shipped=False)


def remove_template(data: str | os.PathLike | None, name: str) -> None:
    """Delete a user's template (the shipped ones stay)."""
    folder = user_templates_dir(data)
    removed = False
    for suffix in TEMPLATE_SUFFIXES:
        path = folder / f"{name}{suffix}"
        if path.is_file():
            path.unlink()
            removed = True
    if not removed:
        raise NotFoundError(
            f"There is no added template named {name!r} (shipped templates cannot be removed)."
        )


# ---------------------------------------------------------------- for the app: the signed-in user


@dataclass
class Download:
    file_name: str
    content: bytes
    mime: str
    result: WriteResult


def authorize(
    con: duckdb.DuckDBPyConnection, user: User, selection: Selection, *, narrow: bool = False
) -> Selection:
    """The selection if the user may export all of it. `narrow`: for --all, keep only the entities
    the user may see (else an entity-limited user is refused a whole-organisation selection)."""
    if selection.all:
        if selection.organisation:
            row = con.execute(
                "SELECT id FROM organisations WHERE name = ?", [selection.organisation]
            ).fetchone()
            if row is None:
                raise NotFoundError(f"No organisation named {selection.organisation!r}.")
            org_id = row[0]
        else:
            orgs = [r["id"] for r in access.visible_organisations(con, user)]
            if len(orgs) != 1:
                raise ConfigError("Name the organisation whose entities the workbook shows.")
            org_id = orgs[0]
        access.require(con, user, "export", org_id)
        limit = access.grants(con, user).limit(org_id)
        if limit is None:
            return selection
        if not narrow:
            raise PermissionDenied(
                f"This workbook shows every entity of the organisation; {user.label} may see only some.",
                guidance="Ask an Owner for access to all entities, or export a workbook of your entities.",
            )
        ids = access.visible_entity_ids(con, user, org_id)
        names = [
            r[0]
            for r in con.execute(
                "SELECT name FROM entities WHERE list_contains(?, id) AND active ORDER BY name", [ids]
            ).fetchall()
        ]
        if not names:
            raise PermissionDenied(f"{user.label} may not see any entity of this organisation.")
        return Selection(names, False, None, selection.structure, selection.from_month, selection.to_month)
    for name in selection.entities:
        access.require(con, user, "export", entity_id=entities_mod.entity_by_name(con, name)["id"])
    return selection


def _user_selection(con, user: User, organisation_id: int, entity_id: int | None, **range_) -> Selection:
    if entity_id is not None:
        access.require(con, user, "export", entity_id=entity_id)
        return Selection([entities_mod.entity(con, entity_id)["name"]], **range_)
    row = con.execute("SELECT name FROM organisations WHERE id = ?", [organisation_id]).fetchone()
    if row is None:
        raise NotFoundError(f"No organisation with id {organisation_id}.")
    return authorize(con, user, Selection(all=True, organisation=row[0], **range_), narrow=True)


def _file_name(ds: Dataset, suffix: str) -> str:
    base = re.sub(r"[^\w.-]+", "-", ds.meta.scope).strip("-") or "statements"
    return f"{base}-{ds.months[0]:%Y%m}-{ds.months[-1]:%Y%m}{suffix}"


def export_for_user(
    user: User,
    *,
    organisation_id: int,
    entity_id: int | None = None,
    structure: str | None = None,
    from_month: str | None = None,
    to_month: str | None = None,
    template: str | None = None,
    data: str | os.PathLike | None = None,
    now: datetime | None = None,
) -> Download:
    """The Reports page's download: the entity (or every entity the user sees) in a template."""
    path = find_template(data, template)
    with db.connect(data) as con:
        selection = _user_selection(
            con,
            user,
            organisation_id,
            entity_id,
            structure=structure,
            from_month=from_month,
            to_month=to_month,
        )
        ds = build_dataset(con, selection, now=now)
    buf = io.BytesIO()
    result = write_dataset(path, buf, ds, expand=True)
    suffix = path.suffix.lower()
    return Download(
        _file_name(ds, suffix), buf.getvalue(), XLSM_MIME if suffix == ".xlsm" else XLSX_MIME, result
    )


def refresh_for_user(
    user: User,
    content: bytes,
    file_name: str,
    *,
    data: str | os.PathLike | None = None,
    overrides: Selection | None = None,
    now: datetime | None = None,
) -> Download:
    """The upload-refresh-download flow: the user's workbook back with current numbers."""
    suffix = Path(file_name).suffix.lower()
    if suffix not in TEMPLATE_SUFFIXES:
        raise ConfigError(f"{file_name} is not an .xlsx or .xlsm workbook.")
    buf = io.BytesIO()
    result = refresh_workbook(
        data,
        content,
        buf,
        overrides=overrides,
        name=file_name,
        now=now,
        authorize=lambda con, sel: authorize(con, user, sel),
    )
    return Download(
        Path(file_name).name, buf.getvalue(), XLSM_MIME if suffix == ".xlsm" else XLSX_MIME, result
    )


def templates_for_user(user: User, data: str | os.PathLike | None = None) -> list[dict]:
    """The templates the Reports page offers (every user who may export sees all of them)."""
    with db.connect(data) as con:
        access.require(con, user, "export")
    return [t.as_json() for t in list_templates(data)]


def add_template_for_user(
    user: User, name: str, content: bytes, file_name: str, data: str | os.PathLike | None = None
) -> dict:
    """Settings: add a template for everyone (an organisation-wide change: Owners only)."""
    with db.connect(data) as con:
        access.require(con, user, "settings.edit")
    return add_template(data, name, content, filename=file_name).as_json()
