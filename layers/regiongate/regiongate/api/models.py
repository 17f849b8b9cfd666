"""Request and response models of the HTTP API: validation and the OpenAPI document.

Every model defers building its validator to first use (``defer_build``): a function uses only
its request model at run time, while the response models serve the OpenAPI document, so cold
starts do not pay for building schemas nobody validates against (~100 ms).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from aws_lambda_powertools.event_handler.api_gateway import Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from pydantic import BaseModel as _PydanticModel
from pydantic import ConfigDict, Field

from regiongate.vocabulary import TIER_PATTERN, Outcome

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse

# Query parameters' marker and the response type, imported from here so that handlers import
# Powertools only after regiongate.api has made its packages lazy (see lazy_packages.py).
__all__ = ["Query", "Response"]


class BaseModel(_PydanticModel):
    """pydantic's BaseModel, built on first use."""

    model_config = ConfigDict(defer_build=True)


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


class Reason(BaseModel):
    code: str
    message: str


class Rule(BaseModel):
    id: str
    source: dict[str, str] | None


class Alternative(BaseModel):
    provider: str
    outcome: Outcome
    reasons: list[Reason]
    rule: Rule


class ClientInfo(BaseModel):
    ip: str
    method: str
    source_ip: str


class ProviderError(BaseModel):
    status: int
    body: dict[str, Any]


class DecisionResponse(BaseModel):
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
    alternatives: list[Alternative] = []
    excluded_alternatives: list[Alternative] = []
    serve_from_regions: list[str] | None = None
    geo: dict[str, Any]
    client: ClientInfo
    provider_error: ProviderError | None = None


class GeoResponse(BaseModel):
    ip: str
    lookup_ip: str
    status: Literal["located", "unknown", "not_routable"]
    country: str | None
    client: ClientInfo | None = None


class GeoDatabaseFacts(BaseModel):
    file: str
    type: str
    build_date: str
    age_days: int | None
    ip_version: int
    answers_country: bool
    subdivisions: bool
    warnings: list[str]


class GeoInfoResponse(BaseModel):
    as_of: str
    max_age_days: int
    databases: list[GeoDatabaseFacts]
    warnings: int


class ProviderSummary(BaseModel):
    provider: str
    display_name: str
    mode: str
    completeness: str
    entries: int
    as_of: str


class ProvidersResponse(BaseModel):
    policy_version: str
    providers: list[ProviderSummary]


class EligibilityResponse(BaseModel):
    provider: str
    country: str
    subdivision: str | None
    account_tier: str | None
    allowed: bool
    outcome: Outcome
    reasons: list[Reason]
    rule: Rule
    alternatives: list[Alternative] = []
    excluded_alternatives: list[Alternative] = []
    policy_version: str


class PolicyResponse(BaseModel):
    policy_version: str
    rules: list[str] = []  # every rule, one line each with its source and dates
    policy: dict[str, Any]
    baselines: list[dict[str, Any]]


class DecisionRecord(BaseModel):
    """A stored decision: the compact record, with its chain link."""

    model_config = ConfigDict(extra="allow")

    decision_id: str
    decided_at: str
    provider: str
    outcome: Outcome
    reasons: list[str]
    rule: str
    policy_version: str
    sequence: int
    prev_hash: str
    hash: str


class DecisionPage(BaseModel):
    decisions: list[DecisionRecord]
    next: str | None


class ErrorDetail(BaseModel):
    code: str
    message: str
    details: dict[str, Any] | None = None


class ErrorResponse(BaseModel):
    error: ErrorDetail


def responses(ok: type[BaseModel], *errors: int) -> dict[int, OpenAPIResponse]:
    """OpenAPI ``responses`` for a route: its success model and the shared error body."""
    out: dict[int, OpenAPIResponse] = {
        200: {"description": "OK", "content": {"application/json": {"model": ok}}}
    }
    for status in errors:
        out[status] = {
            "description": "Error",
            "content": {"application/json": {"model": ErrorResponse}},
        }
    return out
