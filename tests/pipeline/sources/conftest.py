"""Sandboxes on the real clock (imports run through the real pipeline) and source helpers."""

from __future__ import annotations

import pytest

from connectors.afas.sandbox import AfasSandbox
from connectors.exact.sandbox import ExactSandbox
from pipeline import db, sources

AFAS_TOKEN = "F00DFACE0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF01234567"
AS_OF = "2024-02-15"
REDIRECT = "http://127.0.0.1:8501/oauth/callback"


@pytest.fixture
def afas():
    with AfasSandbox(token=AFAS_TOKEN, as_of=AS_OF) as sb:
        yield sb


@pytest.fixture
def exact():
    # Generous limits: pacing is tested on a fake clock in tests/connectors/exact.
    with ExactSandbox(as_of=AS_OF, minutely_limit=10_000, daily_limit=100_000) as sb:
        yield sb


def add_afas(data, sandbox, *, name="AFAS", token=AFAS_TOKEN, **settings) -> dict:
    return sources.add_source(
        data,
        "afas",
        name=name,
        settings={
            "environment": "12345",
            "token_name": "Ledgerline",
            "token": token,
            "base_url": sandbox.url,
            **settings,
        },
    )


def add_exact(data, sandbox, *, name="Exact") -> dict:
    return sources.add_source(
        data,
        "exact",
        name=name,
        settings={
            "client_id": sandbox.client_id,
            "client_secret": sandbox.client_secret,
            "redirect_uri": REDIRECT,
            "base_url": sandbox.url,
        },
    )


def ledger(data, entity: str, table: str = "transactions") -> list[tuple]:
    """Every stored line of an entity, all columns but the run, in key order."""
    with db.connect(data) as con:
        columns = [
            r[0]
            for r in con.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = ? ORDER BY ordinal_position",
                [table],
            ).fetchall()
            if r[0] not in ("entity_id", "run_id")
        ]
        return con.execute(
            f"SELECT {', '.join('t.' + c for c in columns)} FROM {table} t JOIN entities e ON e.id = t.entity_id "
            "WHERE e.name = ? ORDER BY line_key",
            [entity],
        ).fetchall()
