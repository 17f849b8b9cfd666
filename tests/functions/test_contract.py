"""Real answers agree with openapi.json: every HTTP event file, every error class.

``Stack.invoke`` checks every HTTP answer any function test sees (tests/contract.py); these
tests make sure each event file and each domain error is among them, and that the check
itself fails on a drift.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import pytest
from contract import check_answer, document, route_of
from helpers import EVENTS, Stack, load_event
from regiongate.aws import keys, publisher, store  # noqa: F401  (their error classes)
from regiongate.client_ip import ForbiddenOverrideError  # noqa: F401
from regiongate.errors import RegiongateError

HTTP_EVENTS = sorted(
    p.stem
    for p in EVENTS.glob("*.json")
    if route_of(json.loads(p.read_text())) and json.loads(p.read_text()).get("type") != "REQUEST"
)


def function_for(stack: Stack, event: dict[str, Any]) -> str:
    """The function template.yaml routes the event's route to."""
    route = route_of(event)
    for candidate in stack.template.routes():
        if (candidate.method, candidate.path) == route:
            return str(candidate.function)
    raise AssertionError(f"no function serves {route}")


def error_classes() -> list[type[RegiongateError]]:
    found, todo = [], [RegiongateError]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return sorted(found, key=lambda c: c.__name__)


@pytest.mark.parametrize("name", HTTP_EVENTS)
def test_every_http_event_file_is_answered_as_openapi_json_promises(
    stack: Stack, name: str
) -> None:
    stack.invoke("AuditFunction", load_event("audit-sqs-batch"))  # so a decision exists
    event = load_event(name)
    response = stack.invoke(function_for(stack, event), event)
    check_answer(event, response)  # (invoke checked it too; say so where it is read)


@pytest.mark.parametrize("cls", error_classes(), ids=lambda c: c.__name__)
def test_every_error_class_answers_with_its_declared_status_and_body(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, cls: type[RegiongateError]
) -> None:
    event = load_event("classify-us-anthropic")
    stack.invoke("ClassifyFunction", event)
    error = cls.__new__(cls)
    RegiongateError.__init__(error, "it failed", path="/secret/internal/path")

    def fail(*_: Any, **__: Any) -> Any:
        raise error

    monkeypatch.setattr(sys.modules["regiongate_function_classify_0"], "recorder", fail)
    response = stack.invoke("ClassifyFunction", load_event("classify-us-anthropic"))
    body = json.loads(response["body"])
    assert (response["statusCode"], body["error"]["code"]) == (cls.http_status, cls.code)
    if cls.http_status >= 500:
        assert "details" not in body["error"]  # no internals in a 5xx


def test_every_declared_error_status_has_the_shared_body() -> None:
    """No Powertools HTTPValidationError {detail}: every error answer is the one envelope."""
    for path, operations in document()["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if status == "200":
                    continue
                schema = response["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/ErrorResponse"}, (method, path)


def test_the_contract_check_fails_when_an_answer_and_the_document_disagree(
    stack: Stack,
) -> None:
    event = load_event("geolocate-ip-cn")
    good = stack.invoke("GeolocateFunction", event)
    body = json.loads(good["body"])
    drifts: list[dict[str, Any]] = [
        {**good, "body": json.dumps({**body, "undeclared": 1})},
        {**good, "body": json.dumps({k: v for k, v in body.items() if k != "evidence"})},
        {**good, "body": json.dumps({**body, "status": "lost"})},
        {**good, "statusCode": 418},
        {**good, "statusCode": 404, "body": json.dumps({"detail": "not the error envelope"})},
    ]
    for drift in drifts:
        with pytest.raises(AssertionError):
            check_answer(event, drift)


def test_an_answer_that_breaks_its_model_is_a_500_not_a_drift(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Routes return typed models: a domain answer with an undeclared key never goes out."""
    stack.invoke("RulesFunction", load_event("rules-list"))
    module = sys.modules["regiongate_function_rules_0"]
    real = module.provider_summaries
    monkeypatch.setattr(module, "provider_summaries", lambda p: {**real(p), "surprise": 1})
    response = stack.invoke("RulesFunction", load_event("rules-list"))
    assert response["statusCode"] == 500
    assert json.loads(response["body"]) == {
        "error": {"code": "internal_error", "message": "internal error"}
    }
