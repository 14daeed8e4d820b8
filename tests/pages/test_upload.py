"""Upload page: detection, a check of the whole file before anything is written, naming the
columns of an unknown CSV, the import and its counts; broken files change nothing."""

from __future__ import annotations

from pipeline import db

from .conftest import SAMPLES, one, open_page, texts

XAF = SAMPLES / "xaf" / "ExactOnline_V32_2016.xaf"


def counts(data) -> tuple[int, int, int]:
    with db.connect(data) as con:
        return con.execute(
            "SELECT (SELECT count(*) FROM entities), (SELECT count(*) FROM import_runs), (SELECT count(*) FROM transactions)"
        ).fetchone()


def metrics(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def test_an_xaf_file_is_recognised_checked_and_imported(warehouse):
    at = open_page("upload")
    at.file_uploader[0].set_value((XAF.name, XAF.read_bytes(), "application/xml")).run()
    assert not at.exception
    shown = metrics(at)
    # Pinned from the file itself: 167 lines in 57 entries, debit = credit = 999,954.06.
    assert "Recognised as an **XAF auditfile**." in texts(at)
    assert shown["Ledger lines"] == "167"
    assert shown["Entries"] == "57"
    assert shown["Debit total"] == "999,954.06"
    assert shown["Credit total"] == "999,954.06"
    assert "Debits equal credits." in texts(at)
    assert "Toro Rosso BV" in texts(at)
    before = counts(warehouse)
    one(at.button, "Import").click().run()
    assert not at.exception
    success = " ".join(s.value for s in at.success)
    assert "Imported into Toro Rosso BV: 167 lines, debit 999,954.06 / credit 999,954.06" in success
    assert metrics(at)["Inserted"] != "0"
    after = counts(warehouse)
    assert (after[0] - before[0], after[1] - before[1], after[2] - before[2]) == (1, 1, 167)


def test_a_broken_file_shows_a_clear_error_and_changes_nothing(warehouse):
    before = counts(warehouse)
    at = open_page("upload")
    data = XAF.read_bytes()
    at.file_uploader[0].set_value(("cut.xaf", data[: len(data) // 2], "application/xml")).run()
    assert not at.exception
    errors = " ".join(e.value for e in at.error)
    assert "cut.xaf" in errors
    assert not [b for b in at.button if b.label == "Import"]
    assert counts(warehouse) == before


def test_a_bad_amount_is_named_with_its_line_before_anything_is_written(warehouse):
    before = counts(warehouse)
    at = open_page("upload")
    # The bexio layout (recognised from its header), with a word where line 3 needs an amount.
    text = (
        "Datum;Referenz;Soll;Haben;Beschreibung;Betrag;Buchungswährung\n"
        "05.01.2024;R1;1020 - Bank;3200 - Ertrag;Verkauf;120.00;CHF\n"
        "06.01.2024;R2;6500 - Aufwand;1020 - Bank;Miete;zwölf;CHF\n"
    )
    at.file_uploader[0].set_value(("bad.csv", text.encode(), "text/csv")).run()
    assert not at.exception
    errors = " ".join(e.value for e in at.error)
    assert "bad.csv" in errors and "line 3" in errors
    assert counts(warehouse) == before


def test_an_unknown_csv_is_read_once_the_user_names_its_columns(warehouse):
    text = (
        "Tag,Konto-Nr,Wert,Notiz\n"
        "2024-03-01,8000,-1500.00,Verkoop\n"
        "2024-03-01,1300,1500.00,Debiteur\n"
        "2024-03-02,4000,250.25,Huur\n"
        "2024-03-02,1100,-250.25,Bank\n"
    )
    at = open_page("upload")
    at.file_uploader[0].set_value(("grootboek.csv", text.encode(), "text/csv")).run()
    assert "no known export layout matches these columns" in texts(at)
    assert not [m for m in at.metric if m.label == "Ledger lines"]
    keys = {s.key for s in at.selectbox if s.key and s.key.startswith("col_")}
    date_key = next(k for k in keys if k.endswith("_date"))
    prefix = date_key[: -len("date")]
    at.selectbox(key=prefix + "date").set_value("Tag")
    at.selectbox(key=prefix + "account").set_value("Konto-Nr")
    at.selectbox(key=prefix + "amount").set_value("Wert")
    at.selectbox(key=prefix + "description").set_value("Notiz").run()
    assert not at.exception
    shown = metrics(at)
    assert (shown["Ledger lines"], shown["Debit total"], shown["Credit total"]) == (
        "4",
        "1,750.25",
        "1,750.25",
    )
    at.text_input(key=next(t.key for t in at.text_input if t.key.startswith("new_entity_"))).input(
        "Kantoor BV"
    ).run()
    one(at.button, "Import").click().run()
    assert "Imported into Kantoor BV: 4 lines" in " ".join(s.value for s in at.success)
