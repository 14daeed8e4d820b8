"""The CSV feed of report-ready rows that Excel's own refresh reads (Data > Refresh All).

Power Query in Excel (any platform) cannot use the app's browser login, so the feed takes a
per-user token instead: `Authorization: Bearer <token>` (or `?token=` for tools that cannot send
headers). A token acts as its user: the same role and entity limits as in the app, for reading
the feed only. Tokens are stored as SHA-256 hashes; the token itself is shown once.

The feed serves the data sheet's rows (`pipeline.workbooks.build_dataset`): one line per entity,
statement line and month, amounts as the report shows them, so a query over it agrees with
`ledgerline report` to the cent. Streamlit cannot answer a plain URL with a CSV file, so the feed
is a small HTTP server that `ledgerline serve` starts beside the app (`serve_feed`).

    GET /feed.csv?entity=Name[&entity=Other]|all=1[&organisation=..][&structure=..][&from=YYYY-MM][&to=YYYY-MM]

Without entity or all: every entity the token's user may see.
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import os
import secrets
import sys
import tomllib
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import duckdb

from pipeline import access, audit, db
from pipeline.access import LOCAL_LOGIN, LOCAL_USER, User
from pipeline.db import rows_as_dicts
from pipeline.errors import ConfigError, LedgerlineError, NotFoundError, PermissionDenied
from pipeline.workbooks import Selection, authorize, build_dataset
from pipeline.xlsx.cells import from_excel_date
from pipeline.xlsx.datasheet import HEADER
from pipeline.xlsx.guard import typed_text

log = logging.getLogger(__name__)

TOKEN_PREFIX = "llf_"
DEFAULT_PORT = 8502
ROOT = Path(__file__).resolve().parents[1]
FEED_PATHS = ("/feed.csv", "/feed")


# ---------------------------------------------------------------- tokens


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def local_mode() -> bool:
    """Whether the app runs without a login (no [auth] in Streamlit's secrets), as app.py decides."""
    for path in (ROOT / ".streamlit" / "secrets.toml", Path.home() / ".streamlit" / "secrets.toml"):
        try:
            if "auth" in tomllib.loads(path.read_text(encoding="utf-8")):
                return False
        except (OSError, tomllib.TOMLDecodeError):
            continue
    return True


def _user_row(con: duckdb.DuckDBPyConnection, login: str) -> tuple | None:
    return con.execute("SELECT login, name, active FROM users WHERE login = ?", [login]).fetchone()


def create_token(
    con: duckdb.DuckDBPyConnection, login: str, *, label: str | None = None, actor: str | None = None
) -> tuple[int, str]:
    """A new token for a user (`local` in the single-owner mode): (id, token). Shown once."""
    key = LOCAL_LOGIN if login.strip().lower() == LOCAL_LOGIN else access.normal_login(login)
    if key != LOCAL_LOGIN:
        row = _user_row(con, key)
        if row is None or not row[2]:
            raise NotFoundError(
                f"No active user {key!r}.",
                guidance="The user signs in to the app once; then create the token.",
            )
    token = TOKEN_PREFIX + secrets.token_urlsafe(24)
    token_id = con.execute(
        "INSERT INTO feed_tokens (login, label, token_hash, hint, created_by) VALUES (?, ?, ?, ?, ?) RETURNING id",
        [key, label, _hash(token), token[:8], actor or audit.default_actor()],
    ).fetchone()[0]
    audit.record(
        con, "feed_token.create", "feed_token", token_id, after={"login": key, "label": label}, actor=actor
    )
    return token_id, token


def list_tokens(con: duckdb.DuckDBPyConnection, login: str | None = None) -> list[dict]:
    """Tokens (never the secret itself), newest first; one user's when `login` is given."""
    return rows_as_dicts(
        con.execute(
            """SELECT id, login, label, hint, created_by, created_at, last_used_at, revoked_at,
                      revoked_at IS NULL AS active
               FROM feed_tokens WHERE $login IS NULL OR login = $login ORDER BY id DESC""",
            {"login": login.strip().lower() if login else None},
        )
    )


def revoke_token(
    con: duckdb.DuckDBPyConnection, token_id: int, *, login: str | None = None, actor: str | None = None
) -> None:
    """Revoke a token at once (only a token of `login`, when given)."""
    row = con.execute("SELECT login, revoked_at FROM feed_tokens WHERE id = ?", [token_id]).fetchone()
    if row is None or (login is not None and row[0] != login.strip().lower()):
        raise NotFoundError(f"No feed token {token_id}.")
    if row[1] is None:
        con.execute("UPDATE feed_tokens SET revoked_at = current_timestamp WHERE id = ?", [token_id])
        audit.record(con, "feed_token.revoke", "feed_token", token_id, before={"login": row[0]}, actor=actor)


def user_for_token(
    con: duckdb.DuckDBPyConnection, token: str | None, *, local: bool | None = None
) -> User | None:
    """The user a token acts as, or None for a missing, unknown, revoked or orphaned token."""
    if not token or not token.startswith(TOKEN_PREFIX):
        return None
    row = con.execute(
        "SELECT id, login FROM feed_tokens WHERE token_hash = ? AND revoked_at IS NULL", [_hash(token)]
    ).fetchone()
    if row is None:
        return None
    token_id, login = row
    if login == LOCAL_LOGIN:
        if not (local_mode() if local is None else local):
            return None  # made before a login was configured: it must not bypass the login now
        user = LOCAL_USER
    else:
        found = _user_row(con, login)
        if found is None or not found[2]:
            return None
        user = User(found[0], found[1])
    try:
        con.execute("UPDATE feed_tokens SET last_used_at = current_timestamp WHERE id = ?", [token_id])
    except duckdb.Error:  # another request of this token updated it at the same moment: fine
        pass
    return user


# ---------------------------------------------------------------- the rows


def selection_from_query(query: dict[str, list[str]]) -> tuple[Selection, bool]:
    """The selection a feed URL asks for, and whether it is the default (everything the user sees)."""

    def one(key: str) -> str | None:
        values = query.get(key) or []
        return values[-1].strip() or None if values else None

    entities = [e.strip() for e in query.get("entity", []) if e.strip()]
    everything = (one("all") or "").lower() in ("1", "true", "yes")
    if entities and everything:
        raise ConfigError("Ask for entity=... or all=1, not both.")
    sel = Selection(
        entities=entities,
        all=everything or not entities,
        organisation=one("organisation"),
        structure=one("structure"),
        from_month=one("from"),
        to_month=one("to"),
    )
    return sel, not entities and not everything


def feed_csv(con: duckdb.DuckDBPyConnection, user: User, query: dict[str, list[str]]) -> str:
    """The CSV text for a feed request by `user` (their access rules apply)."""
    selection, default = selection_from_query(query)
    selection = authorize(con, user, selection, narrow=default)
    ds = build_dataset(con, selection)
    out = io.StringIO()
    out.write("\ufeff")  # Excel and Power Query then read the file as UTF-8 without being told
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(HEADER)
    for entity, statement, code, line, month, amount in ds.rows:
        writer.writerow(
            [
                typed_text(entity),
                statement,
                typed_text(code),
                typed_text(line),
                from_excel_date(month).isoformat(),
                amount,
            ]
        )
    return out.getvalue()


# ---------------------------------------------------------------- the server


class FeedHandler(BaseHTTPRequestHandler):
    """GET /feed.csv with a token; /health for a liveness check. Nothing else."""

    server_version = "LedgerlineFeed/1"
    data: str = ""
    local: bool | None = None

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path == "/health":
            self._send(HTTPStatus.OK, "ok\n", "text/plain")
            return
        if url.path not in FEED_PATHS:
            self._send(HTTPStatus.NOT_FOUND, "Not found. The feed is at /feed.csv.\n", "text/plain")
            return
        query = parse_qs(url.query, keep_blank_values=True)
        token = None
        header = self.headers.get("Authorization", "")
        if header.lower().startswith("bearer "):
            token = header[7:].strip()
        elif query.get("token"):
            token = query["token"][-1].strip()
        query.pop("token", None)
        if not token:
            self._refuse("A feed token is required: send it as 'Authorization: Bearer <token>'.")
            return
        try:
            with db.connect(self.data) as con:
                user = user_for_token(con, token, local=self.local)
                if user is None:
                    self._refuse("The feed token is unknown or was revoked. Create a new one in Settings.")
                    return
                body = feed_csv(con, user, query)
        except PermissionDenied as exc:
            self._send(HTTPStatus.FORBIDDEN, exc.user_message() + "\n", "text/plain")
            return
        except NotFoundError as exc:
            self._send(HTTPStatus.NOT_FOUND, exc.user_message() + "\n", "text/plain")
            return
        except LedgerlineError as exc:
            self._send(HTTPStatus.BAD_REQUEST, exc.user_message() + "\n", "text/plain")
            return
        self._send(HTTPStatus.OK, body, "text/csv", filename="ledgerline.csv")

    def _refuse(self, message: str) -> None:
        self._send(
            HTTPStatus.UNAUTHORIZED,
            message + "\n",
            "text/plain",
            extra={"WWW-Authenticate": 'Bearer realm="Ledgerline feed"'},
        )

    def _send(
        self,
        status: HTTPStatus,
        body: str,
        mime: str,
        *,
        filename: str | None = None,
        extra: dict | None = None,
    ) -> None:
        data = body.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", f"{mime}; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        if filename:
            self.send_header("Content-Disposition", f'inline; filename="{filename}"')
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, fmt: str, *args) -> None:
        # the request line may carry ?token=...: log the path only
        log.info(
            "%s %s %s", self.address_string(), urlsplit(self.path).path, args[1] if len(args) > 1 else ""
        )


def make_server(
    data: str | os.PathLike | None,
    port: int = DEFAULT_PORT,
    address: str = "localhost",
    *,
    local: bool | None = None,
) -> ThreadingHTTPServer:
    """The feed server bound to address:port (port 0: any free port), not yet serving."""
    handler = type("BoundFeedHandler", (FeedHandler,), {"data": str(db.data_dir(data)), "local": local})
    server = ThreadingHTTPServer((address, port), handler)
    server.daemon_threads = True
    return server


def serve_feed(data: str | os.PathLike | None, port: int = DEFAULT_PORT, address: str = "localhost") -> int:
    """Serve the feed until interrupted (what `ledgerline feed-serve` and `ledgerline serve` run)."""
    server = make_server(data, port, address)
    host, bound = server.server_address[:2]
    print(f"Ledgerline feed at http://{host}:{bound}/feed.csv  (data: {db.data_dir(data)})", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


# ---------------------------------------------------------------- for the app's Settings page


def my_tokens(user: User, data: str | os.PathLike | None = None) -> list[dict]:
    """The signed-in user's feed tokens."""
    with db.connect(data) as con:
        access.require(con, user, "export")
        return list_tokens(con, user.login)


def new_token(user: User, label: str | None = None, data: str | os.PathLike | None = None) -> str:
    """A new feed token for the signed-in user (who must be allowed to export); shown once."""
    with db.transaction(data) as con:
        access.require(con, user, "export")
        return create_token(con, user.login, label=label, actor=user.login)[1]


def revoke_user_token(user: User, token_id: int, data: str | os.PathLike | None = None) -> None:
    """Revoke one of the user's tokens; an Owner (users.manage) may revoke anyone's."""
    with db.transaction(data) as con:
        own = None if access.allowed(con, user, "users.manage") else user.login
        revoke_token(con, token_id, login=own, actor=user.login)


def token_summary(row: dict) -> str:
    """One line about a token for people (CLI and Settings)."""
    used = row["last_used_at"]
    state = "revoked" if row["revoked_at"] else f"last used {used:%Y-%m-%d %H:%M}" if used else "never used"
    created = row["created_at"]
    created_text = created.astimezone(UTC).strftime("%Y-%m-%d") if isinstance(created, datetime) else created
    return (
        f"#{row['id']} {row['login']} {row['hint']}... {row['label'] or ''} (created {created_text}, {state})"
    )


if __name__ == "__main__":  # python -m pipeline.feed [port]
    sys.exit(serve_feed(None, int(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_PORT))
