"""Nmbrs payroll: companies, payroll runs, employees and company costs per wage component.

One entity per Nmbrs company. The connection needs both Nmbrs APIs, for the same e-mail address:
the REST API (the user signs in at Nmbrs; tokens rotate through the pipeline's CredentialStore)
and the SOAP API (an API token the user creates in Nmbrs, with the permissions in `PERMISSIONS`).
The connection check calls each permitted operation once, so a missing permission is named
before the first import, and the source is not Active until both APIs answer.

Imports follow the payroll runs: the first import reads every run of the years asked for (this
year and last, by default); later imports list the runs of last year and this year, and only
when a run is new do they fetch its payslips (the employees it paid), the employees, and the
company wage components per period of that run's year, which replace the stored periods of that
year. With no new run, nothing but the run lists is read, and nothing changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar

import httpx

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
    frame_from_rows,
)
from connectors.http import Clock, EntityUnavailable, HttpPolicy, SystemClock
from connectors.nmbrs import parse
from connectors.nmbrs.client import (
    PERMISSIONS,
    REPORT_WAIT,
    VENDOR,
    NmbrsRest,
    NmbrsSoap,
    hosts,
    oauth_urls,
    same_user,
    soap_not_connected,
)
from connectors.oauth import DEFAULT_MARGIN, MemoryStore, OAuthApp, TokenManager
from pipeline.errors import ConfigError

REFRESH_TOKEN_DAYS = 30
DEFAULT_YEARS = 2  # a first import reads this year and last year
SOAP_KEYS = ("soap_username", "soap_token")


def oauth_app(config: Any, credentials: Any) -> OAuthApp:
    """The installation's app registration at Nmbrs, and the identity service's endpoints."""
    client_id = config.get("client_id")
    secret = credentials.get("client_secret")
    if not client_id or not secret:
        raise ConfigError(
            "The Nmbrs source has no app registration (client id and secret).",
            guidance="Register the app at developer.nmbrs.com and enter its client id and secret.",
        )
    authorize, token = oauth_urls(hosts(config)["identity"])
    return OAuthApp(
        client_id=str(client_id),
        client_secret=str(secret),
        authorize_url=authorize,
        token_url=token,
        redirect_uri=str(config.get("redirect_uri") or ""),
        scope=str(config.get("scope") or "openid email offline_access"),
    )


@dataclass
class ConnectionCheck:
    """What a connection check found: who signed in, the SOAP environment, what was verified."""

    email: str | None
    soap_username: str
    domain: str
    companies: list[dict[str, Any]]
    verified: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


class NmbrsConnector(Connector):
    """Nmbrs over its REST API (sign-in) and SOAP API v3 (token): payroll of each company."""

    name = "nmbrs"
    label = "Nmbrs"
    kind = "api"
    beta = True
    verify_after_signin = True  # Active only once the SOAP API answers for the same e-mail too
    capabilities = Capabilities(
        transactions=False,
        accounts=False,
        incremental=True,
        multi_entity=True,
        payroll=True,
        notes=(
            "One entity per Nmbrs company; payroll only (no ledger lines).",
            "Connect both APIs with the same e-mail address: sign in for the REST API, and create "
            "an API token in Nmbrs for the SOAP API.",
            "The SOAP API user needs: " + ", ".join(PERMISSIONS) + ".",
            "Incremental by payroll run; no BSN, names or addresses are stored.",
        ),
    )
    streams = (
        Stream("payroll_companies"),
        Stream("payroll_runs", cursor="runs"),
        Stream("payroll_employees"),
        Stream("payroll_costs", cursor="runs"),
    )
    oauth: ClassVar[bool] = True
    refresh_token_lifetime: ClassVar[float] = REFRESH_TOKEN_DAYS * 86400
    setup_fields: ClassVar[tuple[dict[str, Any], ...]] = (
        {"key": "client_id", "label": "App client id"},
        {"key": "client_secret", "label": "App client secret", "secret": True},
        {"key": "subscription_key", "label": "REST API subscription key", "secret": True},
        {"key": "redirect_uri", "label": "Redirect URL (this app's OAuth callback)"},
        {"key": "scope", "label": "OAuth scopes", "default": "openid email offline_access"},
    )

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        policy: HttpPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
        token_margin: float = DEFAULT_MARGIN,
        report_wait: float = REPORT_WAIT,
    ):
        self.clock = clock or SystemClock()
        self.policy, self.transport = policy, transport
        self.token_margin, self.report_wait = token_margin, report_wait

    @staticmethod
    def oauth_app(config: Any, credentials: Any) -> OAuthApp:
        """The app registration and endpoints the sign-in and the token calls use."""
        return oauth_app(config, credentials)

    # -- clients

    def _store(self, request: ExtractRequest):
        return request.credential_store or MemoryStore(request.credentials)

    def tokens(self, request: ExtractRequest) -> TokenManager:
        store = self._store(request)
        return TokenManager(
            oauth_app(request.config, store.load()),
            store,
            vendor=VENDOR,
            clock=self.clock,
            margin=self.token_margin,
            refresh_token_lifetime=self.refresh_token_lifetime,
            transport=self.transport,
        )

    def _clients(self, request: ExtractRequest) -> tuple[TokenManager, NmbrsRest, NmbrsSoap | None]:
        creds = self._store(request).load()
        tokens = self.tokens(request)
        rest = NmbrsRest(
            request.config,
            creds.get("subscription_key"),
            tokens,
            clock=self.clock,
            policy=self.policy,
            transport=self.transport,
        )
        soap = None
        if creds.get("soap_username") and creds.get("soap_token"):
            soap = NmbrsSoap(
                request.config,
                creds["soap_username"],
                creds["soap_token"],
                clock=self.clock,
                policy=self.policy,
                transport=self.transport,
                report_wait=self.report_wait,
            )
        return tokens, rest, soap

    def _signed_in(self, rest: NmbrsRest, soap: NmbrsSoap | None) -> tuple[str | None, NmbrsSoap]:
        """The REST user's e-mail and the SOAP client, once both are set up for the same person."""
        email = rest.email()
        if soap is None:
            raise soap_not_connected(email)
        if not same_user(email, soap.username):
            raise ConfigError(
                f"The SOAP API token belongs to {soap.username}, but Nmbrs was signed in as "
                f"{email or 'a user without an e-mail address'}.",
                guidance="Use the same e-mail address for both: create the SOAP API token for the "
                "user you signed in with (or sign in as the token's user), then connect again.",
            )
        return email, soap

    # -- the connection check

    def check(self, request: ExtractRequest) -> ConnectionCheck:
        """Sign-in, same e-mail, SOAP environment, and one call of every operation imports use."""
        tokens, rest, soap = self._clients(request)
        try:
            email, soap = self._signed_in(rest, soap)
            rest.companies()
            domain = soap.environment()
            companies = soap.companies()
            found = ConnectionCheck(email, soap.username, domain, companies)
            found.verified += ["DebtorService.Environment_Get", "CompanyService.List_GetAll"]
            if companies:
                self._probe(soap, int(companies[0]["ID"]), found)
            else:
                found.notes.append("Nmbrs shows no company to this API user.")
            return found
        finally:
            for c in (rest, soap, tokens):
                if c is not None:
                    c.close()

    def _probe(self, soap: NmbrsSoap, company: int, found: ConnectionCheck) -> None:
        year = self._year()
        runs = soap.runs(company, year) or soap.runs(company, year - 1)
        found.verified.append("CompanyService.Run_GetList")
        soap.personal_infos(company)
        found.verified.append("EmployeeService.PersonalInfo_GetAll_AllEmployeesByCompany")
        task = soap.start_wage_components(company, year)
        found.verified.append(
            "ReportService.Reports_Accountant_Company_CompanyWageComponentsPerPeriod_Background"
        )
        soap.task(task)
        found.verified.append("ReportService.Reports_BackgroundTask_Result")
        if runs:
            run = runs[-1]
            soap.start_payslips(company, int(run["ID"]), int(run["Year"]))
            found.verified.append("ReportService.Reports_GetPayslipByRunCompany_v2_Background")
        else:
            found.notes.append(
                "No payroll run yet, so ReportService.Reports_GetPayslipByRunCompany_v2_Background was not tried."
            )

    def list_entities(self, request: ExtractRequest) -> list[EntityInfo]:
        """The companies of the Nmbrs environment, once both APIs answer for the same user."""
        return [parse.entity_info(c) for c in self.check(request).companies]

    # -- the import

    def _year(self) -> int:
        return datetime.fromtimestamp(self.clock.time(), UTC).year

    def extract(self, request: ExtractRequest) -> Extraction:
        """One company's payroll: new runs, their payslip counts, employees, costs of their years."""
        company_id = request.entity_external_id
        if not company_id or not str(company_id).isdigit():
            raise ConfigError(f"Entity {request.entity_name!r} is not linked to an Nmbrs company.")
        tokens, rest, soap = self._clients(request)
        try:
            _, soap = self._signed_in(rest, soap)
            return _Run(self, request, rest, soap, tokens, int(company_id)).extract()
        finally:
            for c in (rest, soap, tokens):
                if c is not None:
                    c.close()


class _Run:
    def __init__(
        self,
        connector: NmbrsConnector,
        request: ExtractRequest,
        rest: NmbrsRest,
        soap: NmbrsSoap,
        tokens: TokenManager,
        company_id: int,
    ):
        self.connector, self.request = connector, request
        self.rest, self.soap, self.tokens = rest, soap, tokens
        self.company_id = company_id
        self.key = parse.company_key(company_id)
        self.problems: list[Problem] = []

    def extract(self) -> Extraction:
        request = self.request
        cursor = {} if request.full else dict(request.cursor or {})
        soap = self.soap
        rest_ids = {str(c.get("number")): c.get("companyId") for c in self.rest.companies()}
        soap.environment()
        company = next((c for c in soap.companies() if int(c["ID"]) == self.company_id), None)
        if company is None:
            raise EntityUnavailable(
                f"Nmbrs no longer shows company {self.company_id} to {soap.username}.",
                guidance="Check the company in Nmbrs and the API user's access to it.",
            )
        rest_id = rest_ids.get(str(company.get("Number")))
        if rest_id is None:
            self.problems.append(
                Problem(
                    "rest_access",
                    f"The signed-in Nmbrs user does not see company {company.get('Name')} in the REST API; "
                    "the SOAP API does. Check the user's access to the company in Nmbrs.",
                    f"company {self.company_id}",
                )
            )
        kind = parse.period_type(company.get("LoonaangifteTijdvak"))
        this_year = self.connector._year()
        seen: dict[str, set[int]] = {y: set(ids) for y, ids in (cursor.get("runs") or {}).items()}
        if cursor:
            first = max(int(cursor.get("first_year") or this_year), int(cursor.get("year") or this_year) - 1)
        else:
            years_back = int(request.options.get("years") or request.config.get("years") or DEFAULT_YEARS)
            first = int(request.options.get("first_year") or this_year - years_back + 1)
        years = list(range(first, this_year + 1))
        listed = {y: soap.runs(self.company_id, y) for y in years}
        new = [r for y in years for r in listed[y] if int(r["ID"]) not in seen.get(str(y), set())]
        employees_paid = {
            int(r["ID"]): len(
                parse.payslip_employees(
                    soap.payslips(self.company_id, int(r["ID"]), int(r["Year"])), run=r["ID"]
                )
            )
            for r in new
        }
        touched = sorted({int(r["Year"]) for r in new})
        costs: list[dict[str, Any]] = []
        for year in touched:
            costs += parse.wage_component_rows(
                self.key, year, kind, soap.wage_components(self.company_id, year)
            )
        streams = [
            StreamData(
                "payroll_companies", _frame("payroll_companies", [parse.company_row(company, rest_id)])
            ),
            StreamData(
                "payroll_runs",
                _frame("payroll_runs", parse.run_rows(self.key, kind, new, employees_paid)),
                replace="none" if cursor else "all",
            ),
        ]
        if new or not cursor:
            items = soap.personal_infos(self.company_id)
            streams.append(
                StreamData(
                    "payroll_employees",
                    _frame("payroll_employees", parse.employee_rows(self.key, items)),
                    replace="all",
                )
            )
        if touched:
            streams.append(
                StreamData(
                    "payroll_costs",
                    _frame("payroll_costs", costs),
                    replace="ranges",
                    ranges=[parse.year_range(y) for y in touched],
                )
            )
        for r in (r for y in years for r in listed[y]):
            seen.setdefault(str(int(r["Year"])), set()).add(int(r["ID"]))
        new_cursor = {
            "first_year": int(cursor.get("first_year") or first),
            "year": this_year,
            "runs": {y: sorted(ids) for y, ids in sorted(seen.items())},
        }
        stats: dict[str, Any] = {
            "mode": "full" if not cursor else "incremental",
            "years_listed": years,
            "new_runs": len(new),
            "years_read": touched,
            "cost_lines": len(costs),
            **self.rest.api.stats.as_dict(),
            **self.soap.call_stats(),
            **self.tokens.stats(),
        }
        stats["api_calls"] = stats.get("api_calls", 0) + self.soap.api.stats.calls
        info = parse.entity_info(company)
        return Extraction(
            streams=streams,
            cursor=new_cursor,
            entity=info,
            problems=self.problems,
            format="nmbrs",
            stats=stats,
        )


def _frame(stream: str, rows: list[dict[str, Any]]) -> Any:
    return conform(stream, frame_from_rows(stream, rows)).collect()
