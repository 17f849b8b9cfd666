"""Every read path checks its input before the table, answering 400 with the error envelope,
for what DynamoDB itself would refuse with a ValidationException (moto accepts much of it).

DynamoDB's documented rules these follow: a key condition's BETWEEN needs lower <= upper;
a partition key value is at most 2048 bytes and a sort key value 1024; key values are never
empty; an ExclusiveStartKey holds exactly the table's and the queried index's key attributes
and lies within the partition the query names. Store errors map to typed answers.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from helpers import Stack, load_event
from regiongate.aws import clients

from tests.functions.test_audit_trail import classify_event, consume


def get(stack: Stack, path: str, query: dict[str, str] | None = None) -> tuple[int, Any]:
    event = load_event("audit-list-decisions")
    event["rawPath"] = event["requestContext"]["http"]["path"] = path
    event["routeKey"] = event["requestContext"]["routeKey"] = (
        "GET /v1/decisions/{decision_id}" if path.count("/") == 3 else "GET /v1/decisions"
    )
    if path.count("/") == 3:
        event["pathParameters"] = {"decision_id": path.rsplit("/", 1)[1]}
    event["queryStringParameters"] = query or {}
    event["rawQueryString"] = "&".join(f"{k}={v}" for k, v in (query or {}).items())
    response = stack.invoke("AuditFunction", event)
    return response["statusCode"], json.loads(response["body"])


def _token(key: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode()


@pytest.fixture
def table_untouched(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any call to DynamoDB fails the test: these requests must be refused before it."""

    def refuse(service: str) -> Any:
        raise AssertionError(f"the {service} client was used")

    monkeypatch.setattr("regiongate.aws.store.client", refuse)


A_KEY = {
    "pk": "chain#account#acct-1#2026-11-21",
    "sk": "seq#0000000001",
    "by_account": "account#acct-1",
    "time_id": "2026-11-21T10:00:00.000Z#x",
}


@pytest.mark.parametrize(
    ("path", "query", "field"),
    [
        ("/v1/decisions", {"account": "a", "from": "2026-12-01", "to": "2026-11-01"}, "from"),
        ("/v1/decisions", {"account": "a", "from": "2026-02-30"}, "from"),
        ("/v1/decisions", {"account": "a", "to": "2026-13-01"}, "to"),
        ("/v1/decisions", {"account": "a", "from": "yesterday"}, "from"),
        ("/v1/decisions", {"account": "a" * 129}, "account"),
        ("/v1/decisions", {"account": ""}, "account"),
        ("/v1/decisions", {"provider": "openai", "day": "2026-02-30"}, "day"),
        ("/v1/decisions", {"provider": "Open AI", "day": "2026-02-03"}, "provider"),
        ("/v1/decisions", {"provider": "openai"}, None),
        ("/v1/decisions", {}, None),
        ("/v1/decisions", {"account": "a", "next": "!!!not base64"}, "next"),
        ("/v1/decisions", {"account": "a", "next": _token(["a", "list"])}, "next"),
        ("/v1/decisions", {"account": "a", "next": _token({"pk": "x"})}, "next"),
        ("/v1/decisions", {"account": "acct-2", "next": _token(A_KEY)}, "next"),  # not its own
        (
            "/v1/decisions",
            {"account": "acct-1", "next": _token(A_KEY | {"sk": "s" * 1025})},
            "next",
        ),
        ("/v1/decisions", {"account": "acct-1", "next": _token(A_KEY | {"pk": 7})}, "next"),
        (
            "/v1/decisions",
            {"account": "acct-1", "from": "2026-11-22", "next": _token(A_KEY)},
            "next",  # before the range queried
        ),
        ("/v1/decisions/" + "0" * 65, None, "decision_id"),
        ("/v1/decisions/" + "0" * 3000, None, "decision_id"),
        ("/v1/decisions/a%23b", None, "decision_id"),
    ],
)
@pytest.mark.usefixtures("table_untouched")
def test_bad_reads_are_refused_with_400_before_the_table(
    stack: Stack, path: str, query: dict[str, str], field: str | None
) -> None:
    status, body = get(stack, path, query)
    assert status == 400, body
    assert body["error"]["code"] == "invalid_request"
    assert body["error"].get("details", {}).get("field") == field


def test_a_provider_day_is_listed_and_paginated_with_its_own_token(stack: Stack) -> None:
    for ip in ("1.2.4.8", "8.8.8.8", "223.255.128.1"):
        assert (
            stack.invoke("ClassifyFunction", classify_event(ip, "anthropic", "acct-p"))[
                "statusCode"
            ]
            == 200
        )
    consume(stack, "AuditQueue")
    status, body = get(stack, "/v1/decisions", {"account": "acct-p"})
    day = body["decisions"][0]["decided_at"][:10]
    seen, query = [], {"provider": "anthropic", "day": day, "limit": "2"}
    while True:
        status, body = get(stack, "/v1/decisions", query)
        assert status == 200, body
        seen += [d["decision_id"] for d in body["decisions"]]
        if not body["next"]:
            break
        query = dict(query, next=body["next"])
        # the same token for another provider or day is refused
        assert get(stack, "/v1/decisions", dict(query, provider="openai"))[0] == 400
    assert len(seen) == len(set(seen)) == 3
    status, body = get(stack, "/v1/decisions", {"account": "acct-p", "from": f"{day}T00:00:00Z"})
    assert status == 200 and len(body["decisions"]) == 3


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (ClientError({"Error": {"Code": "ValidationException"}}, "Query"), 400, "invalid_request"),
        (
            ClientError({"Error": {"Code": "ProvisionedThroughputExceededException"}}, "Query"),
            503,
            "audit_store_busy",
        ),
        (
            ClientError({"Error": {"Code": "ResourceNotFoundException"}}, "Query"),
            503,
            "audit_store_unavailable",
        ),
        (EndpointConnectionError(endpoint_url="http://x"), 503, "audit_store_unavailable"),
    ],
)
def test_store_errors_are_typed_answers_not_500s(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, error: Exception, status: int, code: str
) -> None:
    real = clients.client

    class Failing:
        def __init__(self, inner: Any) -> None:
            self._inner = inner

        def __getattr__(self, name: str) -> Any:
            if name in ("query", "get_item"):

                def fail(**kwargs: Any) -> Any:
                    raise error

                return fail
            return getattr(self._inner, name)

    monkeypatch.setattr("regiongate.aws.store.client", lambda s: Failing(real(s)))
    for path, query in (
        ("/v1/decisions", {"account": "acct-1"}),
        ("/v1/decisions/01a2092c-7166-7056-b54a-0dc3d3765b56", None),
    ):
        answer = get(stack, path, query)
        assert answer[0] == status, answer
        assert answer[1]["error"]["code"] == code
