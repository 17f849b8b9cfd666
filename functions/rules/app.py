"""Provider policies: the list, one provider's policy, and eligibility of a country."""

from typing import Annotated

from regiongate.api.http import create_resolver, http_handler
from regiongate.api.models import (
    EligibilityResponse,
    PolicyResponse,
    ProvidersResponse,
    Query,
    responses,
)
from regiongate.api.observability import tracer
from regiongate.engine import get_engine
from regiongate.rules import eligibility, policy_document, provider_summaries
from regiongate.vocabulary import TIER_PATTERN

app = create_resolver()


@app.get("/v1/providers", responses=responses(ProvidersResponse, 503), summary="List providers")
@tracer.capture_method(capture_response=False)
def list_providers() -> ProvidersResponse:
    return ProvidersResponse.model_validate(provider_summaries(get_engine().policies))


@app.get(
    "/v1/providers/<provider>",
    responses=responses(PolicyResponse, 404, 503),
    summary="One provider's policy with provenance and effective dates",
)
@tracer.capture_method(capture_response=False)
def show_provider(provider: str) -> PolicyResponse:
    return PolicyResponse.model_validate(policy_document(get_engine().policies, provider))


@app.get(
    "/v1/providers/<provider>/eligibility",
    responses=responses(EligibilityResponse, 400, 404, 422, 503),
    summary="Whether callers from a country may use a provider",
)
@tracer.capture_method(capture_response=False)
def check_eligibility(
    provider: str,
    country: Annotated[str, Query(pattern=r"^[A-Za-z]{2}$")],
    subdivision: Annotated[str | None, Query(pattern=r"^[A-Za-z]{2}-[A-Za-z0-9]{1,3}$")] = None,
    account_tier: Annotated[str | None, Query(pattern=TIER_PATTERN)] = None,
) -> EligibilityResponse:
    return EligibilityResponse.model_validate(
        eligibility(get_engine(), provider, country, subdivision, account_tier)
    )


lambda_handler = http_handler(app)
