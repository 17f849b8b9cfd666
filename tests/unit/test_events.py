"""events/: every file has the exact shape its source delivers, and every one is exercised."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from regiongate.api.http import event_shape
from regiongate.events import SOURCES, account_flagged, decision_recorded, record_from_eventbridge
from regiongate.local.template import Template

ROOT = Path(__file__).resolve().parents[2]
EVENT_FILES = sorted((ROOT / "events").glob("*.json"))
FUNCTION_OF = {
    "geolocate": "GeolocateFunction",
    "rules": "RulesFunction",
    "classify": "ClassifyFunction",
    "authorize": "AuthorizeFunction",
    "audit": "AuditFunction",
}


def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def _check_http(event: dict[str, Any], routes: set[str]) -> None:
    assert event["version"] == "2.0"
    assert event["routeKey"] in routes, event["routeKey"]
    assert all(k == k.lower() for k in event["headers"]), "payload 2.0 headers are lower-case"
    http = event["requestContext"]["http"]
    assert http["method"] in ("GET", "POST", "PUT", "DELETE", "PATCH")
    assert http["sourceIp"]
    assert event["rawPath"] == http["path"]
    for name in re.findall(r"\{(\w+)\+?\}", event["routeKey"]):
        assert name in event.get("pathParameters", {}), name
    if "body" in event:
        assert isinstance(event["body"], str)
        assert event["headers"]["content-length"] == str(len(event["body"]))


def _check_rest(event: dict[str, Any], template: Template, function: str) -> None:
    """A REST API (payload 1.0) proxy event, as ``sam local generate-event apigateway
    aws-proxy`` writes it, for one of ``function``'s routes."""
    context = event["requestContext"]
    assert context["identity"]["sourceIp"] and context["resourcePath"] == event["resource"]
    assert context["httpMethod"] == event["httpMethod"]
    assert {"headers", "multiValueHeaders", "queryStringParameters", "body"} <= set(event)
    route = next(
        r
        for r in template.routes()
        if (r.method, r.path) == (event["httpMethod"], event["resource"])
    )
    assert route.function == function
    for name in re.findall(r"\{(\w+)\}", event["resource"]):
        assert name in (event["pathParameters"] or {}), name


def _check_alb(event: dict[str, Any], template: Template, function: str) -> None:
    """An ALB event, as ``sam local generate-event alb request`` writes it."""
    assert event["requestContext"]["elb"]["targetGroupArn"].startswith(
        "arn:aws:elasticloadbalancing:"
    )
    assert event["headers"]["x-forwarded-for"]  # the address the load balancer saw
    routes = [r for r in template.routes() if r.method == event["httpMethod"]]
    assert [r.function for r in routes if r.pattern.match(event["path"])] == [function]


def _check_sqs(event: dict[str, Any]) -> None:
    for record in event["Records"]:
        assert record["eventSource"] == "aws:sqs"
        assert {"messageId", "receiptHandle", "body", "attributes", "eventSourceARN"} <= set(record)
        assert isinstance(record["body"], str)


@pytest.fixture(scope="module")
def template() -> Template:
    return Template.load(
        ROOT / "template.yaml", {"GateApiType": "HTTP", "AnthropicUpstreamUrl": "https://x.invalid"}
    )


@pytest.mark.parametrize("path", EVENT_FILES, ids=lambda p: p.stem)
def test_event_file_has_its_sources_exact_shape(path: Path, template: Template) -> None:
    routes = {f"{r.method} {r.path}" for r in template.routes()}
    event = _load(path)
    kind = path.stem.split("-")[0]
    if kind == "eventbridge":
        assert {
            "version",
            "id",
            "detail-type",
            "source",
            "account",
            "time",
            "region",
            "resources",
            "detail",
        } <= set(event)
        assert record_from_eventbridge(event)["decision_id"]
    elif kind == "authorize" and "methodArn" in event:  # REST API (v1) REQUEST authorizer
        assert event["type"] == "REQUEST"
        assert {"resource", "path", "httpMethod", "headers", "pathParameters"} <= set(event)
        assert event["requestContext"]["identity"]["sourceIp"]
    elif kind == "authorize":  # HTTP API (payload 2.0) REQUEST authorizer
        assert event["type"] == "REQUEST" and event["version"] == "2.0"
        assert re.fullmatch(r"ANY /proxy/(\w+|\{provider\})/\{proxy\+\}", event["routeKey"])
        assert event["pathParameters"]["proxy"]
        assert event["requestContext"]["http"]["sourceIp"]
    elif "Records" in event:
        _check_sqs(event)
    elif "-sam-" in path.stem:  # the SAM CLI's own samples, unchanged: no route of ours
        assert event_shape(event) is not None
    elif path.stem.endswith("-not-http"):
        assert event_shape(event) is None
    elif "-rest-" in path.stem:
        _check_rest(event, template, FUNCTION_OF[kind])
    elif "-alb-" in path.stem:
        _check_alb(event, template, FUNCTION_OF[kind])
    else:
        assert kind in FUNCTION_OF, path.name
        _check_http(event, routes)
        route = next(r for r in template.routes() if f"{r.method} {r.path}" == event["routeKey"])
        assert route.function == FUNCTION_OF[kind], path.name


def test_every_event_file_is_invoked_by_a_handler_test() -> None:
    used = "".join(
        (ROOT / "tests" / "functions" / name).read_text()
        for name in ("test_handlers.py", "test_event_shapes.py")
    )
    unused = [
        p.stem
        for p in EVENT_FILES
        if f'"{p.stem}"' not in used and not p.stem.startswith("eventbridge")
    ]
    assert unused == []


def test_each_event_comes_from_the_source_that_may_emit_it() -> None:
    built = [
        decision_recorded({"decision_id": "d"}),
        account_flagged("acct-1", "openai", 5, 3600, "2026-11-22T00:00:00.000Z", "d"),
    ]
    assert {(e.source, e.detail_type) for e in built} == {
        (source, detail_type) for source, types in SOURCES.items() for detail_type in types
    }
