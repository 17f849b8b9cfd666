"""Check a real HTTP answer against openapi.json: its status is declared for the route and
its body validates against the declared schema (JSON Schema 2020-12, as OpenAPI 3.1 says)."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

DOCUMENT = Path(__file__).resolve().parent.parent / "openapi.json"
ERROR_SCHEMA = {"$ref": "#/components/schemas/ErrorResponse"}


@cache
def document() -> dict[str, Any]:
    return dict(json.loads(DOCUMENT.read_text()))


def validator(schema: dict[str, Any]) -> Draft202012Validator:
    """A validator for ``schema`` whose ``#/components/...`` refs resolve in the document."""
    return Draft202012Validator({**schema, "components": document()["components"]})


def route_of(event: dict[str, Any]) -> tuple[str, str] | None:
    """(method, openapi.json path) of an HTTP API 2.0, REST API 1.0 or ALB event; None when
    the event is not HTTP or no documented path matches."""
    context = event.get("requestContext") or {}
    method = event.get("httpMethod") or (context.get("http") or {}).get("method")
    path = event.get("rawPath") or event.get("path")
    if not method or not path:
        return None
    for template in document()["paths"]:
        pattern = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template))
        if re.fullmatch(pattern, path) and method.lower() in document()["paths"][template]:
            return str(method).upper(), template
    return None


def declared(route: tuple[str, str], status: int) -> dict[str, Any]:
    """The schema openapi.json declares for ``status`` on ``route``."""
    method, path = route
    operation = document()["paths"][path][method.lower()]
    response = operation["responses"].get(str(status))
    assert response is not None, f"{method} {path} answered {status}, which openapi.json omits"
    return dict(response["content"]["application/json"]["schema"])


def check_answer(event: dict[str, Any], response: dict[str, Any], serves: bool = True) -> None:
    """Fail unless ``response`` to HTTP ``event`` is what openapi.json promises. ``serves``:
    whether the function answering serves the event's route (API Gateway sends a request only
    to its route's function; another function's answer need only be the error body)."""
    status = int(response["statusCode"])
    headers = {k.lower(): v for k, v in (response.get("headers") or {}).items()}
    for key, values in (response.get("multiValueHeaders") or {}).items():
        headers.setdefault(key.lower(), values[0])
    assert headers.get("content-type", "").startswith("application/json"), headers
    body = json.loads(response["body"])
    route = route_of(event)
    if route is None or not serves:
        assert status >= 400
        schema = ERROR_SCHEMA
    else:
        schema = declared(route, status)
    errors = sorted(validator(schema).iter_errors(body), key=str)
    assert not errors, f"{route} {status}: " + "; ".join(
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors[:5]
    )
