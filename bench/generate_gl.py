"""Realistic GL lines for benchmarks: N entities x Y years, balanced two-line entries.

A line carries what an ERP's transaction-level GL export carries: administration, journal,
entry and line, date, account code and name, a description naming the relation and the
document, the amount, currency, document number, relation, VAT code, cost centre and project:
about 140 bytes a line, as the issue's reference file (5M lines, 695 MB) and the real exports
in ../shared/samples/gl-exports (76-306 bytes a line) have; a file of bare codes and amounts
would measure a parser on data nobody exports.

Writes two layouts of the same ledger: a plain CSV (comma, ISO dates, signed point-decimal
amount) and a Dutch-style CSV (semicolon, dd-mm-yyyy, separate Debet/Credit columns with decimal
comma and thousands dots), as an accounting package in the Netherlands would export it.
"""

from __future__ import annotations

import argparse
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl

ACCOUNTS = np.array(
    [f"{c:04d}" for c in list(range(1000, 1300, 3)) + list(range(4000, 4800, 2)) + list(range(8000, 8100))]
)
JOURNALS = np.array(["VRK", "INK", "BNK", "MEM", "LON"])
WORDS = np.array(["Invoice", "Payment", "Salaries", "Rent", "Depreciation", "Accrual", "Fuel", "Licences"])
ACCOUNT_NAMES = np.array(
    [
        "Debiteuren",
        "Crediteuren",
        "Bank ING zakelijk",
        "Omzet hoog tarief",
        "Inkoopwaarde omzet",
        "Huisvestingskosten",
        "Autokosten brandstof",
        "Afschrijving inventaris",
        "Bruto lonen",
        "Te betalen omzetbelasting",
        "Kantoorbenodigdheden",
        "Advieskosten accountant",
    ]
)
SURNAMES = np.array(
    [
        "Jansen",
        "de Vries",
        "van den Berg",
        "Bakker",
        "Visser",
        "Smit",
        "Meijer",
        "de Boer",
        "Mulder",
        "de Groot",
        "Bos",
        "Vos",
        "Peters",
        "Hendriks",
        "van Leeuwen",
        "Dekker",
        "Brouwer",
        "de Wit",
    ]
)
TRADES = np.array(
    ["Installatietechniek", "Transport", "Bouwbedrijf", "Advies", "Groothandel", "Techniek", "Logistiek"]
)
FORMS = np.array(["B.V.", "V.O.F.", "Holding B.V.", "& Zn."])
VAT_CODES = np.array(["V21", "V9", "V0", "I21", ""])


EXTRA = ("document_no", "relation", "vat_code", "cost_centre", "project")


def _account_name(account: pl.Expr) -> pl.Expr:
    names = pl.Series(ACCOUNT_NAMES)
    index = account.cast(pl.Int32) % len(ACCOUNT_NAMES)
    return pl.concat_str(
        [index.replace_strict(list(range(len(names))), names.to_list()), account], separator=" "
    )


def generate(
    lines: int, entities: int = 100, years: int = 3, first_year: int = 2024, seed: int = 7
) -> pl.DataFrame:
    """A balanced ledger of about `lines` lines: entries of 2 lines (one debit, one credit)."""
    rng = np.random.default_rng(seed)
    entries = lines // 2
    entity = rng.integers(0, entities, entries)
    days = rng.integers(0, 365 * years, entries)
    journal = JOURNALS[rng.integers(0, len(JOURNALS), entries)]
    cents = rng.lognormal(mean=9.0, sigma=1.4, size=entries).astype(np.int64) + 1
    debit_acc = ACCOUNTS[rng.integers(0, len(ACCOUNTS), entries)]
    credit_acc = ACCOUNTS[rng.integers(0, len(ACCOUNTS), entries)]
    cost_centre = np.array(["", "CC10", "CC20", "CC30"])[rng.integers(0, 4, entries)]
    relation = rng.integers(10_000, 12_000, entries)
    relation_name = pl.Series(
        [
            f"{SURNAMES[r % len(SURNAMES)]} {TRADES[r % len(TRADES)]} {FORMS[r % len(FORMS)]}"
            for r in range(12_000)
        ]
    )[relation]
    project = np.array(["", "", "P-2024-017", "P-2025-042", "P-2026-003"])[rng.integers(0, 5, entries)]
    vat = VAT_CODES[rng.integers(0, len(VAT_CODES), entries)]
    first = (date(first_year, 1, 1) - date(1970, 1, 1)).days
    document = [f"{first_year + d // 365}-{n:07d}" for d, n in zip(days, range(1, entries + 1), strict=True)]
    desc = (
        pl.Series(WORDS[rng.integers(0, len(WORDS), entries)])
        + " "
        + relation_name
        + " "
        + pl.Series(document)
    )
    base = pl.DataFrame(
        {
            "entity": pl.Series([f"E{e:03d}" for e in range(entities)])[entity],
            "journal": journal,
            "entry": np.arange(1, entries + 1),
            "date": (pl.Series(days + first).cast(pl.Int32).cast(pl.Date)),
            "cents": cents,
            "debit_account": debit_acc,
            "credit_account": credit_acc,
            "cost_centre": cost_centre,
            "description": desc,
            "document_no": document,
            "relation": pl.Series([f"D{r}" for r in range(12_000)])[relation],
            "vat_code": vat,
            "project": project,
        }
    )
    debit = base.select(
        "entity",
        "journal",
        "entry",
        pl.lit(1).alias("line"),
        "date",
        pl.col("debit_account").alias("account"),
        "description",
        pl.col("cents").alias("signed_cents"),
        *EXTRA,
    )
    credit = base.select(
        "entity",
        "journal",
        "entry",
        pl.lit(2).alias("line"),
        "date",
        pl.col("credit_account").alias("account"),
        "description",
        (-pl.col("cents")).alias("signed_cents"),
        *EXTRA,
    )
    return pl.concat([debit, credit]).sort("entry", "line")


def _money(cents: pl.Expr, *, decimal: str = ".", thousands: str = "") -> pl.Expr:
    whole = cents.abs() // 100
    frac = (cents.abs() % 100).cast(pl.Utf8).str.zfill(2)
    if thousands:
        g1, g2, g3 = whole // 1_000_000, (whole // 1000) % 1000, whole % 1000
        pad = lambda e: e.cast(pl.Utf8).str.zfill(3)  # noqa: E731
        text = (
            pl.when(g1 > 0)
            .then(pl.concat_str([g1.cast(pl.Utf8), pad(g2), pad(g3)], separator=thousands))
            .when(g2 > 0)
            .then(pl.concat_str([g2.cast(pl.Utf8), pad(g3)], separator=thousands))
            .otherwise(g3.cast(pl.Utf8))
        )
    else:
        text = whole.cast(pl.Utf8)
    return pl.concat_str([text, pl.lit(decimal), frac])


def write_plain(df: pl.DataFrame, path: Path) -> None:
    signed = pl.when(pl.col("signed_cents") < 0).then(pl.lit("-")).otherwise(pl.lit(""))
    df.select(
        "entity",
        "journal",
        "entry",
        "line",
        pl.col("date").dt.strftime("%Y-%m-%d").alias("date"),
        "account",
        _account_name(pl.col("account")).alias("account_name"),
        "description",
        pl.concat_str([signed, _money(pl.col("signed_cents"))]).alias("amount"),
        pl.lit("EUR").alias("currency"),
        *EXTRA,
    ).write_csv(path)


def write_dutch(df: pl.DataFrame, path: Path) -> None:
    money = _money(pl.col("signed_cents"), decimal=",", thousands=".")
    df.select(
        pl.col("entity").alias("Administratie"),
        pl.col("journal").alias("Dagboek"),
        pl.col("entry").alias("Boekstuk"),
        pl.col("line").alias("Regel"),
        pl.col("date").dt.strftime("%d-%m-%Y").alias("Datum"),
        pl.col("account").alias("Grootboekrekening"),
        _account_name(pl.col("account")).alias("Omschrijving grootboekrekening"),
        pl.col("description").alias("Omschrijving"),
        pl.when(pl.col("signed_cents") > 0).then(money).otherwise(None).alias("Debet"),
        pl.when(pl.col("signed_cents") < 0).then(money).otherwise(None).alias("Credit"),
        pl.lit("EUR").alias("Valuta"),
        pl.col("document_no").alias("Factuurnummer"),
        pl.col("relation").alias("Relatie"),
        pl.col("vat_code").alias("Btw-code"),
        pl.col("cost_centre").alias("Kostenplaats"),
        pl.col("project").alias("Project"),
    ).write_csv(path, separator=";")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lines", type=int, default=5_000_000)
    parser.add_argument("--entities", type=int, default=100)
    parser.add_argument("--out", type=Path, default=Path("bench/out"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    df = generate(args.lines, args.entities)
    write_plain(df, args.out / f"gl_{args.lines}.csv")
    write_dutch(df, args.out / f"gl_{args.lines}_nl.csv")
    print(f"wrote {df.height} lines to {args.out}")


if __name__ == "__main__":
    main()
