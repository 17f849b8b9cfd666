"""The local gate's upstream forwarding: unchanged answers, streamed, bounded in time."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import pytest
from regiongate.local.proxy import GateError, forward, forward_headers, safe_proxy_path
from upstream import FakeUpstream

DECISION = {"decision_id": "d-1", "country": "US"}


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeUpstream]:
    with FakeUpstream() as fake:
        yield fake


def call(upstream: FakeUpstream, headers: list[tuple[str, str]], body: bytes = b"{}", **kw: object):  # type: ignore[no-untyped-def]
    options: dict[str, object] = {"method": "POST", "timeout": 5.0, "proxy": "v1/chat/completions"}
    options.update(kw)
    return forward(
        upstream.base("openai") + "/{proxy}",
        str(options["proxy"]),
        "",
        str(options["method"]),
        headers,
        body,
        DECISION,
        float(options["timeout"]),  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    "raw",
    [
        "..%2F..%2Fadmin",
        "../admin",
        "v1/../../admin",
        "%2e%2e/admin",
        "v1/%2E/x",
        "a%2fb",
        "a%5cb",
        "a%00",
        "v1/\xff",  # raw (unencoded) non-ASCII: http.client could not send it (was a 500)
        "v1/a\x01b",
        "v1/a\x7fb",
    ],
)
def test_paths_that_would_leave_the_providers_api_are_refused(raw: str) -> None:
    with pytest.raises(GateError) as refused:
        safe_proxy_path(raw)
    assert (refused.value.status, refused.value.code) == (400, "invalid_path")


@pytest.mark.parametrize("query", ["x=\xff", "x=\x01", "x=a b"])
def test_a_raw_non_ascii_or_control_query_is_refused(query: str) -> None:
    with pytest.raises(GateError) as refused:
        safe_proxy_path("v1/chat", query)
    assert (refused.value.status, refused.value.code) == (400, "invalid_path")


def test_headers_the_callers_connection_header_names_are_not_forwarded() -> None:
    headers = forward_headers(
        [("Connection", "close, X-Forwarded-For"), ("X-Forwarded-For", "8.8.8.8"), ("A", "1")],
        {"decision_id": "d-9", "country": "CN"},
    )
    assert headers == {"A": "1", "x-regiongate-decision-id": "d-9", "x-regiongate-country": "CN"}


@pytest.mark.parametrize("raw", ["v1/chat/completions", "v1/models/gpt-4o%3Afoo", "v1/a..b", "v1/"])
def test_ordinary_paths_pass_unchanged(raw: str) -> None:
    assert safe_proxy_path(raw) == raw


def test_the_decision_headers_cannot_be_set_by_the_caller() -> None:
    headers = forward_headers(
        [
            ("X-Regiongate-Country", "US"),
            ("Connection", "keep-alive"),
            ("Host", "gate"),
            ("A", "1"),
        ],
        {"decision_id": "d-9", "country": "CN"},
    )
    assert headers == {"A": "1", "x-regiongate-decision-id": "d-9", "x-regiongate-country": "CN"}


@pytest.mark.parametrize("status", [400, 401, 429, 500])
def test_upstream_errors_pass_through_with_their_body_and_headers_once(
    upstream: FakeUpstream, status: int
) -> None:
    answer = call(upstream, [("x-fake-status", str(status))])
    body = b"".join(answer.chunks)
    answer.close()
    assert answer.status == status
    assert json.loads(body)["error"]["code"] == f"fake_{status}"
    names = [k.lower() for k, _ in answer.headers]
    assert len(names) == len(set(names)), names
    assert "x-request-id" in names and "content-length" not in names
    assert answer.length == len(body)


def test_a_chunked_upstream_answer_streams_before_the_upstream_finishes(
    upstream: FakeUpstream,
) -> None:
    upstream.release.clear()
    upstream.finished.clear()
    answer = call(upstream, [("content-type", "application/json")], b'{"stream": true}')
    assert answer.length is None
    assert "transfer-encoding" not in [k.lower() for k, _ in answer.headers]
    first = next(answer.chunks)
    assert first.startswith(b"data: ") and not upstream.finished.is_set()
    upstream.release.set()
    rest = b"".join(answer.chunks)
    answer.close()
    assert rest.endswith(b"data: [DONE]\n\n")


def test_an_upstream_that_is_down_is_a_502() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(GateError) as failed:
        forward(f"http://127.0.0.1:{port}/{{proxy}}", "v1/x", "", "GET", [], b"", DECISION, 2.0)
    assert (failed.value.status, failed.value.code) == (502, "upstream_unreachable")


def test_a_slow_upstream_is_a_504(upstream: FakeUpstream) -> None:
    with pytest.raises(GateError) as failed:
        call(upstream, [("x-fake-delay", "2")], timeout=0.3)
    assert (failed.value.status, failed.value.code) == (504, "upstream_timeout")


def test_head_has_no_body(upstream: FakeUpstream) -> None:
    answer = call(upstream, [], b"", method="HEAD")
    assert answer.status == 200 and list(answer.chunks) == []
    answer.close()
