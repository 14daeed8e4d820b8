"""A local Nmbrs (identity service, REST API, SOAP API v3) on 127.0.0.1, for tests and demos.

Contract facts, with where they come from:
- OAuth2 authorization code only, at https://identityservice.nmbrs.com/connect/authorize and
  /connect/token; the authorization code is valid 5 minutes (developer.nmbrs.com/auth). The REST
  API is https://api.nmbrsapp.com/api/..., called with `Authorization: Bearer` and the developer
  portal's `X-Subscription-Key` (Nmbrs' REST getting-started sample, quoted in
  github.com/ketkeearyamane/deel-writing-test content/docs/user-guides/hris-integrations). The
  refresh token lasts 30 days (PyPI nmbrs-rest-api README).
- SOAP v3 services at https://api.nmbrs.nl/soap/v3/<Service>.asmx, document/literal; every call
  carries the `AuthHeaderWithDomain` header (Username, Token, Domain)
  (github.com/leapforce-libraries/go_nmbrs SOAPEnvelope.go, SOAP 1.2 envelopes); the domain comes
  from DebtorService.Environment_Get called with the plain `AuthHeader` (Username, Token), whose
  answer has Domain and SubDomain, and SubDomain is what the header takes
  (github.com/LarsKluijtmans/nmbrs_api src/nmbrs/service/auth_service.py).
- Parameters and answers: CompanyService.List_GetAll -> List_GetAllResult/Company {ID, Number,
  Name, LoonaangifteTijdvak, KvkNr} (go_nmbrs Company.go); Run_GetList(CompanyId, Year) ->
  Run_GetListResult/RunInfo {ID, Number, Year, PeriodStart, PeriodEnd, Description, RunAt,
  IsLocked}; EmployeeService.PersonalInfo_GetAll_AllEmployeesByCompany(CompanyID) ->
  PersonalInfoItem {EmployeeId, EmployeePersonalInfos/PersonalInfo_V2 {Id, EmployeeNumber, BSN,
  FirstName, LastName, Birthday, ...}}; ReportService.Reports_GetPayslipByRunCompany_v2_Background
  (companyId, RunId, year) -> a task id; Reports_BackgroundTask_Result(TaskId) -> {TaskId, Status,
  Content} (github.com/tim-online/go-nmbrs companies/run_get_list.go, employees/
  personal_info_get_all_all_employees_by_company.go, reports/get_payslips_by_run_company_v2_
  background.go, reports/background_task_result.go);
  Reports_Accountant_Company_CompanyWageComponentsPerPeriod_Background(companyId, year) -> a task
  id (go_nmbrs WageCodes.go). A task moves Enqueued -> Executing -> Success or Error; Unknown for
  a task Nmbrs does not know (nmbrs_api report_service.py, go_nmbrs reportsBackgroundTaskResult.go).
- Faults are SOAP faults (HTTP 500) whose text ends in "---> <code>: <message>": 1001 invalid
  authentication (e-mail, token or domain), 1002 unauthorized access (the API user template lacks
  the operation), 1003 unauthorized access to data, 2004 unauthorized company (nmbrs_api
  utils/nmbrs_exception_handler.py and nmbrs_base_exception.py, after Nmbrs' "API error codes").

Assumptions where Nmbrs publishes nothing (the connector is tolerant of each):
- Report contents: the company wage components report is <reports><report><companyid/><period/>
  <year/><lines><line><code/><description/><value/></line>...</lines></report>...</reports>, one
  report per period, modelled on its sibling Reports_GetWageCodesByYear (go_nmbrs WageCodes.go);
  the payslip report is <payslips><payslip><employeeid/><employeenumber/><runid/><period/><year/>
  <lines>...</lines></payslip>...</payslips>. Both declare encoding="utf-16", as Nmbrs reports do.
- The REST user's e-mail comes from OpenID Connect userinfo (/connect/userinfo, IdentityServer's
  path); /api/companies answers [{companyId, number, name}] without paging.
- Access tokens live an hour and refresh tokens rotate on use (IdentityServer's one-time-only
  refresh tokens); the strict reading is the safe one to test against.
- LoonaangifteTijdvak reads 'Month' or '4Weeks'; 4-week periods count from 1 January.
- A background task advances one status per poll (not per second), so tests need no real waiting;
  Nmbrs documents no SOAP rate limit, and the sandbox enforces none.
"""

from __future__ import annotations

import argparse
import random
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from lxml import etree

from connectors.http import Clock, LocalServer, SandboxRequest, SandboxResponse, SystemClock
from connectors.nmbrs.parse import period_dates
from connectors.oauth import SandboxAuthority

SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
NS = "https://api.nmbrs.nl/soap/v3/{}"
CENT = Decimal("0.01")
NAMESPACE = uuid.UUID("2f1e4c0a-9b7d-4e4b-8f0e-5b8d1c7a6e31")
SERVICES = {
    "DebtorService": ("Environment_Get",),
    "CompanyService": ("List_GetAll", "Run_GetList"),
    "EmployeeService": ("PersonalInfo_GetAll_AllEmployeesByCompany",),
    "ReportService": (
        "Reports_GetPayslipByRunCompany_v2_Background",
        "Reports_Accountant_Company_CompanyWageComponentsPerPeriod_Background",
        "Reports_BackgroundTask_Result",
    ),
}
ALL_PERMISSIONS = frozenset(f"{s}.{op}" for s, ops in SERVICES.items() for op in ops)
PERIOD_NAMES = {"month": "Month", "4weeks": "4Weeks"}

# (code, description, how the company amount per employee is made from the salary)
COMPONENTS = (
    ("1", "Salaris"),
    ("7", "Reservering vakantiegeld"),
    ("20", "Reiskostenvergoeding"),
    ("310", "Pensioenpremie werkgever"),
    ("400", "Premie WW-Awf werkgever"),
    ("410", "Premie WAO/WIA werkgever"),
    ("420", "Werkgeversheffing Zvw"),
    ("500", "Loonheffing"),
    ("600", "Nettoloon"),
    ("900", "Totaal werkgeverslasten"),
)
COMPONENT_NAMES = dict(COMPONENTS)
DEFAULT_COMPANIES = (
    (201, 1, "Demo Retail BV", "month"),
    (202, 2, "Demo Services BV", "month"),
    (203, 3, "Demo Logistics BV", "4weeks"),
)
FIRST_NAMES = ("Anna", "Bram", "Carla", "Daan", "Eva", "Floor", "Gijs", "Hanna", "Ivo", "Julia")
LAST_NAMES = ("de Vries", "Jansen", "Bakker", "Visser", "Smit", "Meijer", "de Boer", "Mulder")


def _cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass
class _Employee:
    id: int
    number: str
    bsn: str
    first_name: str
    last_name: str
    birthday: date
    salary: Decimal  # per period
    travel: Decimal


@dataclass
class _Run:
    id: int
    number: int
    year: int
    period: int
    run_at: datetime
    # employee id -> component code -> amount
    slips: dict[int, dict[str, Decimal]] = field(default_factory=dict)


@dataclass
class _Company:
    id: int
    number: int
    name: str
    period_type: str
    rest_id: str
    employees: list[_Employee] = field(default_factory=list)
    runs: list[_Run] = field(default_factory=list)


@dataclass
class _Task:
    operation: str
    content: str
    mode: str  # 'normal' | 'error' | 'stuck'
    polls: int = 0


def slip_amounts(employee: _Employee, period_type: str) -> dict[str, Decimal]:
    """One employee's amounts per wage component for one period (a total component included)."""
    salary = employee.salary if period_type == "month" else _cents(employee.salary * 12 / 13)
    holiday = _cents(salary * Decimal("0.08"))
    pension = _cents(salary * Decimal("0.095"))
    ww = _cents(salary * Decimal("0.0264"))
    wia = _cents(salary * Decimal("0.0618"))
    zvw = _cents(salary * Decimal("0.0657"))
    tax = _cents(salary * Decimal("0.27"))
    travel = employee.travel
    return {
        "1": salary,
        "7": holiday,
        "20": travel,
        "310": pension,
        "400": ww,
        "410": wia,
        "420": zvw,
        "500": tax,
        "600": salary + travel - tax,
        "900": salary + holiday + travel + pension + ww + wia + zvw,
    }


class NmbrsSandbox:
    """Nmbrs on 127.0.0.1: OAuth2 and REST, and the four SOAP services with background reports."""

    def __init__(
        self,
        *,
        client_id: str = "ledgerline-nmbrs",
        client_secret: str = "sandbox-secret",
        subscription_key: str = "sandbox-subscription-key",
        email: str = "payroll@demo-retail.example",
        soap_token: str = "sandbox-soap-token",
        subdomain: str = "demo",
        as_of: str | date = "2024-03-31",
        first_year: int = 2023,
        seed: int = 7,
        task_steps: int = 2,  # polls a task stays Enqueued/Executing (0: done at the first poll)
        companies: Iterable[tuple[int, int, str, str]] = DEFAULT_COMPANIES,
        clock: Clock | None = None,
        access_lifetime: int = 3600,
        port: int = 0,
    ):
        self.client_id, self.client_secret = client_id, client_secret
        self.subscription_key = subscription_key
        self.email = email
        self.subdomain = subdomain
        self.clock = clock or SystemClock()
        self.task_steps = task_steps
        self.as_of = as_of if isinstance(as_of, date) else date.fromisoformat(as_of)
        self.auth = SandboxAuthority(
            client_id=client_id,
            client_secret=client_secret,
            clock=self.clock,
            access_lifetime=access_lifetime,
            refresh_lifetime=30 * 86400,
            code_lifetime=300,
        )
        # SOAP API users: e-mail -> token, and the operations each may call
        self.soap_users: dict[str, str] = {email: soap_token}
        self.permissions: dict[str, set[str]] = {email: set(ALL_PERMISSIONS)}
        self.company_access: dict[str, set[int] | None] = {email: None}
        self.report_modes: dict[str, str] = {}  # operation -> 'error' | 'stuck'
        self.tasks: dict[str, _Task] = {}
        self.soap_calls: dict[str, int] = {}
        self.faults: list[str] = []
        self.rest_calls = 0
        self._rng = random.Random(seed)
        self._lock = threading.RLock()
        self._next_run = 5000
        self._next_employee = 9000
        self.companies: dict[int, _Company] = {}
        for cid, number, name, kind in companies:
            self.companies[cid] = self._company(cid, number, name, kind, first_year)
        self.server = LocalServer(self.handle, port=port, clock=self.clock)

    # -- lifecycle

    @property
    def url(self) -> str:
        """The host every Nmbrs endpoint lives on here (what `config['base_url']` takes)."""
        return self.server.url

    def start(self) -> NmbrsSandbox:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    def __enter__(self) -> NmbrsSandbox:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- data

    def _company(self, cid: int, number: int, name: str, kind: str, first_year: int) -> _Company:
        company = _Company(cid, number, name, kind, str(uuid.uuid5(NAMESPACE, f"company|{cid}")))
        for _ in range(self._rng.randint(4, 7)):
            company.employees.append(self._new_employee())
        for year in range(first_year, self.as_of.year + 1):
            last = 12 if kind == "month" else 13
            for period in range(1, last + 1):
                _, end = period_dates(kind, year, period)
                if end <= self.as_of:
                    self._add_run(company, year, period)
        return company

    def _new_employee(self) -> _Employee:
        self._next_employee += 1
        rng = self._rng
        return _Employee(
            id=self._next_employee,
            number=str(self._next_employee - 9000),
            bsn=f"{rng.randint(100000000, 999999999)}",
            first_name=rng.choice(FIRST_NAMES),
            last_name=rng.choice(LAST_NAMES),
            birthday=date(rng.randint(1960, 2001), rng.randint(1, 12), rng.randint(1, 28)),
            salary=Decimal(rng.randint(260000, 620000)) / 100,
            travel=Decimal(rng.choice((0, 0, 4800, 9600, 12750))) / 100,
        )

    def _add_run(self, company: _Company, year: int, period: int) -> _Run:
        self._next_run += 1
        _, end = period_dates(company.period_type, year, period)
        number = 1 + sum(1 for r in company.runs if r.year == year)
        run = _Run(
            self._next_run,
            number,
            year,
            period,
            datetime.combine(end - timedelta(days=6), datetime.min.time()),
        )
        for employee in company.employees:
            run.slips[employee.id] = slip_amounts(employee, company.period_type)
        company.runs.append(run)
        return run

    def add_run(self, company_id: int) -> int:
        """Run the payroll of the company's next period (with one new hire); returns the run id."""
        with self._lock:
            company = self.companies[company_id]
            last = company.runs[-1]
            periods = 12 if company.period_type == "month" else 13
            year, period = (last.year, last.period + 1) if last.period < periods else (last.year + 1, 1)
            company.employees.append(self._new_employee())
            return self._add_run(company, year, period).id

    def costs(self, company_id: int, year: int) -> dict[tuple[int, str], Decimal]:
        """What the company wage components report of a year holds: (period, code) -> amount."""
        out: dict[tuple[int, str], Decimal] = {}
        for run in self.companies[company_id].runs:
            if run.year != year:
                continue
            for amounts in run.slips.values():
                for code, amount in amounts.items():
                    out[(run.period, code)] = out.get((run.period, code), Decimal("0.00")) + amount
        return out

    def run_ids(self, company_id: int, year: int | None = None) -> list[int]:
        return [r.id for r in self.companies[company_id].runs if year is None or r.year == year]

    # -- controls for tests

    def add_soap_user(self, email: str, token: str, permissions: Iterable[str] = ALL_PERMISSIONS) -> None:
        with self._lock:
            self.soap_users[email] = token
            self.permissions[email] = set(permissions)
            self.company_access[email] = None

    def deny(self, permission: str, user: str | None = None) -> None:
        """Take one operation out of the API user's template (its calls then fault with 1002)."""
        with self._lock:
            self.permissions[user or self.email].discard(permission)

    def grant(self, permission: str, user: str | None = None) -> None:
        with self._lock:
            self.permissions[user or self.email].add(permission)

    def restrict(self, companies: Iterable[int], user: str | None = None) -> None:
        """Limit the API user to these companies (others fault with 2004)."""
        with self._lock:
            self.company_access[user or self.email] = set(companies)

    def report_mode(self, operation: str, mode: str | None) -> None:
        """Make new tasks of a report operation end in 'error', or never finish ('stuck')."""
        with self._lock:
            if mode is None:
                self.report_modes.pop(operation, None)
            else:
                self.report_modes[operation] = mode

    def calls(self, operation: str) -> int:
        return self.soap_calls.get(operation, 0)

    # -- dispatch

    def handle(self, request: SandboxRequest) -> SandboxResponse:
        path = request.path.rstrip("/")
        if path == "/connect/authorize" and request.method == "GET":
            return self.auth.authorize(request)
        if path == "/connect/token" and request.method == "POST":
            return self.auth.token(request)
        if path == "/connect/userinfo":
            if not self.auth.bearer(request):
                return SandboxResponse.json({"error": "invalid_token"}, 401)
            return SandboxResponse.json({"sub": str(uuid.uuid5(NAMESPACE, self.email)), "email": self.email})
        if path == "/api/companies" and request.method == "GET":
            return self._rest_companies(request)
        if path.startswith("/soap/v3/") and path.endswith(".asmx") and request.method == "POST":
            service = path[len("/soap/v3/") : -len(".asmx")]
            if service in SERVICES:
                with self._lock:
                    return self._soap(service, request)
        return SandboxResponse.json({"statusCode": 404, "message": "Resource not found"}, 404)

    def _rest_companies(self, request: SandboxRequest) -> SandboxResponse:
        self.rest_calls += 1
        if request.headers.get("x-subscription-key") != self.subscription_key:
            return SandboxResponse.json(
                {
                    "statusCode": 401,
                    "message": "Access denied due to missing subscription key. Make sure to include "
                    "subscription key when making requests to an API.",
                },
                401,
            )
        if not self.auth.bearer(request):
            return SandboxResponse.json({"statusCode": 401, "message": "Unauthorized"}, 401)
        return SandboxResponse.json(
            [{"companyId": c.rest_id, "number": c.number, "name": c.name} for c in self.companies.values()]
        )

    # -- SOAP

    def _soap(self, service: str, request: SandboxRequest) -> SandboxResponse:
        parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
        try:
            envelope = etree.fromstring(request.body, parser)
        except etree.XMLSyntaxError:
            return self._fault("Sender", "The request is not XML.", status=400)
        env_ns = etree.QName(envelope).namespace
        if env_ns not in (SOAP12, SOAP11):
            return self._fault("Sender", "Not a SOAP envelope.", status=400)
        body = envelope.find(f"{{{env_ns}}}Body")
        header = envelope.find(f"{{{env_ns}}}Header")
        if body is None or len(body) == 0:
            return self._fault("Sender", "The SOAP body is empty.", status=400)
        call = body[0]
        operation = etree.QName(call).localname
        if operation not in SERVICES[service]:
            return self._fault("Sender", f"Unknown operation {operation}.")
        self.soap_calls[operation] = self.soap_calls.get(operation, 0) + 1
        params = {etree.QName(c).localname: (c.text or "").strip() for c in call}
        auth = {}
        if header is not None:
            for h in header:
                auth = {etree.QName(c).localname: (c.text or "").strip() for c in h}
                auth["_name"] = etree.QName(h).localname
        user = auth.get("Username", "")
        if self.soap_users.get(user) is None or self.soap_users[user] != auth.get("Token"):
            return self._nmbrs_fault(1001, "Invalid Authentication", operation)
        if operation != "Environment_Get" and auth.get("Domain") != self.subdomain:
            return self._nmbrs_fault(1001, "Invalid Authentication", operation)
        if f"{service}.{operation}" not in self.permissions.get(user, set()):
            return self._nmbrs_fault(1002, "Unauthorized Access", operation)
        company = None
        if "CompanyId" in params or "CompanyID" in params or "companyId" in params:
            cid = int(params.get("CompanyId") or params.get("CompanyID") or params.get("companyId") or 0)
            allowed = self.company_access.get(user)
            company = self.companies.get(cid)
            if company is None or (allowed is not None and cid not in allowed):
                return self._nmbrs_fault(2004, "Unauthorized Company", operation)
        result = getattr(self, f"_op_{operation}")(service, params, company, user)
        return self._answer(service, operation, result)

    def _answer(self, service: str, operation: str, result: etree._Element | str) -> SandboxResponse:
        ns = NS.format(service)
        envelope = etree.Element(f"{{{SOAP12}}}Envelope", nsmap={"soap": SOAP12})
        body = etree.SubElement(envelope, f"{{{SOAP12}}}Body")
        response = etree.SubElement(body, f"{{{ns}}}{operation}Response", nsmap={None: ns})
        if isinstance(result, str):
            etree.SubElement(response, f"{{{ns}}}{operation}Result").text = result
        else:
            response.append(result)
        return SandboxResponse(
            200,
            etree.tostring(envelope, xml_declaration=True, encoding="utf-8"),
            {"Content-Type": "application/soap+xml; charset=utf-8"},
        )

    def _fault(self, code: str, text: str, *, status: int = 500) -> SandboxResponse:
        envelope = etree.Element(f"{{{SOAP12}}}Envelope", nsmap={"soap": SOAP12})
        body = etree.SubElement(envelope, f"{{{SOAP12}}}Body")
        fault = etree.SubElement(body, f"{{{SOAP12}}}Fault")
        etree.SubElement(
            etree.SubElement(fault, f"{{{SOAP12}}}Code"), f"{{{SOAP12}}}Value"
        ).text = f"soap:{code}"
        reason = etree.SubElement(fault, f"{{{SOAP12}}}Reason")
        txt = etree.SubElement(reason, f"{{{SOAP12}}}Text")
        txt.set("{http://www.w3.org/XML/1998/namespace}lang", "en")
        txt.text = text
        etree.SubElement(fault, f"{{{SOAP12}}}Detail")
        return SandboxResponse(
            status,
            etree.tostring(envelope, xml_declaration=True, encoding="utf-8"),
            {"Content-Type": "application/soap+xml; charset=utf-8"},
        )

    def _nmbrs_fault(self, code: int, message: str, operation: str) -> SandboxResponse:
        self.faults.append(f"{operation}:{code}")
        return self._fault("Receiver", f"Server was unable to process request. ---> {code}: {message}")

    # -- operations (each returns the <Operation>Result element, or the text of a string result)

    @staticmethod
    def _el(ns: str, parent: etree._Element, name: str, value: Any) -> etree._Element:
        child = etree.SubElement(parent, f"{{{ns}}}{name}")
        if isinstance(value, bool):
            child.text = "true" if value else "false"
        elif isinstance(value, datetime):
            child.text = value.strftime("%Y-%m-%dT%H:%M:%S")
        elif isinstance(value, date):
            child.text = f"{value.isoformat()}T00:00:00"
        elif value is not None:
            child.text = str(value)
        return child

    def _op_Environment_Get(self, service, params, company, user) -> etree._Element:
        ns = NS.format(service)
        result = etree.Element(f"{{{ns}}}Environment_GetResult")
        self._el(ns, result, "Domain", f"https://{self.subdomain}.nmbrs.nl")
        self._el(ns, result, "SubDomain", self.subdomain)
        return result

    def _op_List_GetAll(self, service, params, company, user) -> etree._Element:
        ns = NS.format(service)
        result = etree.Element(f"{{{ns}}}List_GetAllResult")
        allowed = self.company_access.get(user)
        for c in self.companies.values():
            if allowed is not None and c.id not in allowed:
                continue
            item = etree.SubElement(result, f"{{{ns}}}Company")
            for name, value in (
                ("ID", c.id),
                ("Number", c.number),
                ("Name", c.name),
                ("PhoneNumber", "+31 20 123 4567"),
                ("FaxNumber", None),
                ("Email", f"salaris@{c.rest_id[:8]}.example"),
                ("Website", None),
                ("LoonaangifteTijdvak", PERIOD_NAMES[c.period_type]),
                ("KvkNr", f"{60000000 + c.id}"),
            ):
                if value is not None:
                    self._el(ns, item, name, value)
        return result

    def _op_Run_GetList(self, service, params, company, user) -> etree._Element:
        ns = NS.format(service)
        result = etree.Element(f"{{{ns}}}Run_GetListResult")
        year = int(params.get("Year") or 0)
        for run in company.runs:
            if run.year != year:
                continue
            item = etree.SubElement(result, f"{{{ns}}}RunInfo")
            for name, value in (
                ("ID", run.id),
                ("Number", run.number),
                ("Year", run.year),
                ("PeriodStart", run.period),
                ("PeriodEnd", run.period),
                ("Description", f"Run {run.number} {run.year}"),
                ("RunAt", run.run_at),
                ("IsLocked", True),
            ):
                self._el(ns, item, name, value)
        return result

    def _op_PersonalInfo_GetAll_AllEmployeesByCompany(self, service, params, company, user) -> etree._Element:
        ns = NS.format(service)
        result = etree.Element(f"{{{ns}}}PersonalInfo_GetAll_AllEmployeesByCompanyResult")
        for e in company.employees:
            item = etree.SubElement(result, f"{{{ns}}}PersonalInfoItem")
            self._el(ns, item, "EmployeeId", e.id)
            infos = etree.SubElement(item, f"{{{ns}}}EmployeePersonalInfos")
            info = etree.SubElement(infos, f"{{{ns}}}PersonalInfo_V2")
            for name, value in (
                ("Id", e.id * 10),
                ("EmployeeNumber", e.number),
                ("BSN", e.bsn),
                ("FirstName", e.first_name),
                ("Initials", e.first_name[0] + "."),
                ("LastName", e.last_name),
                ("Gender", "female" if e.id % 2 else "male"),
                ("Birthday", e.birthday),
                ("EmailWork", f"{e.first_name.lower()}@{company.rest_id[:8]}.example"),
                ("CreationDate", datetime(2020, 1, 1)),
                ("StartPeriod", 1),
                ("StartYear", 2020),
            ):
                self._el(ns, info, name, value)
        return result

    def _task(self, operation: str, content: str) -> str:
        task_id = str(uuid.uuid4())
        self.tasks[task_id] = _Task(operation, content, self.report_modes.get(operation, "normal"))
        return task_id

    def _op_Reports_Accountant_Company_CompanyWageComponentsPerPeriod_Background(
        self, service, params, company, user
    ) -> str:
        year = int(params.get("year") or 0)
        costs = self.costs(company.id, year)
        root = etree.Element("reports")
        for period in sorted({p for p, _ in costs}):
            report = etree.SubElement(root, "report")
            etree.SubElement(report, "companyid").text = str(company.id)
            etree.SubElement(report, "period").text = str(period)
            etree.SubElement(report, "year").text = str(year)
            lines = etree.SubElement(report, "lines")
            for code, name in COMPONENTS:
                if (period, code) in costs:
                    line = etree.SubElement(lines, "line")
                    etree.SubElement(line, "code").text = code
                    etree.SubElement(line, "description").text = name
                    etree.SubElement(line, "value").text = f"{costs[(period, code)]:.2f}"
        content = '<?xml version="1.0" encoding="utf-16"?>' + etree.tostring(root, encoding="unicode")
        return self._task("Reports_Accountant_Company_CompanyWageComponentsPerPeriod_Background", content)

    def _op_Reports_GetPayslipByRunCompany_v2_Background(self, service, params, company, user) -> str:
        run_id = int(params.get("RunId") or 0)
        run = next((r for r in company.runs if r.id == run_id), None)
        root = etree.Element("payslips")
        numbers = {e.id: e.number for e in company.employees}
        for employee, amounts in (run.slips if run else {}).items():
            slip = etree.SubElement(root, "payslip")
            for name, value in (
                ("employeeid", employee),
                ("employeenumber", numbers.get(employee)),
                ("runid", run.id),
                ("period", run.period),
                ("year", run.year),
            ):
                etree.SubElement(slip, name).text = str(value)
            lines = etree.SubElement(slip, "lines")
            for code, amount in amounts.items():
                line = etree.SubElement(lines, "line")
                etree.SubElement(line, "code").text = code
                etree.SubElement(line, "description").text = COMPONENT_NAMES[code]
                etree.SubElement(line, "value").text = f"{amount:.2f}"
        content = '<?xml version="1.0" encoding="utf-16"?>' + etree.tostring(root, encoding="unicode")
        return self._task("Reports_GetPayslipByRunCompany_v2_Background", content)

    def _op_Reports_BackgroundTask_Result(self, service, params, company, user) -> etree._Element:
        ns = NS.format(service)
        task_id = params.get("TaskId", "")
        task = self.tasks.get(task_id)
        result = etree.Element(f"{{{ns}}}Reports_BackgroundTask_ResultResult")
        self._el(ns, result, "TaskId", task_id)
        if task is None:
            self._el(ns, result, "Status", "Unknown")
            return result
        task.polls += 1
        if task.mode == "stuck" or task.polls <= self.task_steps:
            status = "Enqueued" if task.polls == 1 else "Executing"
        else:
            status = "Error" if task.mode == "error" else "Success"
        self._el(ns, result, "Status", status)
        if status == "Success":
            self._el(ns, result, "Content", task.content)
        return result

    # -- sign-in without a browser

    def issue_tokens(self) -> dict[str, Any]:
        """A token answer as if the user had just signed in."""
        return self.auth.issue()


def main(argv: list[str] | None = None) -> int:
    """Serve the sandbox on a fixed port for manual trials: python -m connectors.nmbrs.sandbox."""
    parser = argparse.ArgumentParser(description="A local Nmbrs sandbox")
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--as-of", default="2024-03-31")
    args = parser.parse_args(argv)
    sandbox = NmbrsSandbox(port=args.port, as_of=args.as_of).start()
    print(f"Nmbrs sandbox on {sandbox.url} (client id {sandbox.client_id}, e-mail {sandbox.email})")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        sandbox.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
