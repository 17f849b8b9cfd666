"""The official OpenAI and Anthropic SDKs through ``regiongate serve`` to a fake upstream.

Everything is on loopback: the gate is a ``regiongate serve`` subprocess whose provider
upstreams point at a fake provider API started here, which counts hits per provider.
"""

from __future__ import annotations

import contextlib
import json
import socket
import urllib.request
from typing import Any

import anthropic
import openai
import pytest
from regiongate.policy import PolicySet
from serving import Server
from upstream import UPSTREAM_PARAMETERS, FakeUpstream

CN, US = "1.2.4.8", "8.8.8.8"
MESSAGES: Any = [{"role": "user", "content": "hi"}]
# Account facts the trusted gateway (loopback) states: an independent US company, which
# Anthropic's ownership rule needs (without them the caller is reviewed, so refused).
US_COMPANY = {"x-regiongate-account-country": "US", "x-regiongate-account-parent-ownership": "0"}


def _options(ip: str, headers: dict[str, str]) -> dict[str, Any]:
    """No SDK retries (each test counts upstream hits), loopback timeouts, the caller's
    address for the gate (serve trusts one X-Forwarded-For hop here)."""
    return {
        "max_retries": 0,
        "timeout": 10,
        "default_headers": {"x-forwarded-for": ip, **US_COMPANY, **headers},
    }


def openai_client(gate: Server, ip: str, provider: str = "openai", **headers: str) -> openai.OpenAI:
    base_url = f"{gate.url}/proxy/{provider}/v1"
    return openai.OpenAI(base_url=base_url, api_key="sk-test", **_options(ip, headers))


def anthropic_client(gate: Server, ip: str, **headers: str) -> anthropic.Anthropic:
    base_url = f"{gate.url}/proxy/anthropic"
    return anthropic.Anthropic(base_url=base_url, api_key="sk-ant-test", **_options(ip, headers))


# --- allowed callers ---------------------------------------------------------------------


def test_openai_sdk_allowed_caller_gets_the_upstreams_completion(
    gate: Server, upstream: FakeUpstream
) -> None:
    before = upstream.hits["openai"]
    completion = openai_client(gate, US).chat.completions.create(
        model="gpt-test", messages=MESSAGES
    )
    assert completion.choices[0].message.content == "hello"
    assert upstream.hits["openai"] == before + 1
    assert upstream.requests[-1]["path"] == "/openai/v1/chat/completions"
    assert upstream.requests[-1]["headers"]["authorization"] == "Bearer sk-test"


def test_anthropic_sdk_allowed_caller_gets_the_upstreams_message(gate: Server) -> None:
    message = anthropic_client(gate, US).messages.create(
        model="claude-test", max_tokens=16, messages=MESSAGES
    )
    assert message.content[0].text == "hello"  # type: ignore[union-attr]


def test_openai_sdk_stream_arrives_before_the_upstream_has_finished(
    gate: Server, upstream: FakeUpstream
) -> None:
    upstream.release.clear()
    upstream.finished.clear()
    stream = openai_client(gate, US).chat.completions.create(
        model="gpt-test", messages=MESSAGES, stream=True
    )
    chunks = iter(stream)
    first = next(chunks)
    assert first.choices[0].delta.content == "hel"
    assert not upstream.finished.is_set(), "the gate waited for the whole answer"
    upstream.release.set()
    assert [c.choices[0].delta.content for c in chunks] == ["lo"]


def test_anthropic_sdk_stream_arrives_before_the_upstream_has_finished(
    gate: Server, upstream: FakeUpstream
) -> None:
    upstream.release.clear()
    upstream.finished.clear()
    with anthropic_client(gate, US).messages.stream(
        model="claude-test", max_tokens=16, messages=MESSAGES
    ) as stream:
        events = iter(stream)
        assert next(events).type == "message_start"
        assert not upstream.finished.is_set(), "the gate waited for the whole answer"
        upstream.release.set()
        assert stream.get_final_message().content[0].text == "hello"  # type: ignore[union-attr]


# --- upstream errors pass through ---------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (401, openai.AuthenticationError),
        (429, openai.RateLimitError),
        (500, openai.InternalServerError),
        (400, openai.BadRequestError),
    ],
)
def test_openai_sdk_sees_the_upstreams_own_errors_once(
    gate: Server, upstream: FakeUpstream, status: int, error: type[openai.APIStatusError]
) -> None:
    before = upstream.hits["openai"]
    client = openai_client(gate, US, **{"x-fake-status": str(status)})
    with pytest.raises(error) as raised:
        client.chat.completions.create(model="gpt-test", messages=MESSAGES)
    assert raised.value.status_code == status
    assert raised.value.code == f"fake_{status}"
    assert raised.value.response.headers["x-request-id"] == "req_fake"
    assert upstream.hits["openai"] == before + 1


@pytest.mark.parametrize(
    ("status", "error"),
    [(401, anthropic.AuthenticationError), (429, anthropic.RateLimitError)],
)
def test_anthropic_sdk_sees_the_upstreams_own_errors(
    gate: Server, status: int, error: type[anthropic.APIStatusError]
) -> None:
    client = anthropic_client(gate, US, **{"x-fake-status": str(status)})
    with pytest.raises(error) as raised:
        client.messages.create(model="claude-test", max_tokens=16, messages=MESSAGES)
    assert raised.value.body["error"]["message"] == f"upstream says {status}"  # type: ignore[index]


def test_the_sdks_default_retries_meet_one_answer_each_not_a_storm(
    gate: Server, upstream: FakeUpstream
) -> None:
    """A 429 passes through as the provider's 429: the SDK retries as it would against the
    provider (twice by default), and the gate adds no retries of its own."""
    before = upstream.hits["openai"]
    client = openai.OpenAI(
        base_url=f"{gate.url}/proxy/openai/v1",
        api_key="sk-test",
        default_headers={"x-forwarded-for": US, "x-fake-status": "429", "retry-after-ms": "1"},
    )
    client = client.with_options(max_retries=2)
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model="gpt-test", messages=MESSAGES)
    assert upstream.hits["openai"] - before == 3


# --- refused callers -----------------------------------------------------------------------


def test_refused_openai_caller_gets_openais_own_refusal(
    gate: Server, upstream: FakeUpstream, policies: PolicySet
) -> None:
    before = sum(upstream.hits.values())
    with pytest.raises(openai.PermissionDeniedError) as refused:
        openai_client(gate, CN).chat.completions.create(model="gpt-test", messages=MESSAGES)
    assert refused.value.code == "unsupported_country_region_territory"
    assert refused.value.body == policies.providers["openai"].error_response["body"]["error"]
    assert sum(upstream.hits.values()) == before


def test_refused_anthropic_caller_gets_anthropics_own_refusal(
    gate: Server, upstream: FakeUpstream, policies: PolicySet
) -> None:
    before = sum(upstream.hits.values())
    with pytest.raises(anthropic.PermissionDeniedError) as refused:
        anthropic_client(gate, CN).messages.create(
            model="claude-test", max_tokens=16, messages=MESSAGES
        )
    assert refused.value.body == policies.providers["anthropic"].error_response["body"]
    assert sum(upstream.hits.values()) == before


def test_a_refused_caller_trying_every_providers_path_reaches_no_other_provider(
    gate: Server, upstream: FakeUpstream
) -> None:
    for provider in UPSTREAM_PARAMETERS:
        before = upstream.hits.copy()
        with contextlib.suppress(openai.APIStatusError):
            openai_client(gate, CN, provider).chat.completions.create(
                model="gpt-test", messages=MESSAGES
            )
        reached = upstream.hits - before
        assert set(reached) <= {provider}, (provider, reached)


# --- bad input -----------------------------------------------------------------------------


def raw(gate: Server, method: str, path: str, body: bytes | None = None) -> tuple[int, Any]:
    return gate.request(method, path, body, {"x-forwarded-for": US})


def test_an_unknown_provider_is_404_with_the_envelope(gate: Server) -> None:
    with pytest.raises(openai.NotFoundError) as missing:
        openai_client(gate, US, "skynet").chat.completions.create(model="m", messages=MESSAGES)
    assert missing.value.code == "route_not_found"


@pytest.mark.parametrize(
    "path", ["/proxy/openai/..%2F..%2Fadmin", "/proxy/openai/v1/%2e%2e/%2e%2e/admin"]
)
def test_traversal_is_400_and_never_forwarded(
    gate: Server, upstream: FakeUpstream, path: str
) -> None:
    before = upstream.hits.copy()
    status, body = raw(gate, "GET", path)
    assert (status, body["error"]["code"]) == (400, "invalid_path")
    assert upstream.hits == before


def test_an_oversized_body_is_413_and_never_forwarded(gate: Server, upstream: FakeUpstream) -> None:
    """Refused on its Content-Length, before a byte of it is read (as a client that waits for
    100-continue would see it)."""
    before = upstream.hits.copy()
    host, port = gate.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(
            b"POST /proxy/openai/v1/chat/completions HTTP/1.1\r\nHost: gate\r\n"
            b"x-forwarded-for: 8.8.8.8\r\nContent-Length: %d\r\n\r\n" % (10 * 2**20 + 1)
        )
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413 ")
    assert json.loads(body)["error"]["code"] == "payload_too_large"
    assert upstream.hits == before


def test_an_upstream_that_is_down_is_one_502_with_the_envelope(gate: Server) -> None:
    status, body = raw(gate, "POST", "/proxy/google_gemini/v1beta/models/g:generateContent", b"{}")
    assert (status, body["error"]["code"]) == (502, "upstream_unreachable")


def test_a_slow_upstream_is_a_504_with_the_envelope(gate: Server) -> None:
    status, body = gate.request(
        "POST",
        "/proxy/openai/v1/chat/completions",
        b"{}",
        {"x-forwarded-for": US, "x-fake-delay": "3"},
    )
    assert (status, body["error"]["code"]) == (504, "upstream_timeout")


@pytest.mark.parametrize("method", ["HEAD", "OPTIONS"])
def test_head_and_cors_preflight_on_the_proxy_route_are_judged_then_forwarded(
    gate: Server, upstream: FakeUpstream, method: str
) -> None:
    headers = {
        "x-forwarded-for": US,
        "Origin": "https://app.example",
        "Access-Control-Request-Method": "POST",
    }
    request = urllib.request.Request(
        f"{gate.url}/proxy/openai/v1/models", method=method, headers=headers
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
        assert response.read() == b"" or method == "OPTIONS"
    assert upstream.requests[-1]["method"] == method
    assert upstream.requests[-1]["path"] == "/openai/v1/models"
