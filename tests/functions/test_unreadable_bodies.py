"""No body gets a 500: each unreadable one gets the precise 4xx, through the real handler."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from helpers import Stack, load_event


def classify(
    stack: Stack, body: str, content_type: str | None = "application/json", b64: bool = False
) -> tuple[int, dict[str, Any]]:
    """POST /v1/classify with ``body``, built from events/classify-us-anthropic.json."""
    event = load_event("classify-us-anthropic")
    event["headers"].pop("content-type")
    if content_type is not None:
        event["headers"]["content-type"] = content_type
    event["body"], event["isBase64Encoded"] = body, b64
    response = stack.invoke("ClassifyFunction", event)
    return response["statusCode"], json.loads(response["body"])


VALID = '{"provider": "openai"}'


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "application/xml",
        "*/*",
        "multipart/form-data",
        "application/json; charset=latin-1",
    ],
)
def test_bodies_in_other_media_types_get_415(stack: Stack, content_type: str) -> None:
    status, body = classify(stack, VALID, content_type)
    assert (status, body["error"]["code"]) == (415, "unsupported_media_type")
    assert body["error"]["details"]["supported"] == ["application/json"]
    assert stack.drain("AuditQueue") == []


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "application/json",
        "Application/JSON; charset=UTF-8",
        "application/x-www-form-urlencoded",
    ],
)
def test_json_and_unlabelled_bodies_are_decided(stack: Stack, content_type: str | None) -> None:
    status, body = classify(stack, VALID, content_type)
    assert (status, body["outcome"]) == (200, "allow")


def test_a_body_that_is_not_utf8_gets_400(stack: Stack) -> None:
    raw = base64.b64encode(b'{"provider": "op\xe9nai"}').decode()
    status, body = classify(stack, raw, b64=True)
    assert (status, body["error"]["code"]) == (400, "malformed_json")
    assert "UTF-8" in body["error"]["message"]


def test_a_base64_utf8_body_is_decided(stack: Stack) -> None:
    status, body = classify(stack, base64.b64encode(VALID.encode()).decode(), b64=True)
    assert (status, body["outcome"]) == (200, "allow")


@pytest.mark.parametrize(
    "body",
    [
        '{"provider": ' + "[" * 1000 + "1" + "]" * 1000 + "}",  # RecursionError in the parser
        '{"provider": ' + "[" * 40 + "]" * 40 + "}",  # parses, but no request nests like that
        '{"provider": ' + "9" * 5000 + "}",  # ValueError: beyond int()'s digit limit
    ],
    ids=["1000-deep", "40-deep", "5000-digits"],
)
def test_over_deep_or_over_long_bodies_get_400(stack: Stack, body: str) -> None:
    status, answer = classify(stack, body)
    assert (status, answer["error"]["code"]) == (400, "body_too_complex")


@pytest.mark.parametrize("body", ['[{"provider": "anthropic"}]', '"anthropic"', "null", "7"])
def test_json_that_is_not_an_object_gets_422_and_is_not_decided(stack: Stack, body: str) -> None:
    status, answer = classify(stack, body)
    assert (status, answer["error"]["code"]) == (422, "validation_error")
    assert answer["error"]["details"]["problems"] == [
        {"field": "", "problem": "the body must be a JSON object"}
    ]
    assert stack.drain("AuditQueue") == []
