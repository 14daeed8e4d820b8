"""Import status per entity, for the Entities page and the CLI."""

from __future__ import annotations

import os

from pipeline import db


def entity_overview(data: str | os.PathLike | None) -> list[dict]:
    """One row per entity: organisation, source, latest run and latest successful import."""
    with db.connect(data) as con:
        return db.rows_as_dicts(
            con.execute(
                """WITH last AS (
                       SELECT entity_id, max(id) AS id FROM import_runs GROUP BY entity_id),
                   ok AS (
                       SELECT entity_id, max(finished_at) AS at FROM import_runs
                       WHERE status = 'succeeded' GROUP BY entity_id),
                   lines AS (
                       SELECT entity_id, count(*) AS n FROM transactions GROUP BY entity_id)
                   SELECT e.id, e.name, o.name AS organisation, s.name AS source, s.connector,
                          e.currency, r.id AS last_run_id, r.status AS last_status, r.trigger AS last_trigger,
                          r.error_message AS last_error, ok.at AS last_success_at, coalesce(lines.n, 0) AS lines
                   FROM entities e
                   JOIN organisations o ON o.id = e.organisation_id
                   LEFT JOIN sources s ON s.id = e.source_id
                   LEFT JOIN last ON last.entity_id = e.id
                   LEFT JOIN import_runs r ON r.id = last.id
                   LEFT JOIN ok ON ok.entity_id = e.id
                   LEFT JOIN lines ON lines.entity_id = e.id
                   ORDER BY o.name, e.name"""
            )
        )
