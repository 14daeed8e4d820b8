"""The warehouse file as other processes and threads see it (pipeline.db)."""

import os
import subprocess
import sys
import threading
from pathlib import Path

import duckdb
import pytest

from pipeline import db, entities
from pipeline.errors import ConfigError


def _other_process_opens(data) -> bool:
    probe = "import duckdb, sys; duckdb.connect(sys.argv[1]).close()"
    done = subprocess.run(
        [sys.executable, "-c", probe, str(db.warehouse_path(data))], capture_output=True, text=True
    )
    assert done.returncode == 0 or "lock" in done.stderr, done.stderr
    return done.returncode == 0


def test_the_file_is_free_for_another_process_once_the_last_connection_here_closes(tmp_path):
    with db.connect(tmp_path) as outer:
        with db.connect(tmp_path) as inner:
            inner.execute("CREATE TEMP TABLE mine AS SELECT 1 AS x")
            with db.atomic(inner):
                entities.ensure_organisation(inner, "Acme")
        # Each connection has its own temp tables, and sees what the other committed.
        with pytest.raises(duckdb.CatalogException):
            outer.execute("SELECT * FROM mine")
        assert outer.execute("SELECT name FROM organisations").fetchall() == [("Acme",)]
        # The scheduler cannot open the file while a page of the app is still reading it ...
        assert not _other_process_opens(tmp_path)
    # ... and can as soon as it is done.
    assert _other_process_opens(tmp_path)


def test_threads_of_one_process_work_on_the_warehouse_at_once(tmp_path):
    with db.transaction(tmp_path) as con:
        org = entities.ensure_organisation(con, "Acme")
    holding, written, errors = threading.Event(), threading.Event(), []

    def reader() -> None:
        try:
            with db.connect(tmp_path) as con:
                holding.set()
                assert written.wait(30)
                errors.extend(con.execute("SELECT name FROM entities ORDER BY name").fetchall())
        except Exception as exc:  # surfaced below: an assert in a thread fails nothing
            errors.append(exc)

    thread = threading.Thread(target=reader)
    thread.start()
    assert holding.wait(30)
    # A writer of the same process does not wait for the reader to finish (it would for another
    # process's): both use the one attached file.
    with db.transaction(tmp_path, lock_wait=1) as con:
        entities.ensure_entity(con, "Acme BV", organisation_id=org)
    written.set()
    thread.join(30)
    assert errors == [("Acme BV",)]
    assert _other_process_opens(tmp_path)


def test_a_writer_waits_for_readers_of_a_read_only_connection_as_long_as_it_was_told(tmp_path):
    with db.transaction(tmp_path) as con:
        entities.ensure_organisation(con, "Acme")
    with db.connect(tmp_path, read_only=True) as reader:
        with pytest.raises(ConfigError, match="stayed locked"), db.connect(tmp_path, lock_wait=0.2):
            pass
        assert reader.execute("SELECT count(*) FROM organisations").fetchone() == (1,)
    with db.transaction(tmp_path, lock_wait=0.2) as con:
        entities.ensure_organisation(con, "Beta")
        assert con.execute("SELECT count(*) FROM organisations").fetchone() == (2,)


def test_a_merge_over_the_memory_cap_spills_beside_the_warehouse_not_where_the_process_runs(tmp_path):
    # A fresh process: DuckDB fixes its spill folder at first use, once per process.
    script = (
        "import sys; from pipeline import db\n"
        "with db.connect(sys.argv[1]) as con:\n"
        "    print(con.execute(\"SELECT current_setting('temp_directory')\").fetchone()[0])\n"
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "data")],
        cwd=elsewhere,
        env={**os.environ, "PYTHONPATH": str(Path(db.__file__).parents[1])},
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip() == f"{db.warehouse_path(tmp_path / 'data')}.tmp"
