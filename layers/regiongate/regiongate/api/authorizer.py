"""The gate's REQUEST authorizer: one decision, answered in the shape the API asks for.

An HTTP API (payload 2.0) gets a simple response (``isAuthorized``); a REST API (v1) gets an
IAM policy document. Both carry the same context: the decision, and on refusal the body the
caller should see (``refusal_body``: the refused provider's own error where it publishes one),
which the REST gate's ACCESS_DENIED gateway response renders and ``regiongate serve`` sends.

The provider judged is the one the *matched route* is bound to — read from the route key
(HTTP API) or the resource (REST API), which API Gateway takes from the template — never a
path parameter the caller chose: each provider has its own route and its own upstream.
"""

from __future__ import annotations

import json
import re
from typing import Any

from regiongate.account import accept_facts, account_facts
from regiongate.api.observability import logger
from regiongate.aws.recorder import decide_and_record
from regiongate.client_ip import ClientAddress, resolve
from regiongate.decision import provider_error
from regiongate.errors import RegiongateError
from regiongate.request import Request
from regiongate.settings import settings
from regiongate.vocabulary import Outcome

ACCOUNT_ID_HEADER = "x-regiongate-account-id"
ACCOUNT_TIER_HEADER = "x-regiongate-account-tier"
# Account facts as headers (x-regiongate-account-country, ...-parent-country,
# ...-parent-ownership, ...-verification, ...-contract, x-regiongate-end-user-country):
# from a trusted gateway only; anyone else stating one is refused.
FACT_HEADER_PREFIX = "x-regiongate-account-"
END_USER_COUNTRY_HEADER = "x-regiongate-end-user-country"
REFUSAL_BODY = "refusal_body"  # context key the gateway response and the local server render
REFUSAL_STATUS = "refusal_status"  # the provider's own status (the REST gate always says 403)
_GATE_ROUTE = re.compile(r"^(?:[A-Z]+ )?/proxy/([a-z][a-z0-9_]*)/\{proxy\+\}$")


def bound_provider(route: str | None) -> str | None:
    """The provider a gate route (``ANY /proxy/openai/{proxy+}`` or the REST resource
    ``/proxy/openai/{proxy+}``) is bound to; None for any other route."""
    found = _GATE_ROUTE.match(route or "")
    return found.group(1) if found else None


def _envelope(code: str, message: str, **details: Any) -> str:
    error: dict[str, Any] = {"code": code, "message": message}
    if details:
        error["details"] = details
    return json.dumps({"error": error}, separators=(",", ":"))


def _refusal_context(reason: str, provider: str | None = None) -> dict[str, Any]:
    message = f"the gate refused this request: {reason}"
    return {
        "outcome": "refused",
        "error": reason,
        "provider": provider or "",
        REFUSAL_STATUS: 403,
        REFUSAL_BODY: _envelope("request_refused", message, reason=reason),
    }


def decide(
    provider: str | None, source: str | None, headers: dict[str, str]
) -> tuple[bool, dict[str, Any]]:
    """Whether the caller may reach ``provider``'s upstream, with the authorizer context."""
    if not provider or not source:
        return False, _refusal_context("not_a_gate_route", provider)
    trust = settings().proxy_trust
    try:
        client: ClientAddress = resolve(source, headers.get("x-forwarded-for"), trust)
        # Account headers are believed only from trusted gateways, like a body 'ip'.
        trusted = trust.trusts_gateway(client.source_ip)
        stated = {
            name.removeprefix(FACT_HEADER_PREFIX).replace("-", "_"): value
            for name, value in headers.items()
            if name.startswith(FACT_HEADER_PREFIX)
            and name not in (ACCOUNT_ID_HEADER, ACCOUNT_TIER_HEADER)
        }
        facts = accept_facts(
            account_facts(stated, headers.get(END_USER_COUNTRY_HEADER), "trusted-gateway"),
            trusted,
        )
        request = Request(
            ip=client.ip,
            provider=provider,
            account_id=headers.get(ACCOUNT_ID_HEADER) if trusted else None,
            account_tier=headers.get(ACCOUNT_TIER_HEADER) if trusted else None,
            account_facts=facts,
        )
        rec, decision = decide_and_record(request, client)
    except RegiongateError as exc:
        logger.warning("authorizer refused on error", extra={"code": exc.code})
        return False, _refusal_context(exc.code, provider)
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
    allowed = decision.outcome == Outcome.ALLOW
    if not allowed:
        refusal = provider_error(decision, rec.engine.policies)
        if refusal:
            context[REFUSAL_STATUS] = refusal[0]
            context[REFUSAL_BODY] = json.dumps(refusal[1], separators=(",", ":"))
        else:
            context[REFUSAL_STATUS] = 403
            context[REFUSAL_BODY] = _envelope(
                "request_refused",
                f"{decision.outcome} for {provider}: {context['reasons']}",
                decision_id=decision.decision_id,
                outcome=decision.outcome,
            )
    return allowed, context


def _lower(headers: Any) -> dict[str, str]:
    return {str(k).lower(): str(v) for k, v in (headers or {}).items()}


def authorize(event: dict[str, Any]) -> dict[str, Any]:
    """Answer an HTTP API (2.0) or REST API (REQUEST, v1) authorizer event; refuse others."""
    context = event.get("requestContext") or {}
    if event.get("version") == "2.0":
        source = (context.get("http") or {}).get("sourceIp")
        allowed, answer = decide(
            bound_provider(event.get("routeKey")), source, _lower(event.get("headers"))
        )
        return {"isAuthorized": allowed, "context": answer}
    if event.get("type") == "REQUEST" and isinstance(event.get("methodArn"), str):
        source = (context.get("identity") or {}).get("sourceIp")
        allowed, answer = decide(
            bound_provider(event.get("resource")), source, _lower(event.get("headers"))
        )
        return {
            "principalId": answer.get("decision_id") or "refused",
            "policyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Action": "execute-api:Invoke",
                        "Effect": "Allow" if allowed else "Deny",
                        "Resource": event["methodArn"],
                    }
                ],
            },
            "context": answer,
        }
    logger.error("not an API Gateway REQUEST authorizer event", extra={"keys": sorted(event)})
    return {"isAuthorized": False, "context": _refusal_context("unsupported_event")}


def is_allowed(answer: dict[str, Any]) -> bool:
    """Whether an authorizer answer (simple response or policy document) allows the call."""
    if "isAuthorized" in answer:
        return bool(answer["isAuthorized"])
    statements = (answer.get("policyDocument") or {}).get("Statement") or []
    return bool(statements) and all(s.get("Effect") == "Allow" for s in statements)
