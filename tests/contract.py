"""Check a real HTTP answer against openapi.json: its status is declared for the route and
its body validates against the declared schema (JSON Schema 2020-12, as OpenAPI 3.1 says)."""

from __future__ import annotations

import json
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


def declared(route_key: str, status: int) -> dict[str, Any] | None:
    """The schema openapi.json declares for ``status`` on ``route_key`` ("GET /v1/geo");
    None when the document does not know the route (the answer is then a routing error)."""
    method, _, path = route_key.partition(" ")
    operation = document()["paths"].get(path, {}).get(method.lower())
    if operation is None:
        return None
    response = operation["responses"].get(str(status))
    assert response is not None, f"{route_key} answered {status}, which openapi.json omits"
    return dict(response["content"]["application/json"]["schema"])


def check_answer(event: dict[str, Any], response: dict[str, Any]) -> None:
    """Fail unless ``response`` (to HTTP ``event``) is what openapi.json promises."""
    status = int(response["statusCode"])
    headers = {k.lower(): v for k, v in (response.get("headers") or {}).items()}
    assert headers.get("content-type", "").startswith("application/json"), headers
    body = json.loads(response["body"])
    schema = declared(str(event.get("routeKey", "")), status)
    if schema is None:
        assert status >= 400
        schema = ERROR_SCHEMA
    errors = sorted(validator(schema).iter_errors(body), key=str)
    assert not errors, f"{event.get('routeKey')} {status}: " + "; ".join(
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors[:5]
    )
