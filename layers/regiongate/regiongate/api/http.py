"""The HTTP API resolver every function uses: validation, one error shape, size limits.

Domain errors map to HTTP statuses here, once; routes hold no try/except. Bodies larger than
the configured limit are refused before parsing. 5xx answers never carry internals.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError

from regiongate.api.body import refusal
from regiongate.api.errors import error_body, error_response
from regiongate.api.observability import Handler, instrument, logger
from regiongate.client_ip import ClientAddress, resolve
from regiongate.errors import RegiongateError
from regiongate.settings import settings


def _json(status: int, body: dict[str, Any]) -> Response[str]:
    return Response(status_code=status, content_type="application/json", body=json.dumps(body))


def create_resolver() -> APIGatewayHttpResolver:
    app = APIGatewayHttpResolver(enable_validation=True)

    @app.exception_handler(RegiongateError)  # type: ignore[untyped-decorator]
    def domain_error(exc: RegiongateError) -> Response[str]:
        if exc.http_status >= 500:
            logger.error("request failed", extra={"code": exc.code, "details": exc.details})
            return _json(exc.http_status, error_body(exc.code, exc.message))
        return _json(exc.http_status, error_body(exc.code, exc.message, exc.details or None))

    @app.exception_handler(RequestValidationError)  # type: ignore[untyped-decorator]
    def invalid(exc: RequestValidationError) -> Response[str]:
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            return _json(400, error_body("malformed_json", "request body is not valid JSON"))
        problems = [
            {
                "field": ".".join(str(p) for p in e.get("loc", ()) if p != "body"),
                "problem": e.get("msg"),
            }
            for e in errors
        ]
        return _json(
            422,
            error_body(
                "validation_error", "request does not match the schema", {"problems": problems}
            ),
        )

    @app.not_found
    def not_found(exc: Exception) -> Response[str]:
        event = app.current_event
        return _json(
            404, error_body("route_not_found", f"no route {event.http_method} {event.path}")
        )

    @app.exception_handler(Exception)  # type: ignore[untyped-decorator]
    def unexpected(exc: Exception) -> Response[str]:
        logger.exception("unhandled error")
        return _json(500, error_body("internal_error", "internal error"))

    return app


def body_size(event: dict[str, Any]) -> int:
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        return len(body) * 3 // 4
    return len(body.encode()) if isinstance(body, str) else 0


def guarded(app: APIGatewayHttpResolver) -> Handler:
    """Resolve HTTP events through ``app`` after the body size limit."""

    def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
        limit = settings().max_body_bytes
        if body_size(event) > limit:
            return error_response(
                413, "payload_too_large", f"request body exceeds {limit} bytes", {"limit": limit}
            )
        refused = refusal(event)
        if refused is not None:
            return refused
        return app.resolve(event, context)

    return handle


def http_handler(app: APIGatewayHttpResolver) -> Handler:
    """The ``lambda_handler`` of a function that serves only HTTP routes."""
    return instrument(guarded(app))


def client_address(app: APIGatewayHttpResolver, override: str | None = None) -> ClientAddress:
    """The caller's address for the current request, per the configured proxy trust."""
    event = app.current_event
    source = event.request_context.http.source_ip
    return resolve(source, event.headers.get("x-forwarded-for"), settings().proxy_trust, override)
