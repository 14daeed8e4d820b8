"""The demo organisation: a generated, multi-entity Dutch ledger that changes day by day.

"Demo Holding" has three entities (two in EUR, one in USD) with three calendar fiscal years
(2024-2026), a Dutch chart with RGS codes, cost centres, projects and opening balances. "Today" is
the `as_of` option (default: the real date); each new day books new entries and corrects or deletes
a few recent ones, so incremental imports, deletions and opening-balance roll-forward can be tried
without an ERP account.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from connectors.base import (
    Capabilities,
    Connector,
    EntityInfo,
    Extraction,
    ExtractRequest,
    Problem,
    Stream,
    StreamData,
    conform,
)
from connectors.demo.entities import ORGANISATION, PROFILES, Profile
from connectors.demo.generate import LAST_DAY, as_date, generate_entity
from pipeline.errors import ConfigError

__all__ = ["DemoConnector", "generate_entity", "organisation_name"]

# An incremental run re-reads this many days before its cursor; the merge is idempotent, so
# lines that arrive twice are harmless and a change made on the cursor day is never missed.
OVERLAP_DAYS = 3


def organisation_name() -> str:
    """The name of the organisation the demo entities belong to."""
    return ORGANISATION


def _entity_info(p: Profile) -> EntityInfo:
    return EntityInfo(
        name=p.name,
        external_id=p.external_id,
        currency=p.currency,
        fiscal_year_start_month=1,
        extra={"organisation": ORGANISATION},
    )


class DemoConnector(Connector):
    """Generates the Demo Holding ledgers; deterministic for a seed and an as_of date."""

    name = "demo"
    label = "Demo organisation"
    kind = "generator"
    capabilities = Capabilities(
        transactions=True,
        accounts=True,
        dimensions=True,
        opening_balances=True,
        incremental=True,
        deletions=True,
        multi_entity=True,
        notes=(
            "Generated data: three entities of Demo Holding, fiscal years 2024-2026.",
            "Option as_of (a date) sets 'today'; each day adds entries and corrects or deletes a few recent ones.",
        ),
    )
    streams = (
        Stream("accounts"),
        Stream("dimensions"),
        Stream("transactions", cursor="modified"),
        Stream("opening_balances"),
    )

    def list_entities(self, request: ExtractRequest) -> list[EntityInfo]:
        """The three entities of the demo organisation."""
        return [_entity_info(p) for p in PROFILES.values()]

    def extract(self, request: ExtractRequest) -> Extraction:
        """Generate one entity's ledger at `as_of`: everything, or what changed since the cursor."""
        profile = _resolve(request)
        as_of = as_date(request.options.get("as_of"))
        seed = _seed(request)
        problems: list[Problem] = []
        since = None if request.full else _cursor_date(request.cursor, problems)
        if since is not None and since > as_of:
            problems.append(
                Problem(
                    "cursor_after_as_of",
                    f"The last import was at {since.isoformat()}, after as_of {as_of.isoformat()}; "
                    "everything was read again.",
                    severity="info",
                )
            )
            since = None
        if as_of > LAST_DAY:
            problems.append(
                Problem(
                    "demo_horizon",
                    f"The demo ledger ends on {LAST_DAY.isoformat()}; later days add no entries.",
                    severity="info",
                )
            )

        if request.progress:
            request.progress("generating", 0.0)
        frames = generate_entity(profile.external_id, as_of, seed)
        tx = frames["transactions"]
        if since is None:
            replace, deleted = "all", []
        else:
            start = since - timedelta(days=OVERLAP_DAYS)
            tx = tx.filter(tx["modified"] >= start)
            removed = frames["deletions"]
            deleted = removed.filter(removed["deleted_on"] >= start)["line_key"].to_list()
            replace = "none"
        if request.progress:
            request.progress("generating", 1.0)

        streams = [
            StreamData("accounts", conform("accounts", frames["accounts"]).collect(), replace="none"),
            StreamData("dimensions", conform("dimensions", frames["dimensions"]).collect(), replace="none"),
            StreamData(
                "transactions", conform("transactions", tx).collect(), replace=replace, deleted_keys=deleted
            ),
            # Opening balances are a few hundred rows and move whenever last year's lines change.
            StreamData(
                "opening_balances",
                conform("opening_balances", frames["opening_balances"]).collect(),
                replace="all",
            ),
        ]
        return Extraction(
            streams=streams,
            cursor={"as_of": as_of.isoformat()},
            entity=_entity_info(profile),
            problems=problems,
            format="demo",
            stats={
                "lines": tx.height,
                "entries": tx.select(["journal", "entry"]).n_unique() if tx.height else 0,
                "deleted_lines": len(deleted),
                "mode": "full" if since is None else "incremental",
                "since": None if since is None else (since - timedelta(days=OVERLAP_DAYS)).isoformat(),
                "as_of": as_of.isoformat(),
            },
        )


def _resolve(request: ExtractRequest) -> Profile:
    if request.entity_external_id:
        profile = PROFILES.get(request.entity_external_id)
        if profile is not None:
            return profile
    wanted = (request.entity_name or "").strip().casefold()
    for p in PROFILES.values():
        if wanted in (p.name.casefold(), p.external_id):
            return p
    known = ", ".join(f"{p.name} ({p.external_id})" for p in PROFILES.values())
    asked = request.entity_external_id or request.entity_name
    raise ConfigError(f"The demo organisation has no entity {asked!r}; it has {known}.")


def _seed(request: ExtractRequest) -> int:
    raw: Any = request.options.get("seed", request.config.get("seed", 42))
    try:
        return int(raw)
    except (TypeError, ValueError):
        raise ConfigError(f"The demo option 'seed' must be a whole number, not {raw!r}.") from None


def _cursor_date(cursor: Any, problems: list[Problem]) -> date | None:
    raw = cursor.get("as_of") if cursor else None
    if raw is None:
        return None
    try:
        return as_date(raw, "cursor")
    except ConfigError:
        problems.append(
            Problem(
                "unreadable_cursor",
                f"The stored cursor {raw!r} is not a date; everything was read again.",
                severity="info",
            )
        )
        return None
