"""The decision an API Gateway REQUEST authorizer (payload 2.0, simple response) returns."""

from __future__ import annotations

import json
from typing import Any

from regiongate.api.observability import logger
from regiongate.aws.recorder import recorder
from regiongate.client_ip import ClientAddress, resolve
from regiongate.decision import ALLOW, provider_error
from regiongate.errors import RegiongateError
from regiongate.settings import settings

ACCOUNT_ID_HEADER = "x-regiongate-account-id"
ACCOUNT_TIER_HEADER = "x-regiongate-account-tier"


def _refuse(reason: str, **context: Any) -> dict[str, Any]:
    return {"isAuthorized": False, "context": {"outcome": "refused", "error": reason, **context}}


def authorize(event: dict[str, Any]) -> dict[str, Any]:
    """Allow only callers whose recorded decision for the route's provider is ``allow``."""
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    provider = (event.get("pathParameters") or {}).get("provider")
    source = ((event.get("requestContext") or {}).get("http") or {}).get("sourceIp")
    if not provider or not source:
        return _refuse("route has no {provider} path parameter or no source address")
    trust = settings().proxy_trust
    client: ClientAddress = resolve(source, headers.get("x-forwarded-for"), trust)
    # Account headers are believed only from trusted gateways, like a body 'ip'.
    trusted = trust.trusts_gateway(client.source_ip)
    account_id = headers.get(ACCOUNT_ID_HEADER) if trusted else None
    account_tier = headers.get(ACCOUNT_TIER_HEADER) if trusted else None
    rec = recorder()
    try:
        decision = rec.decide(client, provider, account_id=account_id, account_tier=account_tier)
    except RegiongateError as exc:
        logger.warning("authorizer refused on error", extra={"code": exc.code})
        return _refuse(exc.code, provider=provider)
    context: dict[str, Any] = {
        "decision_id": decision.decision_id,
        "outcome": decision.outcome,
        "provider": provider,
        "country": decision.geo.country or "",
        "reasons": ",".join(decision.verdict.reason_codes),
        "rule": decision.verdict.rule.rule_id,
        "client_ip_method": client.method,
        "policy_version": decision.policy_version,
    }
    if decision.verdict.alternatives:
        context["alternatives"] = ",".join(a.provider for a in decision.verdict.alternatives)
    refusal = provider_error(decision, rec.engine.policies)
    if refusal:
        context["provider_error_status"] = refusal[0]
        context["provider_error_body"] = json.dumps(refusal[1], separators=(",", ":"))
    return {"isAuthorized": decision.outcome == ALLOW, "context": context}
