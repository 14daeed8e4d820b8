"""Shared rendering for the pages: the signed-in user, cached service calls, formats, badges.

Pages call `pipeline.app_services` (always with the user) and render with these helpers, so
every page formats money, times and statuses the same way.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import streamlit as st

from pipeline import app_services as svc
from pipeline.access import User
from pipeline.errors import LedgerlineError


def _use_navigation_only() -> None:
    """Route every visit through app.py (its sign-in gate and st.navigation).

    Streamlit treats a `pages/` folder beside the main script as a legacy multipage app until
    the main script first calls st.navigation; a first visit to a deep link (/reports) would run
    the page script directly, without the sign-in gate. The first page script to import this
    module (the first visit after the server starts) switches that legacy mode off and reruns,
    so app.py routes the visit.
    """
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()


_use_navigation_only()

USER_KEY = "ledgerline_user"
ORG_KEY = "ledgerline_org"
AUTH_KEY = "ledgerline_auth"

STATUS = {
    "succeeded": ("Succeeded", "green", ":material/check_circle:"),
    "failed": ("Failed", "red", ":material/error:"),
    "running": ("In progress", "blue", ":material/sync:"),
    "waiting": ("Waiting…", "orange", ":material/schedule:"),
    None: ("Never imported", "gray", ":material/radio_button_unchecked:"),
}
SOURCE_STATUS = {
    "available": ("Available", "green", ":material/check_circle:"),
    "attention": ("Requires attention", "orange", ":material/warning:"),
    "failed": ("Connection failed", "red", ":material/error:"),
    "disconnected": ("Disconnected", "gray", ":material/link_off:"),
}
TRIGGERS = {"scheduled": "Scheduled", "manual": "Manual", "upload": "Upload", "reset": "Reset"}

_CSS = """
<style>
.ll-table { border-collapse: collapse; width: 100%; font-size: 0.9rem; font-variant-numeric: tabular-nums; }
.ll-table th { text-align: right; font-weight: 600; padding: 6px 10px; border-bottom: 2px solid #d0d7de;
  white-space: nowrap; position: sticky; top: 0; background: var(--background-color, #fff); }
.ll-table th:first-child, .ll-table td:first-child { text-align: left; }
.ll-table td { padding: 4px 10px; text-align: right; white-space: nowrap; border-bottom: 1px solid #eef1f4; }
.ll-table tr.group td { font-weight: 600; background: rgba(127,127,127,0.06); }
.ll-table tr.formula td { font-weight: 700; border-top: 1px solid #8c959f; }
.ll-table tr.reserved td { color: #8c959f; font-style: italic; }
.ll-table td.neg { color: #cf222e; }
.ll-table td.zero { color: #afb8c1; }
.ll-table td.t, .ll-table th.t { text-align: left; }
.ll-table td.total { font-weight: 600; background: rgba(127,127,127,0.04); }
.ll-scroll { overflow-x: auto; max-height: 640px; overflow-y: auto; border: 1px solid #eef1f4; border-radius: 8px; }
.ll-code { color: #8c959f; font-size: 0.75rem; margin-left: 6px; }
</style>
"""


def style() -> None:
    """Page-wide styles for statement tables."""
    st.html(_CSS)


# ---------------------------------------------------------------- session


def current_user() -> User:
    """The user app.py signed in for this session."""
    user = st.session_state.get(USER_KEY)
    if user is None:
        st.error("You are not signed in.")
        st.stop()
    return user


def current_org() -> int | None:
    """The organisation chosen in the sidebar (None when the user has none)."""
    return st.session_state.get(ORG_KEY)


VERSION_KEY = "ledgerline_version"


def refresh_version() -> tuple:
    """Read the warehouse's data version (once per run: app.py calls this, and so does a fragment
    that reruns on its own)."""
    st.session_state[VERSION_KEY] = svc.data_version()
    return st.session_state[VERSION_KEY]


def version() -> tuple:
    """The data version of this run: cached results are reused until it changes."""
    found = st.session_state.get(VERSION_KEY)
    return found if found is not None else refresh_version()


@st.cache_data(ttl=120, show_spinner=False, max_entries=512)
def _cached_call(name: str, data: str, data_version: tuple, args: tuple, kwargs: tuple) -> Any:
    return getattr(svc, name)(*args, **dict(kwargs))


def cached(name: str, *args: Any, **kwargs: Any) -> Any:
    """`app_services.<name>(*args, **kwargs)`, cached until the data version changes (2 min at most).

    Access is checked inside the service, and the user is part of the cache key, so a cached
    answer is never shown to someone who may not see it.
    """
    return _cached_call(name, str(svc.data_path()), version(), args, tuple(sorted(kwargs.items())))


def attempt(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[bool, Any]:
    """Call a service; a refusal or bad input is shown as an error and returns (False, error)."""
    try:
        return True, fn(*args, **kwargs)
    except LedgerlineError as exc:
        st.error(exc.user_message(), icon=":material/error:")
        return False, exc


# ---------------------------------------------------------------- formats


def md(text: object) -> str:
    """Text from the data (names, reasons) made safe inside Markdown: no stray italics or links."""
    out = str(text if text is not None else "")
    for ch in "\\`*_[]<>#|~$":
        out = out.replace(ch, "\\" + ch)
    return out


def money(value: Decimal | None, *, blank: str = "") -> str:
    """1,234,567.89 (two decimals, thousands separators); negatives with a minus sign."""
    if value is None:
        return blank
    return f"{value:,.2f}"


def number(value: int | None) -> str:
    return "" if value is None else f"{value:,}"


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def relative(moment: datetime | None, now: datetime | None = None) -> str:
    """'2 hours ago', 'just now', 'in 5 minutes'."""
    if moment is None:
        return "never"
    now = now or datetime.now(UTC)
    seconds = (now - _aware(moment)).total_seconds()
    future = seconds < 0
    seconds = abs(seconds)
    if seconds < 45:
        return "just now" if not future else "in a moment"
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size * 0.95 or unit == "minute":
            n = max(1, round(seconds / size))
            text = f"{n} {unit}{'s' if n != 1 else ''}"
            return f"in {text}" if future else f"{text} ago"
    return ""


def local_time(moment: datetime | None, tz: str | None = None) -> str:
    """'2024-03-11 14:05' in the organisation's time zone."""
    if moment is None:
        return ""
    from zoneinfo import ZoneInfo

    local = _aware(moment).astimezone(ZoneInfo(tz)) if tz else _aware(moment)
    return local.strftime("%Y-%m-%d %H:%M")


def duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes} min {secs:02d} s"


def status_badge(status: str | None) -> None:
    label, color, icon = STATUS.get(status, STATUS[None])
    st.badge(label, color=color, icon=icon)


def source_badge(status: str) -> None:
    label, color, icon = SOURCE_STATUS.get(status, (status, "gray", None))
    st.badge(label, color=color, icon=icon)


def status_text(status: str | None) -> str:
    label, color, _ = STATUS.get(status, STATUS[None])
    return f":{color}[{label}]"


def months_label(month: str) -> str:
    """'2024-03' -> 'Mar 2024'."""
    year, mon = month.split("-")
    return date(int(year), int(mon), 1).strftime("%b %Y")


# ---------------------------------------------------------------- tables


def statement_html(lines: Iterable[Any], labels: list[str], *, total_label: str = "Total") -> str:
    """A statement as an HTML table: indented lines, bold groups and formulas, right-aligned
    amounts with thousands separators, negatives in red, reserved lines muted."""
    head = "".join(f"<th>{html.escape(label)}</th>" for label in [*labels, total_label])
    body = []
    for ln in lines:
        css = (
            "group"
            if ln.kind == "group"
            else "formula"
            if ln.kind in ("formula", "result", "cash", "cash_open")
            else "reserved"
            if ln.kind in ("unmapped", "excluded")
            else ""
        )
        indent = 14 * ln.level
        name = (
            f'<td style="padding-left:{10 + indent}px">{html.escape(ln.name)}'
            f'<span class="ll-code">{html.escape(ln.code)}</span></td>'
        )
        cells = []
        for value in [*(ln.amounts.get(label) for label in labels)]:
            cells.append(_cell(value))
        cells.append(_cell(ln.total, extra="total"))
        body.append(f'<tr class="{css}">{name}{"".join(cells)}</tr>')
    return (
        f'<div class="ll-scroll"><table class="ll-table"><thead><tr><th>Line</th>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def _cell(value: Decimal | None, extra: str = "") -> str:
    tone = "neg" if value is not None and value < 0 else "zero" if value == 0 else ""
    css = " ".join(x for x in (extra, tone) if x)
    return f'<td class="{css}">{money(value)}</td>'


def money_columns(names: Iterable[str]) -> dict[str, Any]:
    """Column config that shows Decimal columns as right-aligned text with separators."""
    return {name: st.column_config.TextColumn(name, width="small") for name in names}


def table_rows(rows: list[dict], money_keys: Iterable[str]) -> list[dict]:
    """Rows with the money fields formatted (for st.dataframe, which would show floats)."""
    keys = set(money_keys)
    return [{k: (money(v) if k in keys else v) for k, v in r.items()} for r in rows]
