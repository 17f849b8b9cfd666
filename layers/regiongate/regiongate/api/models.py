"""Request and response models of the HTTP API: validation and the OpenAPI document.

Routes return these models, so the document is what the code answers: a response that does
not fit its model is a 500, never a silent drift. Keys that the domain writes only sometimes
(``embedded_via``, ``alternatives``…) are left out of an answer exactly when the domain leaves
them out (``exclude_if``), so typed answers keep their wire shape.

Every model defers building its validator to first use (``defer_build``): a function builds
only the models of the routes it serves, when it first serves them, so cold starts do not pay
for schemas of other routes (~100 ms).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from aws_lambda_powertools.event_handler.api_gateway import Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from pydantic import BaseModel as _PydanticModel
from pydantic import ConfigDict, Field, RootModel

from regiongate.vocabulary import TIER_PATTERN, Outcome, ReasonCode

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse

# Query parameters' marker and the response type, imported from here so that handlers import
# Powertools only after regiongate.api has made its packages lazy (see lazy_packages.py).
__all__ = ["Query", "Response"]


class BaseModel(_PydanticModel):
    """pydantic's BaseModel, built on first use."""

    model_config = ConfigDict(defer_build=True)


def _absent(value: object) -> bool:
    return value is None


class Wire(BaseModel):
    """A response body: every key declared, no other key allowed."""

    model_config = ConfigDict(extra="forbid")


# --- requests ------------------------------------------------------------------------------


class Account(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str | None = Field(default=None, min_length=1, max_length=128)
    tier: str | None = Field(default=None, pattern=TIER_PATTERN)
    # Account facts: honoured only from trusted gateways (else 403 account_facts_forbidden).
    country: str | None = Field(default=None, pattern=r"^[A-Za-z]{2}$")
    parent_country: str | None = Field(default=None, pattern=r"^[A-Za-z]{2}$")
    parent_ownership: float | None = Field(default=None, ge=0, le=100)
    verification: Literal["verified", "unverified", "pending"] | None = None
    contract: str | None = Field(default=None, pattern=TIER_PATTERN)


class EndUser(BaseModel):
    """The end user a platform serves (honoured only from trusted gateways)."""

    model_config = ConfigDict(extra="forbid")

    country: str = Field(pattern=r"^[A-Za-z]{2}$")


class ClassifyRequest(BaseModel):
    """A request to decide; ``ip`` is honoured only from trusted gateways."""

    model_config = ConfigDict(extra="forbid")

    provider: str = Field(min_length=1, max_length=40, examples=["openai"])
    model: str | None = Field(default=None, max_length=128, examples=["gpt-4.1"])
    account: Account | None = None
    end_user: EndUser | None = None
    ip: str | None = Field(default=None, max_length=100)


# --- decisions and geolocation -------------------------------------------------------------


class Reason(Wire):
    code: ReasonCode
    message: str


class Rule(Wire):
    id: str
    source: dict[str, str] | None = Field(description="the citation: source_url, as_of, note…")


class Alternative(Wire):
    provider: str
    outcome: Outcome
    reasons: list[Reason]
    rule: Rule


class ClientInfo(Wire):
    ip: str
    method: str
    source_ip: str


class ProviderError(Wire):
    status: int
    body: dict[str, Any]


class DatabaseInfo(Wire):
    path: str
    type: str
    build_date: str | None
    ip_version: int


class Evidence(Wire):
    database: DatabaseInfo
    network: str | None
    fields: list[str]


class NotRoutable(Wire):
    category: str | None
    network: str | None


class LocatedGeo(Wire):
    """An address the databases were asked about (``unknown``: none of them knew it)."""

    ip: str
    lookup_ip: str
    status: Literal["located", "unknown"]
    country: str | None
    embedded_via: str | None = Field(default=None, exclude_if=_absent)
    registered_country: str | None
    represented_country: str | None
    continent: str | None
    subdivisions: list[str]
    subdivision_data: bool
    anonymizers: list[str]
    asn: int | None
    as_organization: str | None
    network: str | None
    evidence: list[Evidence]


class UnroutableGeo(Wire):
    """An address that is not on the public Internet: no database is asked."""

    ip: str
    lookup_ip: str
    status: Literal["not_routable"]
    country: None
    embedded_via: str | None = Field(default=None, exclude_if=_absent)
    not_routable: NotRoutable


Geo = Annotated[LocatedGeo | UnroutableGeo, Field(discriminator="status")]


class GeoResponse(RootModel[Geo]):
    """Where an address is, with the evidence."""

    model_config = ConfigDict(defer_build=True)


class CallerLocated(LocatedGeo):
    client: ClientInfo


class CallerUnroutable(UnroutableGeo):
    client: ClientInfo


class CallerGeoResponse(
    RootModel[Annotated[CallerLocated | CallerUnroutable, Field(discriminator="status")]]
):
    """Where the caller is, and how its address was chosen."""

    model_config = ConfigDict(defer_build=True)


class GeoDatabaseFacts(Wire):
    file: str
    type: str
    build_date: str
    age_days: int | None
    ip_version: int
    answers_country: bool
    subdivisions: bool
    warnings: list[str]


class GeoInfoResponse(Wire):
    as_of: str
    max_age_days: int
    databases: list[GeoDatabaseFacts]
    warnings: int


class DecisionResponse(Wire):
    decision_id: str
    decided_at: str
    evaluated_at: str
    provider: str
    model: str | None
    account: dict[str, Any]
    policy_version: str
    outcome: Outcome
    reasons: list[Reason]
    rule: Rule
    applied_policies: list[str]
    alternatives: list[Alternative] | None = Field(
        default=None, exclude_if=_absent, description="present when any provider was considered"
    )
    excluded_alternatives: list[Alternative] | None = Field(default=None, exclude_if=_absent)
    serve_from_regions: list[str] | None = Field(default=None, exclude_if=_absent)
    geo: Geo
    client: ClientInfo
    provider_error: ProviderError | None


# --- policies ------------------------------------------------------------------------------


class ProviderSummary(Wire):
    provider: str
    display_name: str
    mode: str
    completeness: str
    entries: int
    as_of: str


class ProvidersResponse(Wire):
    policy_version: str
    providers: list[ProviderSummary]


class EligibilityResponse(Wire):
    provider: str
    country: str
    subdivision: str | None
    account_tier: str | None
    allowed: bool
    outcome: Outcome
    reasons: list[Reason]
    rule: Rule
    alternatives: list[Alternative]
    excluded_alternatives: list[Alternative]
    policy_version: str


class PolicyResponse(Wire):
    """One provider's policy document as loaded, and the baselines applied with it."""

    policy_version: str
    rules: list[str] = []  # every rule, one line each with its source and dates
    policy: dict[str, Any]
    baselines: list[dict[str, Any]]


# --- the audit trail -----------------------------------------------------------------------


class DecisionRecord(BaseModel):
    """A stored decision: the compact record, with its chain link. Records written by later
    schema versions may carry more keys; ``schema`` says which."""

    model_config = ConfigDict(extra="allow")

    schema_: int = Field(alias="schema")
    decision_id: str
    decided_at: str
    evaluated_at: str
    provider: str
    model: str | None
    account: dict[str, str | None]
    outcome: Outcome
    reasons: list[str]
    rule: str
    alternatives: list[str]
    policy_version: str
    network: str | None
    geo: dict[str, Any]
    ip_hash: str
    sequence: int
    prev_hash: str
    hash: str


class DecisionPage(Wire):
    decisions: list[DecisionRecord]
    next: str | None = Field(description="pass as ?next= for the following page; null at the end")


# --- errors --------------------------------------------------------------------------------


class ErrorDetail(Wire):
    code: str
    message: str
    details: dict[str, Any] = Field(default_factory=dict, description="present for some codes")


class ErrorResponse(Wire):
    """The one error body: ``{"error": {"code", "message", "details"?}}``."""

    error: ErrorDetail


# Every route can meet these: the body size limit (checked before routing) and a failure.
COMMON_ERRORS = (413, 500)


def responses(ok: type[_PydanticModel], *errors: int) -> dict[int, OpenAPIResponse]:
    """OpenAPI ``responses`` for a route: its success model and, for each error status it can
    answer (and the ones every route can), the shared error body."""
    out: dict[int, OpenAPIResponse] = {
        200: {"description": "OK", "content": {"application/json": {"model": ok}}}
    }
    for status in sorted({*errors, *COMMON_ERRORS}):
        out[status] = {
            "description": "Error: the shared error body; error.code says which",
            "content": {"application/json": {"model": ErrorResponse}},
        }
    return out
