"""Excel export and refresh: time and peak memory against xlsxwriter writing the same cells.

Three cases, each measured for Ledgerline and for the reference, xlsxwriter in constant-memory
mode writing the same cells (the same strings, numbers and formulas, from the same generators),
every measurement in a process of its own so its peak memory (max RSS) is its own. Both wall
time and the process's CPU time are printed; the target (<= 1.5x the reference) is judged on CPU
time, which other work on a shared machine does not distort:

1. group: an export of a group workbook: E entities, a structure of about 60 lines, M months:
   the shipped `statements` template, statement sheets with a group block and one block per
   entity (a formula per line and month), and the data sheet of report-ready rows;
2. rows: an export of a data sheet of R rows (a linked template without statement sheets);
3. refresh: replacing the R-row data sheet of an existing workbook (a user's sheet beside it)
   with R new rows; the reference writes the same R rows as a new workbook.

The rows are synthetic (the report engine's own cost is bench_reports' subject): what is measured
is turning rows into a workbook. Usage:

    python -m bench.bench_excel [--quick] [--entities 100] [--months 36] [--rows 1000000]
"""

from __future__ import annotations

import argparse
import itertools
import json
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime
from pathlib import Path

from bench.synthetic import statements
from pipeline.statements import add_months
from pipeline.structure import structure_from_dict
from pipeline.workbooks import SHIPPED_TEMPLATES, Dataset, write_dataset
from pipeline.xlsx.cells import excel_date
from pipeline.xlsx.datasheet import HEADER, Meta
from pipeline.xlsx.statement_sheet import Block, StatementTemplate, statement_rows

FIRST = date(2022, 1, 1)


def structure():
    """About 60 lines: P&L 25 mapped lines in two groups, balance sheet 20, cash flow 8, with
    formulas and the reserved lines."""
    pnl = [{"code": f"P{i:02d}", "name": f"P&L line {i}", "kind": "mapped"} for i in range(25)]
    assets = [
        {"code": f"A{i:02d}", "name": f"Asset line {i}", "kind": "mapped", "cf": "CF_WC"} for i in range(10)
    ]
    assets[0]["cf"] = "CASH"
    liabilities = [
        {"code": f"L{i:02d}", "name": f"Liability line {i}", "kind": "mapped", "cf": "CF_FIN"}
        for i in range(10)
    ]
    cf = [
        {"code": "CF_RES", "name": "Net result", "kind": "result"},
        {"code": "CF_WC", "name": "Working capital", "kind": "mapped"},
        {"code": "CF_FIN", "name": "Financing", "kind": "mapped"},
        {"code": "CF_UNMAPPED", "name": "Unmapped", "kind": "unmapped"},
        {"code": "CF_EXCLUDED", "name": "Excluded", "kind": "excluded"},
        {
            "code": "CF_NET",
            "name": "Net cash flow",
            "kind": "formula",
            "formula": "CF_RES + CF_WC + CF_FIN + CF_UNMAPPED + CF_EXCLUDED",
        },
        {"code": "CASH_OPEN", "name": "Cash at start", "kind": "cash_open"},
        {"code": "CASH", "name": "Cash at end", "kind": "cash"},
    ]
    return structure_from_dict(
        {
            "name": "Bench",
            "statements": statements(pnl, assets, liabilities, cf, liabilities_name="Liabilities and equity"),
        }
    )


def amount(i: int, salt: int) -> str:
    """A deterministic, varied amount with two decimals, from integers (no float)."""
    cents = (i * 104729 + salt * 7919) % 200_000_000 - 100_000_000
    sign = "-" if cents < 0 else ""
    cents = abs(cents)
    return f"{sign}{cents // 100}.{cents % 100:02d}"


def group_rows(struct, entities: int, months: int, salt: int = 0):
    serials = [excel_date(add_months(FIRST, m)) for m in range(months)]
    leaves = [
        (st, line.code, line.name)
        for st in ("pnl", "bs", "cf")
        for line in struct.statement_lines(st)
        if line.kind not in ("group", "formula")
    ]
    i = 0
    for e in range(entities):
        name = f"Entity {e + 1:03d} BV"
        for st, code, line in leaves:
            for serial in serials:
                i += 1
                yield (name, st, code, line, serial, amount(i, salt))


def flat_rows(count: int, salt: int = 0):
    """`count` rows in the data sheet's layout (entities of 60 lines x 36 months)."""
    struct = structure()
    per_entity = 60 * 36
    yield from itertools.islice(group_rows(struct, count // per_entity + 1, 36, salt), count)


def dataset(struct, entities: list[str], months: int, rows) -> Dataset:
    meta = Meta(
        scope="All entities (Bench)",
        entities=entities,
        structure=struct.name,
        first_month=FIRST,
        last_month=add_months(FIRST, months - 1),
        currency="EUR",
        last_import=datetime(2025, 1, 1, 12, 0),
        refreshed=datetime(2025, 1, 2, 8, 0),
        checks="all passed",
        settings={"v": 1, "entities": entities, "structure": struct.name},
        timezone="Europe/Brussels",
    )
    blocks = [Block("Group: All entities (Bench)", None, "Group: ")] + [Block(n, n) for n in entities]
    months_list = [add_months(FIRST, m) for m in range(months)]
    return Dataset(meta, rows, struct, blocks, months_list, "bench")


def linked_template(path: Path) -> Path:
    """A user's linked workbook: their own sheet of formulas and an empty data sheet."""
    import xlsxwriter

    wb = xlsxwriter.Workbook(str(path))
    mine = wb.add_worksheet("Mine")
    mine.write_formula("A1", '=SUMIFS(Data!$F:$F,Data!$C:$C,"P00")')
    data = wb.add_worksheet("Data")
    for i, name in enumerate(HEADER):
        data.write_string(0, i, name)
    wb.close()
    return path


# ---------------------------------------------------------------- the reference


def reference_workbook(out: Path, sheets) -> None:
    """xlsxwriter, constant-memory mode: each sheet's rows of (column, kind, value, format)."""
    import xlsxwriter

    wb = xlsxwriter.Workbook(str(out), {"constant_memory": True})
    formats: dict[int, object] = {}

    def fmt(s: int):
        if s not in formats:
            formats[s] = wb.add_format({"num_format": "#,##0.00" if s % 2 else "General", "bold": s % 3 == 0})
        return formats[s]

    from pipeline.xlsx.cells import col_index

    for name, rows in sheets:
        ws = wb.add_worksheet(name)
        for r, cells in rows:
            for col, kind, value, s in cells:
                c = col_index(col) - 1
                if kind == "s":
                    ws.write_string(r - 1, c, value, fmt(s))
                elif kind == "f":
                    ws.write_formula(r - 1, c, value, fmt(s))
                elif kind == "n":
                    ws.write_number(r - 1, c, float(value), fmt(s))
                else:
                    ws.write_blank(r - 1, c, None, fmt(s))
    wb.close()


def data_sheet_cells(rows, meta_rows: int = 11):
    """The data sheet's cells as the reference writes them (header, rows, settings block)."""
    yield 1, [(c, "s", h, 1) for c, h in zip("ABCDEF", HEADER, strict=True)] + [("H", "s", "Ledgerline", 1)]
    r = 1
    for entity, st, code, line, month, value in rows:
        r += 1
        cells = [("A", "s", entity, 0), ("B", "s", st, 0), ("C", "s", code, 0), ("D", "s", line, 0)]
        cells += [("E", "n", month, 2), ("F", "n", value, 3)]
        if r <= meta_rows:
            cells.append(("H", "s", "setting", 0))
            cells.append(("I", "s", "value", 0))
        yield r, cells


def statement_sheet_cells(struct, statement: str, blocks, months: int):
    template = StatementTemplate(statement, "entities", {})
    return statement_rows(template, struct, blocks, months, "Data")


# ---------------------------------------------------------------- one measurement per process


def measure(case: str, engine: str, args, work: Path) -> dict:
    struct = structure()
    out = work / f"{case}-{engine}.xlsx"
    if case == "group":
        names = [f"Entity {e + 1:03d} BV" for e in range(args.entities)]
        rows = list(group_rows(struct, args.entities, args.months))
        ds = dataset(struct, names, args.months, rows)
        start, cpu_start = time.perf_counter(), time.process_time()
        if engine == "ours":
            write_dataset(SHIPPED_TEMPLATES / "statements.xlsx", out, ds, expand=True)
        else:
            reference_workbook(
                out,
                [("Cover", [])]
                + [
                    (title, statement_sheet_cells(struct, st, ds.blocks, args.months))
                    for title, st in (("P&L", "pnl"), ("Balance Sheet", "bs"), ("Cash Flow", "cf"))
                ]
                + [("Data", data_sheet_cells(rows))],
            )
        cells = len(rows) * 6
    elif case == "rows":
        template = linked_template(work / f"linked-{engine}.xlsx")
        ds = dataset(struct, ["Bench"], 36, flat_rows(args.rows))
        start, cpu_start = time.perf_counter(), time.process_time()
        if engine == "ours":
            write_dataset(template, out, ds, expand=False)
        else:
            reference_workbook(out, [("Mine", []), ("Data", data_sheet_cells(flat_rows(args.rows)))])
        cells = args.rows * 6
    else:  # refresh
        existing = work / "existing.xlsx"
        if engine == "ours":
            write_dataset(
                linked_template(work / "linked-refresh.xlsx"),
                existing,
                dataset(struct, ["Bench"], 36, flat_rows(args.rows)),
                expand=False,
            )
        ds = dataset(struct, ["Bench"], 36, flat_rows(args.rows, salt=1))
        start, cpu_start = time.perf_counter(), time.process_time()
        if engine == "ours":
            write_dataset(existing, out, ds, expand=False)
        else:
            reference_workbook(out, [("Mine", []), ("Data", data_sheet_cells(flat_rows(args.rows, salt=1)))])
        cells = args.rows * 6
    seconds = time.perf_counter() - start
    cpu = time.process_time() - cpu_start
    return {
        "seconds": seconds,
        "cpu": cpu,
        "peak_mb": peak_mb(),
        "bytes": out.stat().st_size,
        "data_cells": cells,
    }


def peak_mb() -> float:
    """This process's peak resident memory. VmHWM, not ru_maxrss: Linux carries ru_maxrss over
    from the parent through exec, so a child would report the parent's peak."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def same_cells(work: Path) -> list[str]:
    """Both engines on a small instance of each case: the cells (values and formulas, columns A-F)
    must be the same, so the timings compare like with like. Returns the differences."""
    import openpyxl

    small = argparse.Namespace(entities=3, months=4, rows=5000)
    out = []
    for case in ("group", "rows", "refresh"):
        measure(case, "xlsxwriter", small, work)
        measure(case, "ours", small, work)
        ref = openpyxl.load_workbook(work / f"{case}-xlsxwriter.xlsx")
        ours = openpyxl.load_workbook(work / f"{case}-ours.xlsx")
        for name in ("P&L", "Balance Sheet", "Cash Flow", "Data"):
            if name not in ours.sheetnames:
                continue

            def cells(sheet) -> dict:
                return {
                    (c.row, c.column): excel_date(c.value.date())
                    if isinstance(c.value, datetime)
                    else c.value
                    for row in sheet.iter_rows(max_col=6)
                    for c in row
                    if c.value is not None
                }

            a, b = cells(ref[name]), cells(ours[name])
            out += [
                f"{case} {name} {k}: {a.get(k)!r} != {b.get(k)!r}"
                for k in sorted(set(a) | set(b))
                if a.get(k) != b.get(k)
            ]
    return out


def run(case: str, engine: str, args, work: Path) -> dict:
    cmd = [
        sys.executable,
        "-m",
        "bench.bench_excel",
        "--one",
        case,
        engine,
        str(work),
        "--entities",
        str(args.entities),
        "--months",
        str(args.months),
        "--rows",
        str(args.rows),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--entities", type=int, default=100)
    parser.add_argument("--months", type=int, default=36)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="10 entities, 12 months, 100,000 rows")
    parser.add_argument("--one", nargs=3, metavar=("CASE", "ENGINE", "DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.quick:
        args.entities, args.months, args.rows = 10, 12, 100_000
    if args.one:
        case, engine, work = args.one
        print(json.dumps(measure(case, engine, args, Path(work))))
        return 0
    print(
        f"group: {args.entities} entities x {len(structure().lines)} lines x {args.months} months; "
        f"rows: {args.rows:,} data rows; refresh: {args.rows:,} rows replaced"
    )
    failed = 0
    with tempfile.TemporaryDirectory(prefix="bench-excel-") as tmp:
        differences = same_cells(Path(tmp))
        print(f"same cells in both engines (small instance): {'yes' if not differences else differences[:5]}")
        failed += bool(differences)
        print(
            f"{'case':8} {'engine':10} {'wall s':>8} {'CPU s':>8} {'peak MB':>8} {'MB out':>7} "
            f"{'ratio wall':>10} {'ratio CPU':>9}"
        )
        for case in ("group", "rows", "refresh"):
            ref = run(case, "xlsxwriter", args, Path(tmp))
            ours = run(case, "ours", args, Path(tmp))
            ratio = ours["seconds"] / ref["seconds"]
            cpu_ratio = ours["cpu"] / ref["cpu"]
            for name, r in (("xlsxwriter", ref), ("ledgerline", ours)):
                ratios = "" if name == "xlsxwriter" else f"{ratio:10.2f} {cpu_ratio:9.2f}"
                print(
                    f"{case:8} {name:10} {r['seconds']:8.2f} {r['cpu']:8.2f} {r['peak_mb']:8.0f} "
                    f"{r['bytes'] / 1e6:7.1f} {ratios}"
                )
            ok = cpu_ratio <= 1.5 and ours["peak_mb"] < 1024
            failed += not ok
            print(f"{case:8} target <= 1.5x time and < 1 GB peak: {'met' if ok else 'NOT met'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
