"""A small run's commit leaves deleted rows for a later checkpoint to reclaim; that one does.

DuckDB vacuums at checkpoint: it rewrites the row groups that hold deleted rows. After a run that
changed a few thousand lines of a large ledger that rewrite can cost more than the run, so a
small run commits without it (db.write_at_commit) and the space is reclaimed by
the next ordinary checkpoint, or by a run that vacuum_due says should pay for it.
"""

from __future__ import annotations

from pipeline import db, entities, imports
from pipeline.merge import MergeResult

LINES = 600_000  # about five of DuckDB's 122,880-row groups


def row_groups(data) -> int:
    with db.connect(data, read_only=True) as con:
        return con.execute(
            "SELECT count(DISTINCT row_group_id) FROM pragma_storage_info('transactions')"
        ).fetchone()[0]


def test_deleted_rows_wait_for_a_checkpoint_that_vacuums(data):
    with db.transaction(data) as con:
        entity_id = entities.ensure_entity(con, "Ledger")
        con.execute(
            """INSERT INTO transactions (entity_id, line_key, key_hash, journal, entry, line, tx_date,
                                         account_code, amount, run_id)
               SELECT ?, 'K' || i, hash('K' || i), 'MEM', (i // 2)::VARCHAR, (i % 2)::VARCHAR,
                      DATE '2024-01-31', '1000', 1.00, 1
               FROM range(?) r(i)""",
            [entity_id, LINES],
        )
    full = row_groups(data)
    assert full >= 5

    # A run deletes most lines of the first row groups and commits without vacuuming them.
    with db.transaction(data, vacuum=False) as con:
        con.execute("DELETE FROM transactions WHERE entity_id = ? AND hash(line_key) % 10 < 8", [entity_id])
    assert row_groups(data) == full
    with db.connect(data) as con:
        assert con.execute("SELECT count(*) FROM transactions").fetchone()[0] < LINES * 0.3

    # Any later write checkpoints as DuckDB does by default, and reclaims them.
    with db.transaction(data) as con:
        entities.ensure_organisation(con, "Someone else")
    assert row_groups(data) < full


def result(updated: int, deleted: int, lines: int) -> MergeResult:
    return MergeResult(inserted=0, updated=updated, deleted=deleted, lines=lines)


def test_a_run_vacuums_when_it_replaced_much_of_its_entity_or_every_twentieth_run():
    # 1,000 lines: replacing 49 is small, 50 (1/20) is not.
    assert not imports.vacuum_due(41, result(40, 9, 1000))
    assert imports.vacuum_due(41, result(40, 10, 1000))
    assert not imports.vacuum_due(41, result(0, 0, 1000))
    assert imports.vacuum_due(40, result(0, 0, 1000))
