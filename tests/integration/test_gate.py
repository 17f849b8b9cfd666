"""The gate under ``regiongate serve``: each provider's route reaches only its own upstream."""

from __future__ import annotations

import json

import pytest
from regiongate.policy import PolicySet
from serving import Server
from upstream import UPSTREAM_PARAMETERS, FakeUpstream

CN, US = "1.2.4.8", "8.8.8.8"


# An independent US company, as the trusted gateway states it.
US_COMPANY = {"x-regiongate-account-country": "US", "x-regiongate-account-parent-ownership": "0"}


def _post(gate: Server, path: str, ip: str) -> tuple[int, object]:
    body = json.dumps({"model": "m", "messages": [{"role": "user", "content": "hi"}]}).encode()
    headers = {"x-forwarded-for": ip, "content-type": "application/json", **US_COMPANY}
    return gate.request("POST", path, body, headers)


def test_a_refused_caller_naming_another_provider_reaches_only_that_providers_upstream(
    gate: Server, upstream: FakeUpstream, policies: PolicySet
) -> None:
    before = upstream.hits.copy()
    status, body = _post(gate, "/proxy/openai/v1/chat/completions", CN)
    assert (status, body) == (403, policies.providers["openai"].error_response["body"])
    assert upstream.hits == before, "a refused caller reached an upstream"
    for provider in UPSTREAM_PARAMETERS:
        status, _ = _post(gate, f"/proxy/{provider}/v1/chat/completions", CN)
        reached = upstream.hits - before
        assert set(reached) <= {provider}, (provider, reached)
        assert (status == 200) == (reached[provider] == 1), (provider, status)
        before = upstream.hits.copy()


@pytest.mark.parametrize("provider", ["skynet", "moonshot", "OpenAI", "open%2Fai"])
def test_a_provider_without_an_upstream_is_404_and_never_forwarded(
    gate: Server, upstream: FakeUpstream, provider: str
) -> None:
    before = upstream.hits.copy()
    status, body = _post(gate, f"/proxy/{provider}/v1/chat/completions", US)
    assert status == 404
    assert body["error"]["code"] == "route_not_found"  # type: ignore[index]
    assert upstream.hits == before


def test_an_allowed_caller_is_forwarded_to_its_providers_upstream_with_the_decision(
    gate: Server, upstream: FakeUpstream
) -> None:
    status, body = _post(gate, "/proxy/anthropic/v1/messages?beta=true", US)
    assert status == 200 and body["type"] == "message"  # type: ignore[index]
    seen = upstream.requests[-1]
    assert seen["path"] == "/anthropic/v1/messages?beta=true"
    headers = {k.lower(): v for k, v in seen["headers"].items()}
    assert headers["x-regiongate-country"] == "US"
    assert headers["x-regiongate-decision-id"]
