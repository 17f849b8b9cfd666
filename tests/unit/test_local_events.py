"""The local server's translation of HTTP requests into API Gateway events, and back."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from regiongate.local import events
from regiongate.local.events import HttpRequest
from regiongate.local.template import Route

ROOT = Path(__file__).resolve().parents[2]

GEO = Route("GET", "/v1/geo/{ip}", "GeolocateFunction")
GATE = Route(
    "ANY", "/proxy/openai/{proxy+}", "", "AuthorizeFunction", "https://x/{proxy}", "CUSTOM", "REST"
)
ROUTES = [Route("GET", "/v1/geo", "GeolocateFunction"), GEO, GATE]


def request(method: str = "GET", target: str = "/v1/geo/1.2.4.8", **kw: object) -> HttpRequest:
    values: dict[str, object] = {
        "headers": [("Host", "127.0.0.1:3000"), ("User-Agent", "t")],
        "body": b"",
        "source_ip": "127.0.0.1",
        "request_id": "r-1",
        "received": 1_795_302_000.0,
    }
    values.update(kw)
    return HttpRequest(method, target, **values)  # type: ignore[arg-type]


def test_path_parameters_are_percent_decoded_as_api_gateway_decodes_them() -> None:
    raw = "/v1/geo/%5B2001:da8::1%5D:443"
    route, params = events.match(ROUTES, "GET", raw) or (None, {})
    assert route == GEO
    event = events.http_api_event(request(target=raw), GEO, params)
    assert event["pathParameters"] == {"ip": "[2001:da8::1]:443"}
    assert (
        event["rawPath"] == event["requestContext"]["http"]["path"] == "/v1/geo/[2001:da8::1]:443"
    )


def test_a_payload_2_event_has_api_gateways_shape() -> None:
    headers = [
        ("X-Forwarded-For", "1.2.4.8"),
        ("Cookie", "a=1; b=2"),
        ("Accept", "a"),
        ("accept", "b"),
    ]
    event = events.http_api_event(
        request(target="/v1/geo/1.2.4.8?x=1&x=2&y=", headers=headers), GEO, {"ip": "1.2.4.8"}
    )
    assert event["version"] == "2.0" and event["routeKey"] == "GET /v1/geo/{ip}"
    assert event["headers"]["x-forwarded-for"] == "1.2.4.8, 127.0.0.1"
    assert event["headers"]["accept"] == "a,b" and "cookie" not in event["headers"]
    assert event["cookies"] == ["a=1", "b=2"]
    assert event["queryStringParameters"] == {"x": "1,2", "y": ""}
    assert event["rawQueryString"] == "x=1&x=2&y="
    assert event["requestContext"]["timeEpoch"] == 1_795_302_000_000
    assert event["requestContext"]["requestId"] == "r-1"


def test_bodies_are_text_or_base64() -> None:
    text = events.http_api_event(request("POST", body='{"é": 1}'.encode()), GEO, {})
    assert (text["body"], text["isBase64Encoded"]) == ('{"é": 1}', False)
    binary = events.http_api_event(request("POST", body=b"\xff\x00"), GEO, {})
    assert base64.b64decode(binary["body"]) == b"\xff\x00" and binary["isBase64Encoded"]


def test_routes_match_by_method_and_any() -> None:
    assert events.match(ROUTES, "POST", "/v1/geo/1.2.4.8") is None
    assert events.methods_for(ROUTES, "/v1/geo/1.2.4.8") == ["GET"]
    route, params = events.match(ROUTES, "PATCH", "/proxy/openai/v1/chat/completions") or (None, {})
    assert (route, params) == (GATE, {"proxy": "v1/chat/completions"})
    assert events.match(ROUTES, "GET", "/proxy/openai") is None


def test_authorizer_events_name_the_matched_route_not_the_callers_path() -> None:
    req = request("POST", "/proxy/openai/v1/chat/completions", source_ip="1.2.4.8")
    event = events.http_api_event(req, GATE, {"proxy": "v1/chat/completions"})
    v2 = events.http_authorizer_event(event)
    assert (v2["version"], v2["type"], v2["routeKey"]) == (
        "2.0",
        "REQUEST",
        "ANY /proxy/openai/{proxy+}",
    )
    v1 = events.rest_authorizer_event(event, GATE)
    assert (v1["type"], v1["resource"], v1["httpMethod"]) == (
        "REQUEST",
        "/proxy/openai/{proxy+}",
        "POST",
    )
    assert v1["methodArn"].endswith("/POST/proxy/openai/v1/chat/completions")
    assert v1["requestContext"]["identity"]["sourceIp"] == "1.2.4.8"


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ({"statusCode": 201, "headers": {"A": "1"}, "body": "x"}, (201, [("A", "1")], b"x")),
        (
            {
                "statusCode": 200,
                "body": base64.b64encode(b"\xff").decode(),
                "isBase64Encoded": True,
            },
            (200, [], b"\xff"),
        ),
        (
            {"statusCode": 200, "multiValueHeaders": {"B": ["1", "2"]}, "cookies": ["c=1"]},
            (200, [("B", "1"), ("B", "2"), ("Set-Cookie", "c=1")], b""),
        ),
        (
            {"ok": True},
            (200, [("Content-Type", "application/json")], json.dumps({"ok": True}).encode()),
        ),
    ],
)
def test_lambda_answers_become_http_answers(answer: object, expected: object) -> None:
    assert events.lambda_response(answer) == expected


def test_gateway_response_templates_render_the_authorizer_context() -> None:
    body = events.render(
        "$context.authorizer.refusal_body", {"refusal_body": '{"error":{"code":"x"}}'}
    )
    assert json.loads(body) == {"error": {"code": "x"}}
    assert events.render("[$context.authorizer.missing]", {}) == b"[]"


def test_sqs_messages_become_the_batch_event_lambda_delivers() -> None:
    """The shape of ``events/audit-sqs-batch.json`` (what ``sam local generate-event sqs``
    writes), from what ``ReceiveMessage`` answers."""
    sample = json.loads((ROOT / "events" / "audit-sqs-batch.json").read_text())["Records"][0]
    message = {"MessageId": "m-1", "ReceiptHandle": "r-1", "Body": "{}", "MD5OfBody": "99914b93"}
    arn = "arn:aws:sqs:eu-west-1:123456789012:audit"
    (record,) = events.sqs_event([message], arn)["Records"]
    assert set(record) == set(sample)
    assert record["eventSource"] == sample["eventSource"] == "aws:sqs"
    assert (record["messageId"], record["receiptHandle"], record["body"]) == ("m-1", "r-1", "{}")
    assert (record["eventSourceARN"], record["awsRegion"]) == (arn, "eu-west-1")
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
