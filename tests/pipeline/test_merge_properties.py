"""The merge against a model: whatever sequence of extractions arrives, the stored lines equal
what a plain dict of line_key -> line says they should be, and the counts say what changed."""

from __future__ import annotations

import itertools
from datetime import date
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.base import Extraction, StreamData, frame_from_rows
from pipeline import db, entities
from pipeline import merge as merge_module
from pipeline.merge import changes_for, merge
from pipeline.regenerate import rebuild_ledger_rows, regenerate
from pipeline.staging import stage
from pipeline.validate import validate

KEYS = [f"K{i}" for i in range(12)]
MONTHS = [date(2024, m, 1) for m in (1, 2, 3)]

line = st.fixed_dictionaries(
    {
        "tx_date": st.sampled_from([date(2024, m, d) for m in (1, 2, 3) for d in (1, 15, 28)]),
        "account_code": st.sampled_from(["1000", "4000", "8000"]),
        "amount": st.decimals(
            min_value=-1000, max_value=1000, places=2, allow_nan=False, allow_infinity=False
        ),
    }
)
snapshot = st.dictionaries(st.sampled_from(KEYS), line, max_size=12)
step = st.one_of(
    st.tuples(st.just("all"), snapshot, st.just([])),
    st.tuples(
        st.just("ranges"), snapshot, st.lists(st.sampled_from(MONTHS), min_size=1, max_size=2, unique=True)
    ),
    st.tuples(st.just("none"), snapshot, st.lists(st.sampled_from(KEYS), max_size=4, unique=True)),
)

counter = itertools.count(1)

# How the merge compares and what it regenerates depends on sizes (pipeline.merge): a replacing
# stream about the size of the entity is compared whole, other streams by listing stored keys;
# few changed lines update the ledger-derived rows as a delta, many rebuild them. With a dozen
# keys the sizes alone would pick one way most of the time, so each example forces one (or
# leaves the sizes to decide) and every way must agree with the model.
PATHS = {
    "keyed comparison, delta": (0, 1e-9),
    "whole comparison, rebuild": (1e9, 1e9),
    "chosen by size": (merge_module.WHOLE_SHARE, merge_module.DELTA_SHARE),
}


def month_end(m: date) -> date:
    return date(m.year, m.month + 1, 1).replace(day=1) if m.month < 12 else date(m.year, 12, 31)


def apply_model(model: dict, mode: str, rows: dict, extra: list) -> dict:
    new = dict(model)
    if mode == "all":
        new = {}
    elif mode == "ranges":
        for key, value in model.items():
            if any(m <= value["tx_date"] < month_end(m) for m in extra):
                del new[key]
    else:
        for key in extra:
            if key not in rows:
                new.pop(key, None)
    new.update(rows)
    return new


def shared_entry(key: str) -> str:
    # Keys share entries (K0, K4, K8 are one entry) so entries gain, lose and change lines.
    return f"E{int(key[1:]) % 4}"


def run(data, entity_id: int, mode: str, rows: dict, extra: list, entry=shared_entry, keys="sent"):
    """Stage, validate, merge and regenerate one extraction as an import run does.

    keys 'sent': every line carries its key "J|<entry>|<name>", as an API sends it; 'derived':
    lines leave line_key empty and the same key is derived from journal|entry|line, as a CSV's
    own numbers give it (StreamData.derived_keys). Either way a line has one key.
    """
    run_id = next(counter)
    frame = frame_from_rows(
        "transactions",
        [
            {
                "line_key": None if keys == "derived" else f"J|{entry(k)}|{k}",
                "journal": "J",
                "entry": entry(k),
                "line": k,
                **v,
                "amount": Decimal(v["amount"]),
            }
            for k, v in rows.items()
        ],
    )
    derived = keys == "derived"
    if mode == "ranges":
        ranges = [(m, date.fromordinal(month_end(m).toordinal() - 1)) for m in extra]
        data_stream = StreamData("transactions", frame, "ranges", ranges, derived_keys=derived)
    elif mode == "none":
        deleted = [f"J|{entry(k)}|{k}" for k in extra]
        data_stream = StreamData("transactions", frame, "none", deleted_keys=deleted, derived_keys=derived)
    else:
        data_stream = StreamData("transactions", frame, "all", derived_keys=derived)
    staged = stage(Extraction([data_stream]), data / "staging" / str(run_id), currency="EUR")
    totals = validate(staged)
    with db.transaction(data) as con:
        con.execute(
            "INSERT INTO import_runs (id, entity_id, trigger, status) VALUES (?, ?, 'manual', 'running')",
            [run_id, entity_id],
        )
        result = merge(con, staged, entity_id=entity_id, run_id=run_id)
        # as an import run does: validation's finding that every staged entry balances
        balanced = totals.unbalanced_entries == 0
        regenerate(con, changes_for(entity_id, result, staged_entries_balance=balanced))
    staged.remove()
    return result


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    steps=st.lists(step, min_size=1, max_size=5),
    path=st.sampled_from(sorted(PATHS)),
    keys=st.lists(st.sampled_from(["sent", "derived"]), min_size=5, max_size=5),
)
def test_stored_lines_follow_the_model_and_a_repeat_changes_nothing(tmp_path_factory, steps, path, keys):
    saved = merge_module.WHOLE_SHARE, merge_module.DELTA_SHARE
    merge_module.WHOLE_SHARE, merge_module.DELTA_SHARE = PATHS[path]
    try:
        check_steps(tmp_path_factory.mktemp("merge"), steps, keys)
    finally:
        merge_module.WHOLE_SHARE, merge_module.DELTA_SHARE = saved


def check_steps(data, steps, keys) -> None:
    """Each step's lines carry their keys or leave them to be derived (keys[i]); the same line
    sent either way is the same line, so the model need not know which."""
    with db.transaction(data) as con:
        entity_id = entities.ensure_entity(con, "Model")
    model: dict = {}
    for (mode, rows, extra), style in zip(steps, keys, strict=False):
        before = model
        model = apply_model(model, mode, rows, extra)
        result = run(data, entity_id, mode, rows, extra, keys=style)
        assert result.inserted == len(model.keys() - before.keys())
        assert result.deleted == len(before.keys() - model.keys())
        changed = {k for k in model.keys() & before.keys() if model[k] != before[k]}
        assert result.updated == len(changed)
        with db.connect(data) as con:
            stored_lines = con.execute(
                """SELECT coalesce(line_key, concat(journal, '|', entry, '|', line)), line, tx_date,
                          account_code, amount FROM transactions WHERE entity_id = ?""",
                [entity_id],
            ).fetchall()
            # A derived key is stored as nothing, a sent one as itself.
            written = con.execute(
                """SELECT DISTINCT line_key IS NULL FROM transactions
                   WHERE entity_id = ? AND run_id = (SELECT max(id) FROM import_runs)""",
                [entity_id],
            ).fetchall()
            assert written in ([], [(style == "derived",)])
            stored = {
                ln: {"tx_date": d, "account_code": a, "amount": amt} for _, ln, d, a, amt in stored_lines
            }
            assert [k for k, *_ in stored_lines] == [
                f"J|{shared_entry(ln)}|{ln}" for _, ln, *_ in stored_lines
            ]
            tb = dict(
                con.execute(
                    "SELECT account_code, sum(net) FROM rpt_trial_balance WHERE entity_id = ? GROUP BY 1 HAVING sum(net) <> 0",
                    [entity_id],
                ).fetchall()
            )
        assert stored == {k: {**v, "amount": Decimal(v["amount"])} for k, v in model.items()}
        expected_tb: dict = {}
        for v in model.values():
            expected_tb[v["account_code"]] = expected_tb.get(v["account_code"], Decimal(0)) + Decimal(
                v["amount"]
            )
        assert tb == {a: s for a, s in expected_tb.items() if s != 0}
        assert_ledger_rows_match_a_rebuild(data, entity_id)
        again = run(data, entity_id, mode, rows, extra, keys=style)
        assert again.change == (0, 0, 0)
        # The same lines with their keys sent the other way are the same lines.
        other = run(data, entity_id, mode, rows, extra, keys="sent" if style == "derived" else "derived")
        assert other.change == (0, 0, 0)


def ledger_rows(con, entity_id: int) -> tuple[list, list]:
    tb = con.execute(
        """SELECT fiscal_year, month, account_code, kind, debit, credit, net, lines FROM rpt_trial_balance
           WHERE entity_id = ? ORDER BY ALL""",
        [entity_id],
    ).fetchall()
    unbalanced = con.execute(
        "SELECT month, journal, entry, amount, lines FROM rpt_unbalanced_entries WHERE entity_id = ? ORDER BY ALL",
        [entity_id],
    ).fetchall()
    return tb, unbalanced


def assert_ledger_rows_match_a_rebuild(data, entity_id: int) -> None:
    """Rows a run updated from its changed lines equal rows rebuilt from every line."""
    with db.connect(data) as con:
        updated = ledger_rows(con, entity_id)
        con.execute("BEGIN")
        rebuild_ledger_rows(con, [entity_id])
        rebuilt = ledger_rows(con, entity_id)
        con.execute("ROLLBACK")
    assert updated == rebuilt


def unbalanced_entries(data, entity_id: int) -> list[tuple]:
    with db.connect(data) as con:
        return con.execute(
            "SELECT journal, entry, amount FROM rpt_unbalanced_entries WHERE entity_id = ? ORDER BY ALL",
            [entity_id],
        ).fetchall()


def entry_rows(entry: str, day: date, amounts: list[str]) -> dict:
    return {
        f"{entry}-{i}": {"tx_date": day, "account_code": "1000", "amount": Decimal(a)}
        for i, a in enumerate(amounts)
    }


def run_entries(data, entity_id: int, mode: str, rows: dict, extra: list):
    """Like `run`, with each key's entry named by the part before its '-'."""
    run(data, entity_id, mode, rows, extra, entry=lambda key: key.split("-")[0])


def test_balanced_lines_replacing_all_clear_the_unbalanced_entries_of_before(data):
    with db.transaction(data) as con:
        entity_id = entities.ensure_entity(con, "Replaced")
    run_entries(data, entity_id, "all", entry_rows("E1", date(2024, 1, 15), ["10.00", "-9.00"]), [])
    assert unbalanced_entries(data, entity_id) == [("J", "E1", Decimal("1.00"))]
    # The source sends everything again, corrected: nothing unbalanced is left.
    run_entries(data, entity_id, "all", entry_rows("E1", date(2024, 1, 15), ["10.00", "-10.00"]), [])
    assert unbalanced_entries(data, entity_id) == []


def test_balanced_lines_for_some_months_keep_the_unbalanced_entries_of_others(data):
    with db.transaction(data) as con:
        entity_id = entities.ensure_entity(con, "Partly replaced")
    rows = {
        **entry_rows("E1", date(2024, 1, 15), ["10.00", "-9.00"]),
        **entry_rows("E2", date(2024, 2, 15), ["5.00", "-5.00"]),
    }
    run_entries(data, entity_id, "all", rows, [])
    # A balanced file for February only: January's unbalanced entry stays listed.
    run_entries(
        data, entity_id, "ranges", entry_rows("E2", date(2024, 2, 15), ["6.00", "-6.00"]), [MONTHS[1]]
    )
    assert unbalanced_entries(data, entity_id) == [("J", "E1", Decimal("1.00"))]


def entity_with_lines(data, name: str, n: int) -> int:
    """A new entity holding lines K0..K<n-1>, sent with their keys."""
    with db.transaction(data) as con:
        entity_id = entities.ensure_entity(con, name)
    lines = {
        f"K{i}": {"tx_date": date(2024, 1, 15), "account_code": "1000", "amount": Decimal(i)}
        for i in range(n)
    }
    run(data, entity_id, "all", lines, [])
    return entity_id


def test_a_key_hash_shared_by_other_keys_matches_only_the_same_key(data):
    """Small syncs find stored lines by key_hash first; lines whose hash collides with a sent
    key's hash are not that line and must be left alone."""
    entity_id = entity_with_lines(data, "Collisions", 4)
    with db.connect(data) as con:
        # Every stored line now shares the hash of the key sent next (as if all four collided).
        con.execute(
            "UPDATE transactions SET key_hash = hash(?) WHERE entity_id = ?",
            [f"J|{shared_entry('K5')}|K5", entity_id],
        )
    new = {"K5": {"tx_date": date(2024, 1, 20), "account_code": "4000", "amount": Decimal("5.00")}}
    result = run(data, entity_id, "none", new, ["K1"])
    # K5 is new (no stored line has its key, though all have its hash); K1 is deleted.
    assert result.change == (1, 0, 1)
    with db.connect(data) as con:
        keys = con.execute(
            "SELECT line FROM transactions WHERE entity_id = ? ORDER BY line", [entity_id]
        ).fetchall()
    assert keys == [("K0",), ("K2",), ("K3",), ("K5",)]


def test_key_hashes_written_by_another_hash_function_are_computed_again(data):
    """DuckDB's hash() may change with a release: the stored key hashes are then computed again
    when the warehouse is opened, and a small sync still finds the line it changes."""
    entity_id = entity_with_lines(data, "Upgraded", 3)
    with db.connect(data) as con:
        # As an older DuckDB would have written them.
        con.execute("UPDATE transactions SET key_hash = key_hash + 1")
        con.execute("UPDATE key_hash_function SET probe = probe + 1")
        db.migrate(con)
        assert con.execute(
            "SELECT count(*) FROM transactions WHERE key_hash <> hash(line_key)"
        ).fetchone() == (0,)
    changed = {"K1": {"tx_date": date(2024, 1, 15), "account_code": "4000", "amount": Decimal(1)}}
    assert run(data, entity_id, "none", changed, []).change == (0, 1, 0)
