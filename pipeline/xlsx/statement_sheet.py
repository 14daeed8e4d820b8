"""Statement sheets: a template's prototype rows expanded into a statement computed by formulas.

A statement sheet in a template starts with marker rows (column A):

    #statement | pnl            which statement the sheet shows (pnl, bs, cf)
    #blocks    | entities       "entities": a group block, then one block per entity (a single
                                entity: just its block); "group": the group block only
    #title, #subtitle, #header, #block, #group, #line, #formula
                                prototype rows: each cell's format is used for the rows made
                                from it (A: code, B: line name, C: month amounts, D: total)

Everything else of the sheet (column widths, frozen panes, print setup, header and footer) is
kept as the template has it. The rows written:

    1 title, 2 scope and structure (formulas over the data sheet's settings), 3 the header with
    the months (the first from the data sheet's settings, each next one a month later) and the
    total column, then per block a heading row and one row per statement line.

Leaf lines are SUMIFS over the data sheet by line code and month (and entity, for an entity's
block); groups add their children's cells with the structure's signs; formula lines use the
structure's formula over the cells of the lines it names. Every amount is rounded to cents, as
the report is. An entity block's criterion sits in column A of its heading row, escaped so that
SUMIFS matches the name exactly (no wildcards), in a format that hides it. The group block (and
the only block of a single-entity workbook) sums every row of the data sheet and takes its title
from the data sheet's scope cell, so refreshing the workbook for another entity carries it along.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from pipeline.structure import ADDITIVE, Line, Structure, parse_formula
from pipeline.xlsx.cells import col_letter, quote_sheet, style, text_value
from pipeline.xlsx.datasheet import META_ROWS
from pipeline.xlsx.guard import xml_content
from pipeline.xlsx.package import MAIN_NS, SheetParts, set_element_ref
from pipeline.xlsx.zipcopy import DeflateSink

PROTOTYPES = ("#title", "#subtitle", "#header", "#block", "#group", "#line", "#formula")
BLOCK_MODES = ("entities", "group")
TITLES = {"pnl": "Profit & Loss", "bs": "Balance Sheet", "cf": "Cash Flow"}
TOTAL_LABELS = {"pnl": "Total", "bs": "At end", "cf": "Total"}
HEADER_ROW = 3  # rows 1-3 (title, scope, months) stay in view: the template freezes them
FIRST_BLOCK_ROW = 5


@dataclass
class StatementTemplate:
    statement: str
    blocks: str
    styles: dict[str, dict[str, int]]  # prototype -> column (A-D) -> cell format

    def s(self, proto: str, col: str) -> int:
        return self.styles.get(proto, {}).get(col, 0)


@dataclass(frozen=True)
class Block:
    """A statement block: one entity's rows of the data sheet, or (entity None) all of them.

    An all-rows block's title is a formula over the data sheet's scope cell, `prefix` first: a
    refresh that points the workbook at other entities renames it along with its numbers."""

    title: str
    entity: str | None
    prefix: str = ""


def read_template(parts: SheetParts) -> StatementTemplate | None:
    """The statement template of a sheet, or None when the sheet has no `#statement` marker."""
    markers: dict[str, dict] = {}
    for row in parts.head.values():
        first = row.get("A")
        if first is not None and isinstance(first.value, str) and first.value.startswith("#"):
            markers[first.value.strip().lower()] = row
    if "#statement" not in markers:
        return None
    kind = str(getattr(markers["#statement"].get("B"), "value", "") or "").strip().lower()
    if kind not in TITLES:
        return None
    blocks = str(getattr(markers.get("#blocks", {}).get("B"), "value", "") or "entities").strip().lower()
    styles = {p: {col: cell.style for col, cell in markers.get(p, {}).items()} for p in PROTOTYPES}
    return StatementTemplate(kind, blocks if blocks in BLOCK_MODES else "entities", styles)


def entity_criterion(name: str) -> str:
    """A SUMIFS criterion that matches exactly this text: `=` first, wildcards escaped."""
    return "=" + name.replace("~", "~~").replace("*", "~*").replace("?", "~?")


def _excel_formula(tree: tuple, cell: Callable[[str], str | None]) -> str | None:
    kind = tree[0]
    if kind == "num":
        return str(tree[1])
    if kind == "ref":
        return cell(tree[1])
    if kind == "neg":
        inner = _excel_formula(tree[1], cell)
        return None if inner is None else f"(-{inner})"
    left, right = _excel_formula(tree[1], cell), _excel_formula(tree[2], cell)
    if left is None or right is None:
        return None
    return f"({left}{kind}{right})"


def _signed_sum(terms: list[tuple[int, str]]) -> str:
    if not terms:
        return "0"
    out = ""
    for sign, ref in terms:
        out += ("-" if sign < 0 else ("+" if out else "")) + ref
    return f"ROUND({out},2)"


Cell = tuple[str, str, object, int]  # (column, kind: "s" text | "f" formula | "b" blank, value, format)


def layout(structure: Structure, statement: str, blocks: int, months: int) -> tuple[int, str]:
    """The last row and last column of a statement sheet."""
    lines = len(structure.statement_lines(statement))
    last_row = FIRST_BLOCK_ROW + (blocks - 1) * (lines + 2) + lines if blocks else HEADER_ROW
    return last_row, col_letter(months + 3)


def statement_rows(
    template: StatementTemplate, structure: Structure, blocks: list[Block], months: int, data_sheet: str
) -> Iterator[tuple[int, list[Cell]]]:
    """The rows of a statement sheet, each as (row number, cells)."""
    st = template.statement
    t = template
    lines = structure.statement_lines(st)
    data = quote_sheet(data_sheet)
    meta = {key: f"{data}!$I${row}" for key, (row, _) in META_ROWS.items()}
    month_cols = [col_letter(i) for i in range(3, 3 + months)]
    total = col_letter(3 + months)
    last_month = month_cols[-1]
    sums = f"ROUND(SUMIFS({data}!$F:$F,{data}!$C:$C,$A{{r}},{data}!$E:$E,{{c}}$3{{e}}),2)"
    offsets = {line.code: i for i, line in enumerate(lines, start=1)}  # row within a block
    cf = st == "cf"
    parsed = {ln.code: parse_formula(ln.formula) for ln in lines if ln.kind == "formula" and ln.formula}
    kids = {ln.code: [k for k in structure.children(ln.code, st) if k.kind in ADDITIVE] for ln in lines}

    yield 1, [("A", "s", TITLES[st], t.s("#title", "A"))]
    yield 2, [("A", "f", f'{meta["scope"]}&" - structure "&{meta["structure"]}', t.s("#subtitle", "A"))]
    header: list[Cell] = [("A", "s", "Code", t.s("#header", "A")), ("B", "s", "Line", t.s("#header", "B"))]
    for i, col in enumerate(month_cols):
        prev = month_cols[i - 1]
        first = meta["first_month"] if i == 0 else f"DATE(YEAR({prev}3),MONTH({prev}3)+1,1)"
        header.append((col, "f", first, t.s("#header", "C")))
    header.append((total, "s", TOTAL_LABELS[st], t.s("#header", "D")))
    yield HEADER_ROW, header

    for index, block in enumerate(blocks):
        h = FIRST_BLOCK_ROW + index * (len(lines) + 2)
        head: list[Cell] = []
        if block.entity is not None:
            head.append(("A", "s", entity_criterion(block.entity), t.s("#block", "A")))
        if block.entity is None:
            title = f'"{block.prefix}"&{meta["scope"]}' if block.prefix else meta["scope"]
            head.append(("B", "f", title, t.s("#block", "B")))
        else:
            head.append(("B", "s", block.title, t.s("#block", "B")))
        yield h, head
        entity_filter = f",{data}!$A:$A,$A${h}" if block.entity is not None else ""

        def cell_of(code: str, col: str, h: int = h) -> str | None:
            offset = offsets.get(code)
            return None if offset is None else f"{col}{h + offset}"

        for line in lines:
            r = h + offsets[line.code]
            proto = "#group" if line.kind == "group" else "#formula" if line.kind == "formula" else "#line"
            sc, sd = t.s(proto, "C"), t.s(proto, "D")
            cells: list[Cell] = [
                ("A", "s", line.code, t.s(proto, "A")),
                ("B", "s", "  " * line.level + line.name, t.s(proto, "B")),
            ]
            if line.kind == "group":
                terms = [(1 if cf else line.sign * k.sign, offsets[k.code]) for k in kids[line.code]]
                for col in [*month_cols, total]:
                    f = _signed_sum([(sign, f"{col}{h + off}") for sign, off in terms])
                    cells.append((col, "f", f, sc if col != total else sd))
            elif line.kind == "formula":
                tree = parsed.get(line.code)
                for col in [*month_cols, total]:
                    expr = (
                        None
                        if tree is None
                        else _excel_formula(tree, lambda code, col=col: cell_of(code, col))
                    )
                    s = sc if col != total else sd
                    cells.append(
                        (col, "b", None, s) if expr is None else (col, "f", f'IFERROR(ROUND({expr},2),"")', s)
                    )
            else:
                for col in month_cols:
                    cells.append((col, "f", sums.format(r=r, c=col, e=entity_filter), sc))
                cells.append((total, "f", _leaf_total(st, line, r, last_month), sd))
            yield r, cells


def row_xml(r: int, cells: list[Cell]) -> str:
    """One row of cells as SpreadsheetML."""
    out = []
    for col, kind, value, s in cells:
        st = style(s)
        if kind == "f":
            out.append(f'<c r="{col}{r}"{st}><f>{xml_content(value)}</f></c>')
        elif kind == "s":
            out.append(f'<c r="{col}{r}"{st} t="inlineStr">{text_value(value)}</c>')
        elif kind == "n":
            out.append(f'<c r="{col}{r}"{st}><v>{value}</v></c>')
        elif s:
            out.append(f'<c r="{col}{r}"{st}/>')
    return f'<row r="{r}">{"".join(out)}</row>'


def write_statement_sheet(
    sink: DeflateSink,
    parts: SheetParts,
    template: StatementTemplate,
    structure: Structure,
    blocks: list[Block],
    months: int,
    data_sheet: str,
) -> int:
    """Write the sheet for one statement over the template's surroundings; returns its last row."""
    last_row, last_col = layout(structure, template.statement, len(blocks), months)
    ns = parts.ns_prefix
    sink.write(set_element_ref(parts.prefix, "dimension", f"A1:{last_col}{last_row}"))
    sink.write(f"<{ns}sheetData>" if not ns else f'<{ns}sheetData xmlns="{MAIN_NS}">')
    batch: list[str] = []
    for r, cells in statement_rows(template, structure, blocks, months, data_sheet):
        batch.append(row_xml(r, cells))
        if len(batch) >= 200:
            sink.write("".join(batch))
            batch.clear()
    sink.write("".join(batch))
    sink.write(f"</{ns}sheetData>")
    sink.write(parts.suffix)
    return last_row


def _cell_of(col: str, row: int | None) -> str | None:
    return None if row is None else f"{col}{row}"


def _leaf_total(st: str, line: Line, r: int, last_month: str) -> str:
    """The total column of a leaf line: a flow sums its months, a balance is its last month's."""
    if st == "bs" or (st == "cf" and line.kind == "cash"):
        return f"{last_month}{r}"
    if st == "cf" and line.kind == "cash_open":
        return f"C{r}"
    return f"ROUND(SUM(C{r}:{last_month}{r}),2)"
