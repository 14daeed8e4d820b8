"""Network access to Nmbrs: the REST API (OAuth2) and the SOAP API v3 (zeep, token header).

Two APIs, two credentials, one person. The user signs in at Nmbrs' identity service for the
REST API (authorization code, tokens through the pipeline's CredentialStore) and creates an API
token in Nmbrs for the SOAP API. Both must belong to the same e-mail address: the connector
compares the REST user's e-mail (OpenID userinfo) with the SOAP username and refuses a mismatch.

SOAP goes through zeep on the WSDL files kept in `wsdl/` (only the operations used), posted by a
zeep transport that sends every envelope through `connectors.http.ApiClient`, so SOAP calls get
the same pacing, retries, call counts and typed errors as every REST call. Every call but one
carries `AuthHeaderWithDomain` (username, token, domain); the domain comes from
`DebtorService.Environment_Get`, the one call made with the plain `AuthHeader`.

Background reports are started, then polled with `Reports_BackgroundTask_Result` until Success
or Error, with a growing pause and a bounded total wait: a report that never finishes fails the
run with a message that says so, and the scheduler retries later.

Vendor faults carry a code in their text ("---> 1002: ..."): 1001 the token, username or domain
is wrong; 1002 the API user lacks the permission for that operation; 1003 no rights on the
company's data. The error names the operation and the permission to grant.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import zeep
import zeep.exceptions
from zeep.helpers import serialize_object
from zeep.transports import Transport

from connectors.http import (
    ApiClient,
    Clock,
    EntityUnavailable,
    HttpPolicy,
    SystemClock,
    loads_decimal,
)
from connectors.oauth import TokenManager
from pipeline.errors import (
    AuthError,
    ConfigError,
    FatalSourceError,
    LedgerlineError,
    RetriableSourceError,
)

VENDOR = "Nmbrs"
WSDL_DIR = Path(__file__).resolve().parent / "wsdl"
IDENTITY_HOST = "https://identityservice.nmbrs.com"
REST_HOST = "https://api.nmbrsapp.com"
SOAP_HOST = "https://api.nmbrs.nl"
NAMESPACE = "https://api.nmbrs.nl/soap/v3/{service}"
REPORT_WAIT = 300.0  # seconds a background report may take before the run gives up (and retries)
POLL_FIRST, POLL_MAX = 1.0, 10.0

# The permissions the SOAP API user needs (the operations Ledgerline calls), as Nmbrs names them
# in the API user template.
OPERATIONS = (
    ("DebtorService", "Environment_Get"),
    ("CompanyService", "List_GetAll"),
    ("CompanyService", "Run_GetList"),
    ("EmployeeService", "PersonalInfo_GetAll_AllEmployeesByCompany"),
    ("ReportService", "Reports_GetPayslipByRunCompany_v2_Background"),
    ("ReportService", "Reports_Accountant_Company_CompanyWageComponentsPerPeriod_Background"),
    ("ReportService", "Reports_BackgroundTask_Result"),
)
PERMISSIONS = tuple(f"{service}.{operation}" for service, operation in OPERATIONS)


def hosts(config: Mapping[str, Any]) -> dict[str, str]:
    """Identity, REST and SOAP hosts: the vendor's, or one sandbox `base_url` serving all three."""
    if config.get("base_url"):
        base = str(config["base_url"]).rstrip("/")
        return {"identity": base, "rest": base, "soap": base}
    return {"identity": IDENTITY_HOST, "rest": REST_HOST, "soap": SOAP_HOST}


def oauth_urls(identity: str) -> tuple[str, str]:
    """(authorize URL, token URL) of Nmbrs' identity service."""
    return f"{identity}/connect/authorize", f"{identity}/connect/token"


def soap_not_connected(email: str | None = None) -> ConfigError:
    """The error of a connection whose SOAP API was never set up."""
    who = f" ({email})" if email else ""
    return ConfigError(
        "The Nmbrs SOAP API is not connected yet.",
        guidance=f"Create an API token in Nmbrs (Settings > API) for the e-mail address you signed in "
        f"with{who}, and enter that e-mail address and token under Connect SOAP API.",
    )


def same_user(rest_email: str | None, soap_username: str | None) -> bool:
    return bool(rest_email and soap_username) and rest_email.strip().lower() == soap_username.strip().lower()


# ---------------------------------------------------------------- REST


def _rest_error(response: httpx.Response) -> LedgerlineError:
    status = response.status_code
    try:
        body = loads_decimal(response.content)
    except ValueError:
        body = {}
    message = (
        str(body.get("message") or body.get("error_description") or "") if isinstance(body, dict) else ""
    )
    if status == 401 and "subscription key" in message.lower():
        return ConfigError(
            f"Nmbrs refused the REST API subscription key ({message}).",
            guidance="Enter the subscription key from the Nmbrs developer portal in the source's settings.",
        )
    if status == 401:
        return AuthError(
            "Nmbrs rejected the REST API sign-in (HTTP 401).",
            guidance="Reconnect the Nmbrs source: sign in at Nmbrs again.",
        )
    if status == 403:
        return FatalSourceError(
            f"Nmbrs refused {response.request.url.path} (HTTP 403){': ' + message if message else ''}.",
            guidance="The signed-in Nmbrs user needs access to the companies; check the user's rights in Nmbrs.",
        )
    if status == 429 or status >= 500:
        return RetriableSourceError(f"Nmbrs answered HTTP {status}.")
    return FatalSourceError(f"Nmbrs answered HTTP {status} for {response.request.url.path}.")


class NmbrsRest:
    """The REST API and the identity service's userinfo, with a token manager."""

    def __init__(
        self,
        config: Mapping[str, Any],
        subscription_key: str | None,
        tokens: TokenManager,
        *,
        clock: Clock | None = None,
        policy: HttpPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
    ):
        if not subscription_key:
            raise ConfigError(
                "The Nmbrs source has no REST API subscription key.",
                guidance="Enter the subscription key from the Nmbrs developer portal in the source's settings.",
            )
        self.hosts = hosts(config)
        self.api = ApiClient(
            self.hosts["rest"],
            vendor=VENDOR,
            policy=policy or HttpPolicy(max_parallel=1, max_wait=120.0),
            clock=clock,
            headers={"Accept": "application/json", "X-Subscription-Key": subscription_key},
            auth=tokens.headers,
            reauth=tokens.reauth,
            error=_rest_error,
            transport=transport,
        )

    def close(self) -> None:
        self.api.close()

    def email(self) -> str | None:
        """The e-mail address of the user who signed in (OpenID Connect userinfo)."""
        body = self.api.get_json(f"{self.hosts['identity']}/connect/userinfo")
        return body.get("email") if isinstance(body, dict) else None

    def companies(self) -> list[dict[str, Any]]:
        """The companies the signed-in user can open: [{companyId, number, name}]."""
        body = self.api.get_json(f"{self.hosts['rest']}/api/companies")
        if not isinstance(body, list):
            raise FatalSourceError("Nmbrs answered /api/companies without a list of companies.")
        return body


# ---------------------------------------------------------------- SOAP


class _Reply(LedgerlineError):
    """Carries a SOAP fault answer (HTTP 500 with an envelope) back to zeep, which reads it."""

    def __init__(self, response: httpx.Response):
        super().__init__("SOAP fault")
        self.response = response


def _soap_error(response: httpx.Response) -> LedgerlineError:
    status = response.status_code
    kind = response.headers.get("content-type", "")
    if status == 500 and "xml" in kind and b"Fault" in response.content:
        return _Reply(response)
    if status == 401:
        return AuthError("Nmbrs rejected the SOAP API call (HTTP 401).")
    if status == 404:
        return FatalSourceError(
            f"Nmbrs has no SOAP service at {response.request.url.path} (HTTP 404).",
            guidance="Check the source's address.",
        )
    if status == 429 or status >= 500:
        return RetriableSourceError(f"Nmbrs answered HTTP {status} to a SOAP call.")
    return FatalSourceError(f"Nmbrs answered HTTP {status} to a SOAP call.")


class _ApiTransport(Transport):
    """zeep's transport, sending envelopes through the shared ApiClient; WSDLs only from disk."""

    def __init__(self, api: ApiClient):
        super().__init__(cache=None)
        self.api = api

    def post(self, address, message, headers):
        try:
            return self.api.request("POST", address, content=message, headers=headers)
        except _Reply as reply:
            return reply.response

    def load(self, url):
        if urlparse(str(url)).scheme in ("http", "https"):
            raise ConfigError(f"The Nmbrs WSDL must come from the repository, not from {url}.")
        return super().load(url)


class PermissionMissing(FatalSourceError):
    """The SOAP API user lacks the permission for one operation (Nmbrs fault 1002)."""

    kind = "permission"

    def __init__(self, permission: str, username: str):
        self.permission = permission
        super().__init__(
            f"Nmbrs refused {permission}: the API user {username} does not have this permission.",
            guidance=f"In Nmbrs, grant {permission} to the API user (API user template), "
            "then test the connection again.",
        )


class ReportFailed(FatalSourceError):
    """A background report ended in Error (or Nmbrs no longer knows the task)."""

    kind = "report_failed"


_FAULT = re.compile(r"(?:--->\s*)?\b(\d{4}):\s*([^\r\n]*)")


def fault_code(message: str | None) -> tuple[int | None, str]:
    """(code, text) from a fault's text such as 'Server was unable ... ---> 1002: Unauthorized'."""
    text = message or ""
    tail = text.split("--->")[-1]
    match = _FAULT.search(tail)
    if not match:
        return None, text.strip()
    return int(match.group(1)), match.group(2).strip()


def _items(found: Any, name: str) -> list[dict[str, Any]]:
    """The items of an ArrayOf... answer (zeep hands the list itself, or a wrapper holding it)."""
    if found is None:
        return []
    if isinstance(found, list):
        return found
    return list(found.get(name) or [])


@dataclass
class SoapStats:
    calls: dict[str, int]
    report_polls: int = 0
    reports: int = 0


class NmbrsSoap:
    """The SOAP API v3 as the operations Ledgerline uses, with faults mapped to typed errors."""

    def __init__(
        self,
        config: Mapping[str, Any],
        username: str | None,
        token: str | None,
        *,
        clock: Clock | None = None,
        policy: HttpPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
        report_wait: float = REPORT_WAIT,
    ):
        if not username or not token:
            raise soap_not_connected()
        self.username, self.token = username, token
        self.host = hosts(config)["soap"]
        self.clock = clock or SystemClock()
        self.report_wait = report_wait
        self.domain: str | None = None
        self.stats = SoapStats(calls={})
        self.api = ApiClient(
            self.host,
            vendor=VENDOR,
            policy=policy or HttpPolicy(max_parallel=1, max_wait=120.0),
            clock=self.clock,
            error=_soap_error,
            transport=transport,
        )
        settings = zeep.Settings(strict=True, xml_huge_tree=True, forbid_dtd=True, forbid_entities=True)
        self._transport = _ApiTransport(self.api)
        self._clients: dict[str, zeep.Client] = {}
        self._services: dict[str, Any] = {}
        self._settings = settings

    def close(self) -> None:
        self.api.close()

    # -- plumbing

    def _service(self, name: str) -> tuple[zeep.Client, Any]:
        if name not in self._services:
            client = zeep.Client(
                str(WSDL_DIR / f"{name}.wsdl"), transport=self._transport, settings=self._settings
            )
            ns = NAMESPACE.format(service=name)
            self._clients[name] = client
            self._services[name] = client.create_service(
                f"{{{ns}}}{name}Soap12", f"{self.host}/soap/v3/{name}.asmx"
            )
        return self._clients[name], self._services[name]

    def _header(self, client: zeep.Client, service: str, *, with_domain: bool = True) -> Any:
        ns = NAMESPACE.format(service=service)
        if not with_domain:
            return client.get_element(f"{{{ns}}}AuthHeader")(Username=self.username, Token=self.token)
        if self.domain is None:
            self.environment()
        return client.get_element(f"{{{ns}}}AuthHeaderWithDomain")(
            Username=self.username, Token=self.token, Domain=self.domain
        )

    def call(self, service: str, operation: str, **params: Any) -> Any:
        """Call one operation; returns its result as plain Python (dicts, lists, values)."""
        client, proxy = self._service(service)
        header = self._header(client, service, with_domain=operation != "Environment_Get")
        key = f"{service}.{operation}"
        self.stats.calls[key] = self.stats.calls.get(key, 0) + 1
        try:
            result = getattr(proxy, operation)(**params, _soapheaders=[header])
        except zeep.exceptions.Fault as fault:
            raise self._fault(service, operation, fault) from None
        except (zeep.exceptions.ValidationError, zeep.exceptions.XMLParseError) as exc:
            raise FatalSourceError(
                f"Nmbrs answered {key} with something Ledgerline cannot read ({exc}).",
                guidance="Nmbrs may have changed this operation; please report it.",
            ) from None
        except zeep.exceptions.TransportError as exc:
            raise RetriableSourceError(f"Nmbrs answered {key} with HTTP {exc.status_code}.") from None
        return serialize_object(result, dict)

    def _fault(self, service: str, operation: str, fault: zeep.exceptions.Fault) -> LedgerlineError:
        code, text = fault_code(fault.message)
        permission = f"{service}.{operation}"
        if code == 1001:
            return AuthError(
                f"Nmbrs did not accept the SOAP API token of {self.username} ({permission}: {text}).",
                guidance="Check the e-mail address and the token (create a new one in Nmbrs if needed), "
                "then connect the SOAP API again.",
            )
        if code == 1002:
            return PermissionMissing(permission, self.username)
        if code == 1003:
            return FatalSourceError(
                f"Nmbrs refused {permission}: {self.username} has no rights on this company's data.",
                guidance="In Nmbrs, give the API user access to the company (rights by tags or filters).",
            )
        if code == 1004:
            return FatalSourceError(
                f"Nmbrs refused {permission}: the environment has no valid API subscription.",
                guidance="Ask Nmbrs to enable the API for the environment.",
            )
        if code in (2004, 2009):
            return EntityUnavailable(
                f"Nmbrs no longer shows this company to {self.username} ({permission}: {text}).",
                guidance="Check the company in Nmbrs and the API user's access to it.",
            )
        return FatalSourceError(f"Nmbrs answered {permission} with an error: {text or fault.message}.")

    # -- operations

    def environment(self) -> str:
        """The environment's domain (DebtorService.Environment_Get), kept for the other calls."""
        found = self.call("DebtorService", "Environment_Get") or {}
        domain = found.get("SubDomain") or found.get("Domain")
        if not domain:
            raise FatalSourceError("Nmbrs did not say which environment the API user works in.")
        self.domain = domain
        return domain

    def companies(self) -> list[dict[str, Any]]:
        return _items(self.call("CompanyService", "List_GetAll"), "Company")

    def runs(self, company_id: int, year: int) -> list[dict[str, Any]]:
        return _items(self.call("CompanyService", "Run_GetList", CompanyId=company_id, Year=year), "RunInfo")

    def personal_infos(self, company_id: int) -> list[dict[str, Any]]:
        found = self.call(
            "EmployeeService", "PersonalInfo_GetAll_AllEmployeesByCompany", CompanyID=company_id
        )
        return _items(found, "PersonalInfoItem")

    def start_wage_components(self, company_id: int, year: int) -> str:
        return self.call(
            "ReportService",
            "Reports_Accountant_Company_CompanyWageComponentsPerPeriod_Background",
            companyId=company_id,
            year=year,
        )

    def start_payslips(self, company_id: int, run_id: int, year: int) -> str:
        return self.call(
            "ReportService",
            "Reports_GetPayslipByRunCompany_v2_Background",
            companyId=company_id,
            RunId=run_id,
            year=year,
        )

    def task(self, task_id: str) -> tuple[str, str | None]:
        """(status, content) of a background task."""
        self.stats.report_polls += 1
        found = self.call("ReportService", "Reports_BackgroundTask_Result", TaskId=task_id) or {}
        return str(found.get("Status") or "Unknown"), found.get("Content")

    def wait(self, task_id: str, what: str) -> str:
        """The content of a background report once it succeeded; waits at most `report_wait` s."""
        deadline = self.clock.time() + self.report_wait
        pause = POLL_FIRST
        while True:
            status, content = self.task(task_id)
            if status == "Success":
                self.stats.reports += 1
                return content or ""
            if status not in ("Enqueued", "Executing"):
                raise ReportFailed(
                    f"Nmbrs could not produce the {what}: the background task {task_id} ended with status {status}.",
                    guidance="Open the same report in Nmbrs to see why it fails; then import again.",
                )
            if self.clock.time() + pause > deadline:
                raise RetriableSourceError(
                    f"Nmbrs did not finish the {what} within {self.report_wait:.0f} seconds "
                    f"(background task {task_id} is still {status}).",
                    guidance="Nmbrs is busy; the import will be retried later.",
                )
            self.clock.sleep(pause)
            pause = min(pause * 2, POLL_MAX)

    def wage_components(self, company_id: int, year: int) -> str:
        task = self.start_wage_components(company_id, year)
        return self.wait(task, f"company wage components per period report of {year}")

    def payslips(self, company_id: int, run_id: int, year: int) -> str:
        task = self.start_payslips(company_id, run_id, year)
        return self.wait(task, f"payslips report of run {run_id}")

    def call_stats(self) -> dict[str, Any]:
        return {
            "soap_calls": sum(self.stats.calls.values()),
            "soap_calls_by_operation": dict(sorted(self.stats.calls.items())),
            "report_polls": self.stats.report_polls,
            "reports": self.stats.reports,
        }
