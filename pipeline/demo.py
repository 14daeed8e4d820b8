"""Loading the demo organisation: a generator source with three entities."""

from __future__ import annotations

import os
from typing import Any

from connectors.base import ExtractRequest
from connectors.demo import DemoConnector, organisation_name
from pipeline import db, entities
from pipeline.imports import RunResult, sync_entity

DEMO_SOURCE = "Demo ledger"


def load_demo(
    data: str | os.PathLike | None, *, as_of: str | None = None, if_empty: bool = False
) -> list[RunResult]:
    """Create the demo organisation and import each of its entities (a full run, then incremental)."""
    with db.transaction(data) as con:
        if if_empty and con.execute("SELECT count(*) FROM entities").fetchone()[0]:
            return []
        org_id = entities.ensure_organisation(con, organisation_name())
        source_id = entities.ensure_source(con, org_id, DEMO_SOURCE, DemoConnector.name)
        entity_ids = []
        for info in DemoConnector().list_entities(ExtractRequest(entity_name="")):
            entity_ids.append(
                entities.ensure_entity(
                    con,
                    info.name,
                    organisation_id=org_id,
                    source_id=source_id,
                    external_id=info.external_id,
                    currency=info.currency,
                    fiscal_year_start_month=info.fiscal_year_start_month or 1,
                )
            )
    options: dict[str, Any] = {"as_of": as_of} if as_of else {}
    return [sync_entity(data, eid, trigger="manual", options=options) for eid in entity_ids]
