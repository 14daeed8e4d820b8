"""Ranked mapping suggestions for unmapped accounts, each with its reasons; accept and preview.

Reasons, strongest first: the account's standard code (RGS reference code from an XAF
`leadReference`, SAF-T standard account) matches a line's `standard` pattern (the longest
pattern wins); the same account code is already mapped in a sibling entity; the account sits
between mapped neighbours in its code range; its name (or the source's category text)
resembles a line name or the name of an account already mapped. Scores are 0-100; reasons that
agree on a line add a little. Balance accounts are only suggested balance-sheet lines and P&L
accounts only P&L lines.
"""

from __future__ import annotations

import fnmatch
import re
import unicodedata
from dataclasses import dataclass, field
from decimal import Decimal
from difflib import SequenceMatcher
from functools import lru_cache

import duckdb

from pipeline import entities
from pipeline.db import in_transaction
from pipeline.errors import ConfigError, RefusedError
from pipeline.mapping import Rule, add_rules, ensure_fresh, unmapped
from pipeline.structure import STATEMENTS, Line, Structure, resolve_structure

_WORD = re.compile(r"[a-z]+")
# Words that say nothing about what an account holds.
_NOISE = {
    "totaal",
    "total",
    "en",
    "and",
    "van",
    "de",
    "het",
    "of",
    "the",
    "overige",
    "other",
    "te",
    "op",
    "voor",
}


@dataclass
class Suggestion:
    line: str
    line_name: str
    statement: str
    score: int
    reasons: list[str] = field(default_factory=list)

    def as_json(self) -> dict:
        return {
            "line": self.line,
            "line_name": self.line_name,
            "statement": self.statement,
            "score": self.score,
            "reasons": self.reasons,
        }


@dataclass
class AccountSuggestions:
    code: str
    name: str | None
    account_type: str | None
    standard_code: str | None
    movement: Decimal
    status: str
    suggestions: list[Suggestion] = field(default_factory=list)

    @property
    def best(self) -> Suggestion | None:
        return self.suggestions[0] if self.suggestions else None

    def as_json(self) -> dict:
        return {
            "code": self.code,
            "name": self.name,
            "account_type": self.account_type,
            "standard_code": self.standard_code,
            "movement": f"{self.movement:.2f}",
            "status": self.status,
            "suggestions": [s.as_json() for s in self.suggestions],
        }


def _normal(text: str | None) -> str:
    if not text:
        return ""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    # short tokens are codes ("1A", "u/g"), not words
    return " ".join(w for w in _WORD.findall(text) if len(w) > 2 and w not in _NOISE)


def name_score(account_text: str, name: str) -> int:
    """0..68: how much an account's (normalised) name or category resembles a line or account name.

    Every word of `name` found in the account text is strongest; the account text being part of
    a longer name counts by how much of it it covers; otherwise close spelling counts a little.
    """
    if not account_text or not name:
        return 0
    wa, wb = set(account_text.split()), set(name.split())
    if wb <= wa:
        return 68
    if wa <= wb:
        return 50 + 15 * len(wa) // len(wb)
    matcher = SequenceMatcher(None, account_text, name)
    if matcher.real_quick_ratio() < 0.7 or matcher.quick_ratio() < 0.7:
        return 0
    ratio = matcher.ratio()
    return int(30 + 25 * ratio) if ratio >= 0.7 else 0


def _scheme(code: str, scheme: str | None) -> str:
    if scheme:
        upper = scheme.upper()
        return "SAF-T" if upper.startswith("SAF") else upper
    return "RGS" if re.match(r"^[BW][A-Z][a-z]{2}", code) else "SAF-T" if code.isdigit() else ""


def _pattern_score(pattern: str) -> int:
    return 80 + min(sum(1 for ch in pattern if ch not in "*?[]"), 15)


def _code_key(code: str) -> tuple:
    return (0, int(code), code) if code.isdigit() else (1, 0, code)


class _Candidates:
    def __init__(self, structure: Structure, account_type: str | None):
        self.structure = structure
        self.allowed = (
            {"pnl"} if account_type == "pnl" else {"bs"} if account_type == "balance" else {"pnl", "bs"}
        )
        self.found: dict[str, Suggestion] = {}

    def add(self, line_code: str, score: int, reason: str) -> None:
        if not self.structure.has_line(line_code):
            return
        line = self.structure.line(line_code)
        if line.kind != "mapped" or line.statement not in self.allowed:
            return
        item = self.found.get(line_code)
        if item is None:
            self.found[line_code] = Suggestion(line.code, line.name, line.statement, score, [reason])
        elif reason not in item.reasons:
            # independent reasons that agree strengthen each other: 1 - (1-a)(1-b)
            item.reasons.append(reason)
            item.score = min(99, 100 - (100 - item.score) * (100 - score) // 100)

    def ranked(self, limit: int) -> list[Suggestion]:
        return sorted(self.found.values(), key=lambda s: (-s.score, s.line))[:limit]


def suggest(
    con: duckdb.DuckDBPyConnection,
    entity: str,
    structure: str | None = None,
    *,
    limit: int = 3,
    accounts: list[str] | None = None,
) -> list[AccountSuggestions]:
    """Suggestions for each unmapped account of the entity (newest accounts first)."""
    ent = entities.entity_by_name(con, entity)
    struct = resolve_structure(con, structure, entity_id=ent["id"])
    ensure_fresh(con, struct, [ent["id"]])
    todo = [a for a in unmapped(con, entity, struct.name) if a["status"] == "unmapped"]
    if accounts is not None:
        wanted = set(accounts)
        todo = [a for a in todo if a["code"] in wanted]
    if not todo:
        return []
    facts = {
        r[0]: r[1:]
        for r in con.execute(
            "SELECT code, standard_scheme, category FROM accounts WHERE entity_id = ?", [ent["id"]]
        ).fetchall()
    }
    mapped_here = con.execute(
        """SELECT m.account_code, m.line_code, a.name, a.account_type FROM map_accounts m
           JOIN accounts a ON a.entity_id = m.entity_id AND a.code = m.account_code
           WHERE m.structure_id = ? AND m.entity_id = ? AND m.status = 'mapped'""",
        [struct.id, ent["id"]],
    ).fetchall()
    siblings = con.execute(
        """SELECT m.account_code, m.line_code, a.name, e.name FROM map_accounts m
           JOIN accounts a ON a.entity_id = m.entity_id AND a.code = m.account_code
           JOIN entities e ON e.id = m.entity_id
           WHERE m.structure_id = ? AND m.entity_id <> ? AND e.organisation_id = ? AND m.status = 'mapped'""",
        [struct.id, ent["id"], ent["organisation_id"]],
    ).fetchall()
    by_code_sibling: dict[str, list[tuple]] = {}
    for code, line, name, ent_name in siblings:
        by_code_sibling.setdefault(code, []).append((line, name, ent_name))
    named: dict[tuple[str, str], str] = {}  # (normalised name, line) -> an example account
    for code, line, name, *_ in [*mapped_here, *siblings]:
        if name:
            named.setdefault((_normal(name), line), f"{code} {name}")
    mapped_sorted = sorted(((_code_key(c), c, line, t) for c, line, _, t in mapped_here), key=lambda r: r[0])
    patterns = [
        (line, pattern.split(":", 1)[0].upper(), pattern.split(":", 1)[1])
        for line in struct.mappable()
        for pattern in line.standard
    ]
    line_names = [(line, _normal(line.name)) for line in struct.mappable()]
    out = []
    for acc in todo:
        scheme, category = facts.get(acc["code"], (None, None))
        cands = _Candidates(struct, acc["account_type"])
        _by_standard(cands, acc, scheme, patterns)
        _by_keyword(cands, acc, category, patterns)
        _by_sibling(cands, acc, by_code_sibling)
        _by_neighbours(cands, acc, mapped_sorted, struct)
        _by_name(cands, acc, category, line_names, named)
        out.append(
            AccountSuggestions(
                acc["code"],
                acc["name"],
                acc["account_type"],
                acc["standard_code"],
                acc["movement"],
                acc["status"],
                cands.ranked(limit),
            )
        )
    return out


def _by_standard(
    cands: _Candidates, acc: dict, scheme: str | None, patterns: list[tuple[Line, str, str]]
) -> None:
    code = acc["standard_code"]
    if not code:
        return
    kind = _scheme(code, scheme)
    best: dict[str, tuple[int, str]] = {}
    for line, pat_scheme, pattern in patterns:
        if pat_scheme == kind and fnmatch.fnmatchcase(code, pattern):
            score = _pattern_score(pattern)
            if score > best.get(line.code, (0, ""))[0]:
                best[line.code] = (score, pattern)
    for line_code, (score, pattern) in best.items():
        cands.add(line_code, score, f"{kind} code {code} matches {pattern}")


@lru_cache(maxsize=2048)
def _keyword_regex(pattern: str) -> re.Pattern:
    """NAME:*debiteur* matches a word that starts with 'debiteur' (so *materiele* skips 'immateriele')."""
    core = pattern.strip("*")
    return re.compile(r"(?:^|\s)" + ".*".join(re.escape(part) for part in core.split("*")))


def _by_keyword(
    cands: _Candidates, acc: dict, category: str | None, patterns: list[tuple[Line, str, str]]
) -> None:
    """`NAME:` patterns of a line (e.g. NAME:*debiteur*) against the account's name and category."""
    texts = [(acc["name"], _normal(acc["name"])), (category, _normal(category))]
    best: dict[str, tuple[int, str, str]] = {}
    for line, pat_scheme, pattern in patterns:
        if pat_scheme != "NAME":
            continue
        for original, text in texts:
            if text and _keyword_regex(pattern).search(text):
                score = 60 + min(sum(1 for ch in pattern if ch not in "*?[]"), 10)
                if score > best.get(line.code, (0, "", ""))[0]:
                    best[line.code] = (score, pattern, original)
    for line_code, (score, pattern, original) in best.items():
        cands.add(line_code, score, f"{original!r} matches {pattern}")


def _by_sibling(cands: _Candidates, acc: dict, by_code: dict[str, list[tuple]]) -> None:
    for line, name, ent_name in by_code.get(acc["code"], []):
        same = _normal(name) == _normal(acc["name"]) and bool(name)
        cands.add(
            line,
            88 if same else 72,
            f"account {acc['code']}{' (same name)' if same else ''} is mapped here in {ent_name}",
        )


def _by_neighbours(cands: _Candidates, acc: dict, mapped_sorted: list[tuple], struct: Structure) -> None:
    key = _code_key(acc["code"])
    below = [r for r in mapped_sorted if r[0] < key and r[1][:1] == acc["code"][:1]]
    above = [r for r in mapped_sorted if r[0] > key and r[1][:1] == acc["code"][:1]]
    lo, hi = (below[-1] if below else None), (above[0] if above else None)
    if lo and hi and lo[2] == hi[2]:
        cands.add(lo[2], 70, f"between {lo[1]} and {hi[1]}, both mapped to {struct.line(lo[2]).name}")
        return
    for near in (lo, hi):
        if near:
            cands.add(near[2], 55, f"next to {near[1]}, mapped to {struct.line(near[2]).name}")


def _by_name(
    cands: _Candidates,
    acc: dict,
    category: str | None,
    line_names: list[tuple[Line, str]],
    named: dict[tuple[str, str], str],
) -> None:
    texts = [t for t in (_normal(acc["name"]), _normal(category)) if t]
    if not texts:
        return
    for line, lname in line_names:
        score = max(name_score(t, lname) for t in texts)
        if score:
            cands.add(line.code, score, f"name resembles the line {line.name!r}")
    best: dict[str, tuple[int, str]] = {}
    for (name, line_code), example in named.items():
        score = max(name_score(t, name) for t in texts)
        if score >= 60 and score > best.get(line_code, (0, ""))[0]:
            best[line_code] = (score, example)
    for line_code, (score, example) in best.items():
        cands.add(line_code, score - 3, f"name resembles account {example}")


# ---------------------------------------------------------------- accept and preview


def _choices_to_rules(con, entity: str, struct: Structure, choices: dict[str, str] | None) -> list[Rule]:
    if choices is None:
        choices = {a.code: a.best.line for a in suggest(con, entity, struct.name) if a.best}
    rules = []
    for account, line in sorted(choices.items()):
        rules.append(Rule(account, account, line, entity=entity, note="accepted suggestion"))
    return rules


def accept(
    con: duckdb.DuckDBPyConnection,
    entity: str,
    structure: str | None = None,
    choices: dict[str, str] | None = None,
    *,
    actor: str | None = None,
) -> list[int]:
    """Map accounts of one entity: `choices` {account: line} (one or many), or None for the best
    suggestion of every unmapped account. Adds one-account rules for this entity, regenerates
    its statements and records each rule in the audit log, in one transaction."""
    ent = entities.entity_by_name(con, entity)
    struct = resolve_structure(con, structure, entity_id=ent["id"])
    rules = _choices_to_rules(con, ent["name"], struct, choices)
    return add_rules(con, struct, rules, actor=actor, action="mapping.accept") if rules else []


@dataclass
class PreviewChange:
    statement: str
    code: str
    name: str
    before: Decimal | None
    after: Decimal | None

    @property
    def change(self) -> Decimal | None:
        if self.before is None or self.after is None:
            return None
        return self.after - self.before

    def as_json(self) -> dict:
        def money(v):
            return None if v is None else f"{v:.2f}"

        return {
            "statement": self.statement,
            "code": self.code,
            "name": self.name,
            "before": money(self.before),
            "after": money(self.after),
            "change": money(self.change),
        }


def _totals(con, entity: str, struct: Structure, from_month, to_month) -> dict[tuple[str, str], tuple]:
    from pipeline.reports import statement

    out = {}
    for st in STATEMENTS:
        report = statement(
            con, st, entity=entity, structure=struct.name, from_month=from_month, to_month=to_month, by="year"
        )
        for line in report.lines:
            out[(st, line.code)] = (line.name, line.total)
    return out


def preview(
    con: duckdb.DuckDBPyConnection,
    entity: str,
    structure: str | None = None,
    choices: dict[str, str] | None = None,
    *,
    from_month: str | None = None,
    to_month: str | None = None,
) -> list[PreviewChange]:
    """How each report total (P&L and cash flow over the range, balance sheet at its end) would
    change if the choices were accepted. Nothing is saved: the change is applied in a transaction
    that is rolled back."""
    if in_transaction(con):
        raise RefusedError("A preview needs its own transaction; call it outside one.")
    ent = entities.entity_by_name(con, entity)
    struct = resolve_structure(con, structure, entity_id=ent["id"])
    ensure_fresh(con, struct, [ent["id"]])
    before = _totals(con, ent["name"], struct, from_month, to_month)
    con.execute("BEGIN TRANSACTION")
    try:
        rules = _choices_to_rules(con, ent["name"], struct, choices)
        if not rules:
            raise ConfigError("Nothing to preview: no choices and no suggestions.")
        add_rules(con, struct, rules, actor="preview")
        after = _totals(con, ent["name"], struct, from_month, to_month)
    finally:
        con.execute("ROLLBACK")
    changes = []
    for key, (name, value) in after.items():
        old = before.get(key, (name, None))[1]
        if old != value:
            changes.append(PreviewChange(key[0], key[1], name, old, value))
    return changes
