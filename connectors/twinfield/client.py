"""Network access to Twinfield: OpenID Connect tokens, the cluster, and SOAP through zeep.

The contract (Twinfield's developer documentation and the WSDLs it publishes, stored in
../shared/contracts/twinfield):

- sign-in at login.twinfield.com/auth/authentication/connect/authorize (OpenID Connect,
  authorization code, scopes openid twf.user twf.organisation twf.organisationUser
  offline_access), tokens at .../connect/token with the client id and secret as HTTP Basic;
  access tokens live an hour; the refresh token stays valid (it is not replaced on use);
- .../connect/accesstokenvalidation with the token (GET ?token= or a POSTed form) says which
  cluster serves the organisation (`twf.clusterUrl`); every SOAP service lives on that cluster
  under /webservices/;
- ProcessXml (processxml.asmx, ProcessXmlString) and Finder (finder.asmx, Search) take the
  SOAP header Header {AccessToken, CompanyCode}; DeletedTransactionsService.svc (Query with a
  GetDeletedTransactions query) takes Authentication {AccessToken, CompanyCode};
- requests are throttled with a credit bucket per organisation: a request that finds the
  bucket empty answers 429 with Retry-After.

zeep builds and reads the envelopes from Ledgerline's own minimal WSDLs (connectors/twinfield/
wsdl: the operations used, with Twinfield's names, namespaces and actions); the HTTP goes through
the shared `ApiClient`, so retries, Retry-After and call counting are the same as for REST.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import zeep
from lxml import etree
from zeep.transports import Transport

from connectors.http import ApiClient, Clock, HttpPolicy, loads_decimal
from connectors.oauth import TokenManager
from connectors.twinfield import parse
from pipeline.errors import AuthError, FatalSourceError, LedgerlineError, RetriableSourceError

VENDOR = "Twinfield"
WSDL = Path(__file__).with_name("wsdl")
TNS = "http://www.twinfield.com/"
DELETED_NS = "http://schemas.datacontract.org/2004/07/Twinfield.WebServices.DeletedTransactionsService"
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
FINDER_PAGE = 100  # rows per finder call


@dataclass(frozen=True)
class Hosts:
    authorize: str
    token: str
    validation: str


def hosts(config: Mapping[str, Any]) -> Hosts:
    base = str(config.get("base_url") or "https://login.twinfield.com").rstrip("/")
    root = f"{base}/auth/authentication/connect"
    return Hosts(f"{root}/authorize", f"{root}/token", f"{root}/accesstokenvalidation")


def _fault_text(response: httpx.Response) -> str:
    try:
        root = parse.xml(response.content, where="SOAP fault")
    except Exception:  # any unreadable body: no text to show
        return ""
    return " ".join(t.strip() for t in root.xpath("//*[local-name()='faultstring']/text()") if t.strip())


def map_error(response: httpx.Response) -> LedgerlineError:
    status = response.status_code
    detail = _fault_text(response)
    suffix = f": {detail}" if detail else ""
    if status == 401:
        return AuthError(
            f"Twinfield rejected the access token (HTTP 401){suffix}.",
            guidance="Reconnect the source to sign in at Twinfield again.",
        )
    if status == 429 or status >= 502:
        return RetriableSourceError(f"Twinfield answered HTTP {status}{suffix}.")
    return FatalSourceError(f"Twinfield answered HTTP {status}{suffix}.")


class _Transport(Transport):
    """zeep's transport, sending through the shared ApiClient (pacing, retries, counting)."""

    def __init__(self, api: ApiClient):
        super().__init__()
        self.api = api

    def post(self, address, message, headers):
        return self.api.request("POST", address, content=message, headers=headers)


class TwinfieldClient:
    """Calls one Twinfield organisation's cluster with a token manager."""

    def __init__(
        self,
        where: Hosts,
        tokens: TokenManager,
        *,
        clock: Clock | None = None,
        policy: HttpPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
    ):
        self.where, self.tokens = where, tokens
        # No automatic re-authentication: the token is inside the envelope, so a call is rebuilt
        # with a fresh token instead (`_call`).
        self.api = ApiClient(
            "",
            vendor=VENDOR,
            policy=policy or HttpPolicy(max_parallel=1, max_wait=900.0),
            clock=clock,
            error=map_error,
            transport=transport,
        )
        self.cluster: str | None = None
        self.organisation: str | None = None
        settings = zeep.Settings(strict=False, xml_huge_tree=True, forbid_dtd=True)
        zeep_transport = _Transport(self.api)
        self._process = zeep.Client(
            str(WSDL / "processxml.wsdl"), transport=zeep_transport, settings=settings
        )
        self._finder = zeep.Client(str(WSDL / "finder.wsdl"), transport=zeep_transport, settings=settings)
        self._deleted = zeep.Client(
            str(WSDL / "deletedtransactions.wsdl"), transport=zeep_transport, settings=settings
        )

    def close(self) -> None:
        self.api.close()

    # -- the cluster

    def validate(self) -> dict[str, Any]:
        """The token validation call: which cluster and organisation the token is for."""
        token = self.tokens.access_token()
        # POSTed as a form: a token in the query string would end up in HTTP logs.
        response = self.api.request(
            "POST", self.where.validation, data={"token": token}, headers={"Accept": "application/json"}
        )
        try:
            body = loads_decimal(response.content)
        except ValueError as exc:
            raise FatalSourceError(
                "Twinfield's token validation answered something that is not JSON."
            ) from exc
        cluster = body.get("twf.clusterUrl") if isinstance(body, dict) else None
        if not cluster:
            raise FatalSourceError(
                "Twinfield's token validation did not say which cluster serves the organisation."
            )
        self.cluster = str(cluster).rstrip("/")
        self.organisation = body.get("twf.organisationCode")
        return body

    def _address(self, service: str) -> str:
        if self.cluster is None:
            self.validate()
        return f"{self.cluster}/webservices/{service}"

    def _call(self, make: Callable[[str], Any]) -> Any:
        """Run one SOAP call with the current token; after a 401, once more with a new one."""
        try:
            return make(self.tokens.access_token())
        except AuthError:
            self.tokens.reauth()
            return make(self.tokens.access_token())

    # -- services

    def process_xml(self, office: str | None, request: str) -> etree._Element:
        """ProcessXmlString: send an XML request, get the parsed XML answer."""
        service = self._process.create_service(
            "{http://www.twinfield.com/}ProcessXmlSoap", self._address("processxml.asmx")
        )
        header = self._process.get_element(f"{{{TNS}}}Header")

        def make(token: str) -> Any:
            return service.ProcessXmlString(
                xmlRequest=request, _soapheaders=[header(AccessToken=token, CompanyCode=office)]
            )

        return parse.xml(self._call(make) or "", where="ProcessXml answer")

    def search(self, office: str, kind: str, options: Sequence[tuple[str, str]]) -> list[list[str]]:
        """Every row the finder has for a type (e.g. DIM with dimtype BAS), a page at a time."""
        service = self._finder.create_service(
            "{http://www.twinfield.com/}FinderSoap", self._address("finder.asmx")
        )
        header = self._finder.get_element(f"{{{TNS}}}Header")
        array = self._finder.get_type(f"{{{TNS}}}ArrayOfArrayOfString")
        strings = self._finder.get_type(f"{{{TNS}}}ArrayOfString")
        opts = array([strings(["office", office])] + [strings([k, v]) for k, v in options])
        rows: list[list[str]] = []
        first = 1
        while True:

            def make(token: str, first: int = first) -> Any:
                return service.Search(
                    type=kind,
                    pattern="*",
                    field=0,
                    firstRow=first,
                    maxRows=FINDER_PAGE,
                    options=opts,
                    _soapheaders=[header(AccessToken=token, CompanyCode=office)],
                )

            answer = self._call(make)
            errors = [
                m
                for m in (answer.SearchResult.MessageOfErrorCodes if answer.SearchResult else [])
                if m.Type == "Error"
            ]
            if errors:
                raise parse.Refused("; ".join(f"{m.Code}: {m.Text or ''}".strip(": ") for m in errors))
            data = answer.data
            items = [list(a.string) for a in (data.Items.ArrayOfString if data and data.Items else [])]
            rows.extend(items)
            total = int(data.TotalRows) if data else 0
            if not items or len(rows) >= total:
                return rows
            first += len(items)

    def deleted(self, office: str, since: dt.date, until: dt.date) -> list[dict[str, Any]]:
        """DeletedTransactionsService.Query: the transactions deleted in an office between two days."""
        address = self._address("DeletedTransactionsService.svc")
        client = self._deleted
        binding = client.wsdl.bindings[f"{{{TNS}}}BasicHttpBinding_DeletedTransactionsService"]
        operation = binding.get("Query")
        query_type = client.get_type(f"{{{DELETED_NS}}}GetDeletedTransactions")
        auth, element = client.get_element(f"{{{TNS}}}Authentication"), client.get_element(f"{{{TNS}}}Query")

        def make(token: str) -> Any:
            # The query is an xsi:typed GetDeletedTransactions, which zeep renders but cannot take
            # as an operation argument: the envelope is built from the WSDL's elements directly.
            envelope = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap={"s": SOAP_ENV})
            auth.render(
                etree.SubElement(envelope, f"{{{SOAP_ENV}}}Header"),
                auth(AccessToken=token, CompanyCode=office),
            )
            element.render(
                etree.SubElement(envelope, f"{{{SOAP_ENV}}}Body"),
                query_type(CompanyCode=office, DateFrom=since, DateTo=until),
            )
            response = self.api.request(
                "POST",
                address,
                content=etree.tostring(envelope, xml_declaration=True, encoding="utf-8"),
                headers={
                    "Content-Type": "text/xml; charset=utf-8",
                    "SOAPAction": f'"{operation.soapaction}"',
                },
            )
            return binding.process_reply(client, operation, response)

        result = self._call(make)
        items = getattr(result, "DeletedTransaction", None) or []
        return [{"daybook": t.Daybook, "number": t.Number, "deleted_at": t.DeletionDate} for t in items]
