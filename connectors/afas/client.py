"""Network access to AFAS Profit's REST services: token header, GetConnector paging, metainfo.

The contract (AFASSoftware/OASContent: MarkdownPages/Profit/en/GetConnector.md, the
"Fouten verhelpen" troubleshooting page and OpenApiSpecs/profit/en/Mutaties.json):

- base URL https://{environment}.rest.afas.online/ProfitRestServices (resttest / restaccept for
  test and acceptance environments); header `Authorization: AfasToken <base64 of the token XML>`;
- GET /connectors/{id}?skip=&take=&orderbyfieldids=&filterfieldids=&filtervalues=&operatortypes=,
  answer {"skip", "take", "rows"}; always order when paging; the parameter string may be at most
  2049 characters (longer answers 404);
- GET /metainfo lists getConnectors; GET /metainfo/get/{id} lists a connector's fields;
- errors: 401 token, 403 IP restriction, 500 {"externalMessage", "errorNumber",
  "profitLogReference"}, 503 maintenance with a `retry_after` in the body; at most 8 calls at once.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any

import httpx

from connectors.afas.parse import Condition, filter_params
from connectors.http import ApiClient, Clock, HttpPolicy, loads_decimal
from pipeline.errors import AuthError, ConfigError, FatalSourceError, LedgerlineError, RetriableSourceError

MAX_QUERY_CHARS = 2049  # the "string with parameters", '?' and '&' included
MAX_PARALLEL = 8
ROW_FIELD_BUDGET = 150_000  # AFAS's advice: take x number of fields < 150,000
HOSTS = {"production": "rest", "test": "resttest", "accept": "restaccept"}


def token_header(token: str) -> str:
    """The Authorization header value for a token: its XML wrapper, base64-encoded."""
    token = token.strip()
    if not token:
        raise AuthError("The AFAS token is empty.", guidance="Reconnect with a new token.")
    xml = token if token.startswith("<token>") else f"<token><version>1</version><data>{token}</data></token>"
    return "AfasToken " + base64.b64encode(xml.encode("utf-8")).decode("ascii")


def base_url(environment: str, env_type: str = "production") -> str:
    """The REST base URL of an environment ('12345' or the full name 'O12345AA')."""
    if env_type not in HOSTS:
        raise ConfigError(f"Unknown AFAS environment type {env_type!r}; use production, test or accept.")
    match = re.fullmatch(r"[OT]?(\d{5})([A-Z]{2})?", environment.strip().upper())
    if not match:
        raise ConfigError(
            f"{environment!r} is not an AFAS environment number.",
            guidance="Enter the five digits of the environment (Omgevingsnaam), e.g. 12345.",
        )
    return f"https://{match.group(1)}.{HOSTS[env_type]}.afas.online/ProfitRestServices"


def _body(response: httpx.Response) -> dict[str, Any]:
    try:
        body = loads_decimal(response.content)
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def map_error(response: httpx.Response) -> LedgerlineError:
    """AFAS error answers as typed errors with what the user should do."""
    status = response.status_code
    body = _body(response)
    message = body.get("externalMessage")
    reference = body.get("profitLogReference")
    ref = f" (AFAS log reference {reference})" if reference else ""
    if status == 401:
        return AuthError(
            "AFAS rejected the token (HTTP 401).",
            guidance="Reconnect with a new token: generate one in the App connector and enter it here.",
        )
    if status == 403:
        return FatalSourceError(
            "AFAS refused the call because of an IP restriction on the App connector (HTTP 403).",
            guidance="Allow this server's IP address in the App connector in AFAS, then import again.",
        )
    if status == 404:
        return FatalSourceError(
            f"AFAS does not know {response.request.url.path} (HTTP 404).",
            guidance="Check the environment number and the GetConnector names in the source settings.",
        )
    if status == 503:
        return RetriableSourceError("AFAS is in maintenance (HTTP 503).")
    if status >= 500:
        text = message or "AFAS reported an error without a message"
        return FatalSourceError(
            f"AFAS: {text}{ref}.",
            guidance="An AFAS administrator can look the reference up in the environment log (omgevingslogboek).",
        )
    return FatalSourceError(f"AFAS answered HTTP {status}: {message or response.reason_phrase}{ref}.")


def retry_hint(response: httpx.Response) -> float | None:
    """AFAS puts the maintenance wait in the 503 body as `retry_after` (seconds)."""
    value = _body(response).get("retry_after")
    if isinstance(value, int | Decimal | str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


class AfasClient:
    """GetConnector reads for one environment, under the shared HTTP policy."""

    def __init__(
        self,
        url: str,
        token: str,
        *,
        clock: Clock | None = None,
        policy: HttpPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
    ):
        policy = policy or HttpPolicy(max_parallel=MAX_PARALLEL, max_wait=900.0)
        if policy.max_parallel > MAX_PARALLEL:
            policy.max_parallel = MAX_PARALLEL
        self.api = ApiClient(
            url.rstrip("/") + "/",
            vendor="AFAS",
            policy=policy,
            clock=clock,
            headers={
                "Authorization": token_header(token),
                "Accept": "application/json",
                "Accept-Language": "nl-nl",
            },
            error=map_error,
            retry_hint=retry_hint,
            transport=transport,
        )

    def close(self) -> None:
        self.api.close()

    @property
    def calls(self) -> int:
        return self.api.stats.calls

    def metainfo(self) -> dict[str, Any]:
        """The environment's connectors and the app's info (GET /metainfo)."""
        return self.api.get_json("metainfo")

    def fields(self, connector: str) -> list[dict[str, Any]]:
        """A GetConnector's fields (GET /metainfo/get/{id})."""
        return list(self.api.get_json(f"metainfo/get/{connector}").get("fields") or [])

    def page(
        self,
        connector: str,
        *,
        skip: int,
        take: int,
        order: Sequence[str],
        groups: Sequence[Sequence[Condition]] = (),
    ) -> list[dict[str, Any]]:
        params = {"skip": str(skip), "take": str(take), **filter_params(groups)}
        if order:
            params["orderbyfieldids"] = ",".join(order)
        query = str(httpx.QueryParams(params))
        if len(query) + 1 > MAX_QUERY_CHARS:
            raise ConfigError(
                f"An AFAS query for {connector} is longer than AFAS accepts ({len(query) + 1} chars)."
            )
        body = self.api.get_json(f"connectors/{connector}", params=params)
        rows = body.get("rows") if isinstance(body, dict) else None
        if rows is None:
            raise FatalSourceError(f"AFAS answered {connector} without rows.")
        return rows

    def rows(
        self,
        connector: str,
        *,
        take: int,
        order: Sequence[str],
        groups: Sequence[Sequence[Condition]] = (),
    ) -> Iterator[list[dict[str, Any]]]:
        """Every page of a filtered, ordered read; stops at the first page shorter than `take`."""
        skip = 0
        while True:
            rows = self.page(connector, skip=skip, take=take, order=order, groups=groups)
            if rows:
                yield rows
            if len(rows) < take:
                return
            skip += take

    def read_all(
        self, connector: str, *, take: int, order: Sequence[str], groups: Sequence[Sequence[Condition]] = ()
    ) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for rows in self.rows(connector, take=take, order=order, groups=groups):
            out.extend(rows)
        return out


def split_groups(
    groups: Sequence[Sequence[Condition]], *, order: Sequence[str], limit: int = MAX_QUERY_CHARS
) -> list[list[Sequence[Condition]]]:
    """ORed filter groups split into batches whose query strings stay under AFAS's limit.

    The length is measured on the encoded parameters with the largest skip/take we would send.
    """
    batches: list[list[Sequence[Condition]]] = []
    current: list[Sequence[Condition]] = []

    def length(candidate: list[Sequence[Condition]]) -> int:
        params: Mapping[str, str] = {
            "skip": "9999999999",
            "take": "999999",
            **filter_params(candidate),
            "orderbyfieldids": ",".join(order),
        }
        return len(str(httpx.QueryParams(params))) + 1

    for group in groups:
        if current and length([*current, group]) > limit:
            batches.append(current)
            current = []
        if length([group]) > limit:
            raise ConfigError("One AFAS filter group is longer than AFAS accepts in a query string.")
        current.append(group)
    if current:
        batches.append(current)
    return batches
