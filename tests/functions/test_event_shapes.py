"""Every file in events/ through every HTTP function: HTTP API (2.0), REST API (1.0) and ALB
events alike get their route's answer, other functions' routes are 404, and an event of no
HTTP shape is a clear ``unsupported_event`` — never a KeyError (a 502 in Lambda)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from helpers import EVENTS, Stack, load_event
from regiongate.api.http import event_shape

HTTP_FUNCTIONS = {
    "geolocate": "GeolocateFunction",
    "rules": "RulesFunction",
    "classify": "ClassifyFunction",
    "audit": "AuditFunction",
}
# The status each HTTP event gets from the function whose name it starts with.
EXPECTED: dict[str, int] = {
    "audit-alb-get-decision": 404,
    "audit-get-decision": 404,
    "audit-list-decisions": 200,
    "audit-rest-list-decisions": 200,
    "classify-alb-us-anthropic": 200,
    "classify-cn-openai": 200,
    "classify-hk-anthropic": 200,
    "classify-invalid-field": 422,
    "classify-ip-override-untrusted": 403,
    "classify-ipv6-cn-openai": 200,
    "classify-malformed-json": 400,
    "classify-oversized-body": 413,
    "classify-private-ip": 200,
    "classify-rest-cn-openai": 200,
    "classify-sam-http-api-sample": 404,
    "classify-sam-sample-cidr-source": 200,
    "classify-spoofed-xff": 200,
    "classify-unknown-provider": 404,
    "classify-us-anthropic": 200,
    "geolocate-alb-caller-hk": 200,
    "geolocate-caller-hk": 200,
    "geolocate-geo-info": 200,
    "geolocate-ip-cn": 200,
    "geolocate-ip-ipv6": 200,
    "geolocate-ip-malformed": 400,
    "geolocate-ip-private": 200,
    "geolocate-rest-ip-cn": 200,
    "geolocate-sam-rest-sample": 404,
    "rules-alb-show-openai": 200,
    "rules-eligibility-bad-country": 422,
    "rules-eligibility-cn-azure-enterprise": 200,
    "rules-eligibility-cn-openai": 200,
    "rules-list": 200,
    "rules-rest-eligibility-hk-openai": 200,
    "rules-sam-alb-sample": 404,
    "rules-show-openai": 200,
    "rules-show-unknown-provider": 404,
}
# Refused before routing, so every function answers them alike.
BEFORE_ROUTING = {"payload_too_large", "malformed_json", "unsupported_media_type"}
EVENT_FILES = sorted(EVENTS.glob("*.json"))


def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def test_every_http_event_file_has_an_expected_status() -> None:
    http = {p.stem for p in EVENT_FILES if event_shape(_load(p)) is not None}
    assert http - {p for p in http if p.startswith("authorize")} == set(EXPECTED)


@pytest.mark.parametrize("path", EVENT_FILES, ids=lambda p: p.stem)
def test_every_event_file_through_every_http_function(stack: Stack, path: Path) -> None:
    event = _load(path)
    owner = HTTP_FUNCTIONS.get(path.stem.split("-")[0])
    answers = {}
    for function in HTTP_FUNCTIONS.values():
        if function == "AuditFunction" and "Records" in event:
            continue  # the audit queue's batches: tests/functions/test_handlers.py
        answer = stack.invoke(function, json.loads(json.dumps(event)))
        assert isinstance(answer, dict) and "statusCode" in answer, (function, answer)
        answers[function] = (answer["statusCode"], json.loads(answer["body"] or "null"))
    if event_shape(event) is None:
        for function, (status, body) in answers.items():
            assert (status, body["error"]["code"]) == (400, "unsupported_event"), function
        return
    if owner is None:  # the gate's authorizer events: no function serves /proxy/...
        assert {a[0] for a in answers.values()} == {404}, answers
        return
    status, body = answers.pop(owner)
    assert status == EXPECTED[path.stem], body
    owner_code = body["error"]["code"] if status >= 400 else None
    for function, (other, other_body) in answers.items():
        code = other_body["error"]["code"]
        if owner_code in BEFORE_ROUTING:
            assert (other, code) == (status, owner_code), function
        else:
            assert (other, code) == (404, "route_not_found"), function


def test_a_scheduled_event_is_unsupported_not_a_key_error(stack: Stack) -> None:
    event = load_event("geolocate-scheduled-event-not-http")
    answer = stack.invoke("GeolocateFunction", event)
    assert answer["statusCode"] == 400
    assert json.loads(answer["body"])["error"]["code"] == "unsupported_event"
