"""A local Twinfield for tests and demos: OpenID Connect, the cluster, and the SOAP services.

Contract facts (Twinfield's developer documentation; the WSDLs Twinfield publishes, stored in
../shared/contracts/twinfield):
- OpenID Connect authorization code at /auth/authentication/connect/authorize, tokens at
  .../connect/token (client id and secret as HTTP Basic), access tokens one hour, refresh tokens
  not replaced on use; .../connect/accesstokenvalidation (token as ?token= or a POSTed form)
  answers the token's claims,
  among them twf.clusterUrl and twf.organisationCode;
- SOAP 1.1 on the cluster: /webservices/processxml.asmx (ProcessXmlString, header Header
  {AccessToken, CompanyCode}), /webservices/finder.asmx (Search: type, pattern, field,
  firstRow, maxRows, options; answer data {TotalRows, Columns, Items}),
  /webservices/DeletedTransactionsService.svc (Query with an xsi:typed GetDeletedTransactions,
  header Authentication);
- ProcessXml requests: <list><type>offices</type></list>, <read><type>office</type>...,
  <columns code="030_2"> browse requests (see connectors.twinfield.parse for the answer);
- throttling: a credit bucket per organisation; a request that finds it empty answers 429 with
  Retry-After (seconds until enough credits are back).

Assumptions where Twinfield does not document a detail (the connector is tolerant of each):
- bucket size, refill rate and the cost of each request (browse 5 credits, others 1) are ours;
- an expired or unknown access token answers HTTP 401 with a SOAP fault;
- browse 040_1 answers one row per period and account with the period's total (basevaluesigned);
- the office read answers <office><code/><name/><basecurrency/></office>;
- an office the user lost access to answers result="0" (browse, read) or NoAccessToOffice
  (finder) and is no longer in the office list;
- a deleted transaction is listed with its daybook, number and deletion time.

The books are the demo organisation's (connectors.demo), one office per demo entity, with every
year's opening balance in period 0 of that year.
"""

from __future__ import annotations

import math
import threading
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from lxml import etree

from connectors.demo.books import (
    Books,
    Entry,
    demo_chart,
    dimensions,
    entries_from_frames,
)
from connectors.demo.entities import PROFILES
from connectors.http import Clock, LocalServer, SandboxRequest, SandboxResponse
from connectors.oauth import SandboxAuthority
from connectors.sandbox_kit import BooksSandbox, serve
from connectors.twinfield.parse import SAFE_PARSER

DEFAULT_OFFICES = {"NL001": "demo-retail", "NL002": "demo-services", "US001": "demo-inc"}
DAYBOOKS = {"VRK": "VRK", "INK": "INK", "BNK": "BNK", "MEM": "MEMO", "LON": "SALARIS", "OB": "BEGINBAL"}
SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
TNS = "http://www.twinfield.com/"
SHARED = "http://schemas.datacontract.org/2004/07/Twinfield.WebServices.Shared"
DELETED = "http://schemas.datacontract.org/2004/07/Twinfield.WebServices.DeletedTransactionsService"
ORGANISATION = "LEDGERLINE-DEMO"
CONNECT = "/auth/authentication/connect"  # OpenID Connect: sign-in, tokens, token validation


def soap(body: str, status: int = 200, headers: dict[str, str] | None = None) -> SandboxResponse:
    envelope = f'<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="{SOAP}"><soap:Body>{body}</soap:Body></soap:Envelope>'
    return SandboxResponse(
        status, envelope.encode("utf-8"), {"Content-Type": "text/xml; charset=utf-8", **(headers or {})}
    )


def soap_fault(status: int, text: str, headers: dict[str, str] | None = None) -> SandboxResponse:
    return soap(
        f"<soap:Fault><faultcode>soap:Client</faultcode><faultstring>{escape(text)}</faultstring></soap:Fault>",
        status,
        headers,
    )


class CreditBucket:
    """Twinfield's throttle: credits refill at a steady rate up to a ceiling; a request costs some."""

    def __init__(self, clock: Clock, capacity: float, refill: float):
        self.clock, self.capacity, self.refill = clock, capacity, refill
        self.credits, self.at = capacity, clock.time()
        self.refused = 0
        self._storm: list[float] = []
        self._lock = threading.Lock()

    def storm(self, calls: int, retry_after: float = 2.0) -> None:
        with self._lock:
            self._storm.extend([retry_after] * calls)

    def spend(self, cost: float) -> float | None:
        """None when the request may go (credits taken), else the seconds until it could."""
        with self._lock:
            now = self.clock.time()
            self.credits = min(self.capacity, self.credits + (now - self.at) * self.refill)
            self.at = now
            if self._storm:
                self.refused += 1
                return self._storm.pop(0)
            if self.credits < cost:
                self.refused += 1
                return (cost - self.credits) / self.refill
            self.credits -= cost
            return None


class _Office:
    def __init__(self, code: str, demo_id: str):
        self.code, self.demo_id = code, demo_id
        self.books = Books({})
        self.transactions: dict[tuple[str, int], dict[str, Any]] = {}
        self.by_entry: dict[str, tuple[str, int]] = {}
        self.deleted: list[tuple[float, str, int]] = []
        self.available = True


class TwinfieldSandbox(BooksSandbox):
    """Twinfield on 127.0.0.1: sign-in, token validation, a cluster with the SOAP services."""

    authorize_path = f"{CONNECT}/authorize"
    token_path = f"{CONNECT}/token"
    opening = "all"  # every year's opening balance is period 0 of that year

    def __init__(
        self,
        *,
        client_id: str = "ledgerline-twinfield-sandbox",
        client_secret: str = "twinfield-sandbox-secret",
        as_of: str | date = "2024-03-31",
        seed: int = 42,
        clock: Clock | None = None,
        offices: dict[str, str] | None = None,
        credits: float = 100.0,
        refill: float = 5.0,
        finder_page: int = 100,
        access_lifetime: int = 3600,
        port: int = 0,
    ):
        self._setup(clock, seed, as_of)
        self.finder_page = finder_page
        self.auth = SandboxAuthority(
            client_id=client_id,
            client_secret=client_secret,
            clock=self.clock,
            access_lifetime=access_lifetime,
            rotate=False,
            token_auth="client_secret_basic",
        )
        self.bucket = CreditBucket(self.clock, credits, refill)
        self.offices: dict[str, _Office] = {}
        self.requests: list[tuple[str, str]] = []  # (service, what)
        for code, demo_id in (offices or DEFAULT_OFFICES).items():
            office = _Office(code, demo_id)
            self.offices[code] = office
            self._open(office)
        self.server = LocalServer(self.handle, port=port, clock=self.clock)

    @property
    def cluster(self) -> str:
        return f"{self.url}/c3"

    # -- controls for tests

    def change_entry(self, code: str, key: str, lines: tuple[Any, ...]) -> dict[str, int]:
        """Book an entry again with other lines (a provisional transaction edited), now."""
        office = self.offices[code]
        new = dict(office.books.entries)
        new[key] = replace(new[key], lines=lines)
        return self._record(office, office.books.replace(new))

    def replace_ledger(self, code: str, frames: dict[str, Any]) -> int:
        office = self.offices[code]
        with self._lock:
            office.books, office.transactions, office.by_entry, office.deleted = Books({}), {}, {}, []
            self._record(
                office, office.books.replace(entries_from_frames(frames, opening="all")), initial=True
            )
            return sum(len(t["lines"]) for t in office.transactions.values())

    def remove_office(self, code: str) -> None:
        """The user lost access to the office (or it was removed)."""
        self.offices[code].available = False

    def line_count(self, code: str, *, opening: bool | None = None) -> int:
        return sum(
            len(t["lines"])
            for t in self.offices[code].transactions.values()
            if opening is None or (t["period"] == 0) == opening
        )

    def calls(self, what: str | None = None) -> int:
        with self._lock:
            return sum(1 for _, w in self.requests if what is None or w == what)

    # -- the books as transactions

    def _ledgers(self) -> dict[str, _Office]:
        return self.offices

    def _remove(self, office: _Office, entry: Entry, now: float) -> None:
        key = office.by_entry.pop(entry.key)
        del office.transactions[key]
        office.deleted.append((now, *key))

    def _save(self, office: _Office, entry: Entry, stamp: float) -> None:
        key = (DAYBOOKS.get(entry.journal, "MEMO"), int(entry.number))
        currency = PROFILES[office.demo_id].currency
        office.transactions[key] = {
            "date": entry.day,
            "year": entry.fiscal_year or entry.day.year,
            "period": 0 if entry.opening else entry.day.month,
            "modified": stamp,
            "currency": currency,
            "document": entry.document,
            "lines": entry.lines,
        }
        office.by_entry[entry.key] = key

    # -- HTTP

    def _received(self, request: SandboxRequest) -> None:
        pass  # calls are counted per service and request kind, as they are answered

    def _api(self, request: SandboxRequest, path: str) -> SandboxResponse:
        if path == f"{CONNECT}/accesstokenvalidation":
            return self._validation(request)
        if not path.startswith("/c3/webservices/") or request.method != "POST":
            return SandboxResponse(404, b"Not Found", {"Content-Type": "text/plain"})
        service = path.rsplit("/", 1)[1].lower()
        try:
            envelope = etree.fromstring(request.body, SAFE_PARSER)
        except etree.XMLSyntaxError:
            return soap_fault(400, "The request is not a SOAP envelope.")
        token = _first(envelope, "AccessToken")
        if not self.auth.valid(token):
            return soap_fault(401, "Access denied: the access token is invalid or has expired.")
        body = envelope.find(f"{{{SOAP}}}Body")
        operation = body[0] if body is not None and len(body) else None
        if operation is None:
            return soap_fault(400, "The SOAP body is empty.")
        cost = (
            5 if service == "processxml.asmx" and "<columns" in (_first(operation, "xmlRequest") or "") else 1
        )
        wait = self.bucket.spend(cost)
        if wait is not None:
            return soap_fault(
                429,
                "Too many requests: the credit bucket is empty.",
                {"Retry-After": str(max(1, math.ceil(wait)))},
            )
        company = _first(envelope, "CompanyCode")
        if service == "processxml.asmx":
            return self._process_xml(company, _first(operation, "xmlRequest") or "")
        if service == "finder.asmx":
            return self._finder(company, operation)
        if service == "deletedtransactionsservice.svc":
            return self._deleted(operation)
        return soap_fault(404, f"No service {service}.")

    def _validation(self, request: SandboxRequest) -> SandboxResponse:
        token = (
            request.arg("token") or (request.form().get("token") if request.method == "POST" else "") or ""
        )
        expires = self.auth.access_tokens.get(token)
        if expires is None or expires <= self.clock.time():
            return SandboxResponse.json({"Message": "The access token is not valid."}, 400)
        with self._lock:
            self.requests.append(("validation", "validation"))
        return SandboxResponse.json(
            {
                "iss": self.url,
                "exp": int(expires),
                "client_id": self.auth.client_id,
                "scope": ["openid", "twf.user", "twf.organisation", "twf.organisationUser", "offline_access"],
                "twf.organisationId": "c6b1b8a0-0000-4000-8000-000000000001",
                "twf.organisationCode": ORGANISATION,
                "twf.clusterUrl": self.cluster,
            }
        )

    def _answer(self, xml: str) -> SandboxResponse:
        return soap(
            f'<ProcessXmlStringResponse xmlns="{TNS}"><ProcessXmlStringResult>{escape(xml)}</ProcessXmlStringResult></ProcessXmlStringResponse>'
        )

    def _process_xml(self, company: str | None, text: str) -> SandboxResponse:
        try:
            request = etree.fromstring(text.encode("utf-8"), SAFE_PARSER)
        except etree.XMLSyntaxError:
            return self._answer('<result result="0" msg="The request is not XML."/>')
        if request.tag == "list" and request.findtext("type") == "offices":
            with self._lock:
                self.requests.append(("processxml", "offices"))
            items = "".join(
                f"<office name={quoteattr(PROFILES[o.demo_id].name)} shortname={quoteattr(o.demo_id)}>{o.code}</office>"
                for o in self.offices.values()
                if o.available
            )
            return self._answer(f'<offices result="1">{items}</offices>')
        office = self.offices.get(
            request.findtext("code") or request.findtext("office") or _office_filter(request) or company or ""
        )
        if office is None or not office.available:
            name = escape(request.findtext("code") or _office_filter(request) or company or "")
            return self._answer(
                f'<{request.tag} result="0" msg="Administratie {name} bestaat niet of u heeft geen toegang."/>'
            )
        if request.tag == "read" and request.findtext("type") == "office":
            with self._lock:
                self.requests.append(("processxml", "office"))
            profile = PROFILES[office.demo_id]
            return self._answer(
                f'<office result="1"><code>{office.code}</code><name>{escape(profile.name)}</name>'
                f"<shortname>{escape(office.demo_id)}</shortname><basecurrency>{profile.currency}</basecurrency></office>"
            )
        if request.tag == "columns":
            code = request.get("code") or ""
            with self._lock:
                self.requests.append(("processxml", f"browse {code}"))
            return self._answer(self._browse(office, code, request))
        return self._answer(f'<{request.tag} result="0" msg="Request not supported by the sandbox."/>')

    def _browse(self, office: _Office, code: str, request: etree._Element) -> str:
        filters = {}
        fields = []
        for column in request.iterfind("column"):
            name = column.findtext("field") or ""
            if (column.findtext("visible") or "true") != "false":
                fields.append(name)
            if column.findtext("operator"):
                filters[name] = (
                    column.findtext("operator"),
                    column.findtext("from") or "",
                    column.findtext("to") or "",
                )
        with self._lock:
            rows = list(self._lines(office, filters))
        if code == "040_1":
            totals: dict[tuple[str, str], Decimal] = {}
            for _key, t, _i, line in rows:
                slot = (f"{t['year']}/{t['period']:02d}", line.account)
                totals[slot] = totals.get(slot, Decimal("0.00")) + line.amount
            out = [
                {
                    "fin.trs.head.yearperiod": yp,
                    "fin.trs.line.dim1": account,
                    "fin.trs.line.basevaluesigned": f"{amount:.2f}",
                }
                for (yp, account), amount in sorted(totals.items())
            ]
            trs = "".join(
                "<tr>" + "".join(f'<td field="{f}">{escape(r.get(f, ""))}</td>' for f in fields) + "</tr>"
                for r in out
            )
        elif code == "030_2":
            pnl = {a.code for a in demo_chart(office.demo_id) if not a.balance_sheet}
            trs = "".join(self._tr(office, key, t, i, line, fields, pnl) for key, t, i, line in rows)
        else:
            return f'<browse result="0" msg="Browse code {escape(code)} is not available in the sandbox."/>'
        header = "<th>" + "".join(f'<td label="{escape(f)}">{escape(f)}</td>' for f in fields) + "</th>"
        count = trs.count("<tr>")
        return f'<browse result="1" first="1" last="{count}" total="{count}" office="{office.code}" code="{code}">{header}{trs}</browse>'

    def _lines(self, office: _Office, filters: dict[str, tuple[str, str, str]]):
        yearperiod = filters.get("fin.trs.head.yearperiod")
        modified = filters.get("fin.trs.head.modified")
        for key, t in office.transactions.items():
            if yearperiod is not None:
                yp = f"{t['year']}/{t['period']:02d}"
                low, high = yearperiod[1], yearperiod[2] or yearperiod[1]
                if not low <= yp <= high:
                    continue
            if modified is not None:
                stamp = datetime.fromtimestamp(t["modified"], UTC).strftime("%Y%m%d%H%M%S")
                if stamp < modified[1] or (modified[2] and stamp > modified[2]):
                    continue
            for i, line in enumerate(t["lines"], 1):
                yield key, t, i, line

    def _tr(
        self,
        office: _Office,
        key: tuple[str, int],
        t: dict[str, Any],
        i: int,
        line: Any,
        fields: list[str],
        pnl: set[str],
    ) -> str:
        values = {
            "fin.trs.head.office": office.code,
            "fin.trs.head.code": key[0],
            "fin.trs.head.number": str(key[1]),
            "fin.trs.head.year": str(t["year"]),
            "fin.trs.head.period": str(t["period"]),
            "fin.trs.head.yearperiod": f"{t['year']}/{t['period']:02d}",
            "fin.trs.head.date": t["date"].strftime("%Y%m%d"),
            "fin.trs.head.modified": datetime.fromtimestamp(t["modified"], UTC).strftime("%Y%m%d%H%M%S"),
            "fin.trs.head.curcode": line.currency_fc or t["currency"],
            "fin.trs.head.status": "final",
            "fin.trs.line.dim1": line.account,
            "fin.trs.line.dim2": line.cost_centre or "",
            "fin.trs.line.dim2type": "KPL" if line.cost_centre and line.account in pnl else "",
            "fin.trs.line.dim3": line.project or "",
            "fin.trs.line.dim3type": "PRJ" if line.project else "",
            "fin.trs.line.basevaluesigned": f"{line.amount:.2f}",
            "fin.trs.line.valuesigned": f"{(line.amount_fc if line.amount_fc is not None else line.amount):.2f}",
            "fin.trs.line.description": line.description or "",
            "fin.trs.line.invnumber": t["document"] or "",
        }
        cells = "".join(f'<td field="{f}">{escape(values.get(f, ""))}</td>' for f in fields)
        return f"<tr><key><office>{office.code}</office><code>{key[0]}</code><number>{key[1]}</number><line>{i}</line></key>{cells}</tr>"

    def _finder(self, company: str | None, operation: etree._Element) -> SandboxResponse:
        kind = _first(operation, "type") or ""
        options = {}
        for array in operation.iter(f"{{{TNS}}}ArrayOfString"):
            values = [s.text or "" for s in array.iterfind(f"{{{TNS}}}string")]
            if len(values) >= 2:
                options[values[0]] = values[1]
        office = self.offices.get(options.get("office") or company or "")
        with self._lock:
            self.requests.append(("finder", f"{kind} {options.get('dimtype', '')}".strip()))
        if office is None or not office.available:
            result = "<SearchResult><MessageOfErrorCodes><Type>Error</Type><Text>No access to the office.</Text><Code>NoAccessToOffice</Code></MessageOfErrorCodes></SearchResult>"
            return soap(f'<SearchResponse xmlns="{TNS}">{result}</SearchResponse>')
        dimtype = options.get("dimtype", "")
        if kind != "DIM":
            rows: list[tuple[str, str]] = []
        elif dimtype in ("BAS", "PNL"):
            rows = [
                (a.code, a.name) for a in demo_chart(office.demo_id) if a.balance_sheet == (dimtype == "BAS")
            ]
        else:
            axis = {"KPL": "cost_centre", "PRJ": "project"}.get(dimtype)
            rows = [(code, name) for a, code, name in dimensions() if a == axis]
        first = max(1, int(_first(operation, "firstRow") or 1))
        count = min(self.finder_page, max(1, int(_first(operation, "maxRows") or 100)))
        chunk = rows[first - 1 : first - 1 + count]
        items = "".join(
            f"<ArrayOfString><string>{escape(c)}</string><string>{escape(n)}</string></ArrayOfString>"
            for c, n in chunk
        )
        data = f"<data><TotalRows>{len(rows)}</TotalRows><Columns><string>Code</string><string>Name</string></Columns><Items>{items}</Items></data>"
        return soap(f'<SearchResponse xmlns="{TNS}"><SearchResult/>{data}</SearchResponse>')

    def _deleted(self, operation: etree._Element) -> SandboxResponse:
        company = _first(operation, "CompanyCode") or ""
        office = self.offices.get(company)
        with self._lock:
            self.requests.append(("deleted", "deleted"))
        if office is None or not office.available:
            return soap_fault(500, f"No access to office {company}.")
        start = date.fromisoformat((_first(operation, "DateFrom") or "1900-01-01")[:10])
        end = date.fromisoformat((_first(operation, "DateTo") or "9999-12-31")[:10])
        items = "".join(
            f"<b:DeletedTransaction><b:Daybook>{escape(daybook)}</b:Daybook>"
            f"<b:DeletionDate>{datetime.fromtimestamp(at, UTC).strftime('%Y-%m-%dT%H:%M:%S')}</b:DeletionDate>"
            f"<b:Number>{number}</b:Number></b:DeletedTransaction>"
            for at, daybook, number in office.deleted
            if start <= datetime.fromtimestamp(at, UTC).date() <= end
        )
        result = (
            f'<QueryResult xmlns:i="http://www.w3.org/2001/XMLSchema-instance" xmlns:b="{DELETED}" '
            f'i:type="b:GetDeletedTransactionsResult"><b:DeletedTransactions>{items}</b:DeletedTransactions></QueryResult>'
        )
        return soap(f'<QueryResponse xmlns="{TNS}">{result}</QueryResponse>')


def _first(element: etree._Element, local: str) -> str | None:
    for node in element.iter():
        if isinstance(node.tag, str) and node.tag.rpartition("}")[2] == local:
            return (node.text or "").strip()
    return None


def _office_filter(request: etree._Element) -> str | None:
    for column in request.iterfind("column"):
        if column.findtext("field") == "fin.trs.head.office":
            return column.findtext("from")
    return None


def main(argv: list[str] | None = None) -> None:
    """Serve the sandbox until interrupted (for trying the Twinfield source without an account)."""
    serve(TwinfieldSandbox, argv, name="Twinfield")


if __name__ == "__main__":
    main()
