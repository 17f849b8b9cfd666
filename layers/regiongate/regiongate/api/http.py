"""The resolver every HTTP function uses: event shapes, validation, one error shape, limits.

Every function answers HTTP API (payload 2.0), REST API (payload 1.0) and ALB events: one
set of routes, and Powertools' event class for each event chosen by the event's shape (its
answer follows the same shape). Any other event gets a clear ``unsupported_event`` error.

Domain errors map to HTTP statuses here, once; routes hold no try/except. Bodies larger than
the configured limit are refused before parsing. 5xx answers never carry internals.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.api_gateway import ProxyEventType
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.utilities.data_classes import (
    ALBEvent,
    APIGatewayProxyEvent,
    APIGatewayProxyEventV2,
)
from aws_lambda_powertools.utilities.data_classes.common import BaseProxyEvent

from regiongate.api.body import refusal
from regiongate.api.errors import error_body, error_response
from regiongate.api.observability import Handler, instrument, logger
from regiongate.client_ip import ClientAddress, resolve
from regiongate.errors import InvalidRequestError, RegiongateError
from regiongate.settings import settings


def _json(status: int, body: dict[str, Any]) -> Response[str]:
    return Response(status_code=status, content_type="application/json", body=json.dumps(body))


def event_shape(event: Any) -> ProxyEventType | None:
    """Which front door sent an event: HTTP API (2.0), REST API (1.0) or ALB; None if none."""
    if not isinstance(event, dict) or not isinstance(event.get("requestContext"), dict):
        return None
    context = event["requestContext"]
    if event.get("version") == "2.0" and isinstance(context.get("http"), dict):
        return ProxyEventType.APIGatewayProxyEventV2
    if not isinstance(event.get("httpMethod"), str) or not isinstance(event.get("path"), str):
        return None
    if isinstance(context.get("elb"), dict):
        return ProxyEventType.ALBEvent
    if isinstance(context.get("identity"), dict):
        return ProxyEventType.APIGatewayProxyEvent
    return None


class Resolver(APIGatewayHttpResolver):
    """One function's routes for HTTP API, REST API and ALB events alike.

    Powertools has a resolver per event shape; routes are registered once here, and each
    event is read (and answered) as the shape it has. Lambda hands an execution environment
    one event at a time, so choosing per event is safe.
    """

    def resolve(self, event: Mapping[str, Any], context: Any) -> dict[str, Any]:
        shape = event_shape(event)
        if shape is None:
            raise UnsupportedEventError
        self._proxy_type = shape
        return super().resolve(event, context)

    def _get_base_path(self) -> str:
        if self._proxy_type == ProxyEventType.APIGatewayProxyEventV2:
            return super()._get_base_path()
        return ""

    def _to_proxy_event(self, event: dict[str, Any]) -> BaseProxyEvent:
        proxy = super()._to_proxy_event(event)
        if isinstance(proxy, ALBEvent):
            proxy.decode_query_parameters = True  # ALB passes the query still encoded
        return proxy


class UnsupportedEventError(ValueError):
    """Not an HTTP API, REST API or ALB request event."""


def create_resolver() -> Resolver:
    app = Resolver(enable_validation=True)

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


def guarded(app: Resolver) -> Handler:
    """Resolve HTTP events through ``app`` after the body size limit."""

    def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
        if event_shape(event) is None:
            logger.error("unsupported event", extra={"keys": sorted(event or {})[:20]})
            return error_response(
                400,
                "unsupported_event",
                "expected an API Gateway HTTP API (2.0), REST API (1.0) or ALB request event",
            )
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


def http_handler(app: Resolver) -> Handler:
    """The ``lambda_handler`` of a function that serves only HTTP routes."""
    return instrument(guarded(app))


def client_address(app: Resolver, override: str | None = None) -> ClientAddress:
    """The caller's address for the current request, per the configured proxy trust."""
    event: BaseProxyEvent = app.current_event
    forwarded = event.headers.get("x-forwarded-for")  # Powertools: any case
    if isinstance(event, APIGatewayProxyEventV2):
        source = event.request_context.http.source_ip
    elif isinstance(event, APIGatewayProxyEvent):
        source = event.request_context.identity.source_ip
    else:
        # An ALB names no source address: it appends the one it saw to X-Forwarded-For.
        entries = [e.strip() for e in (forwarded or "").split(",") if e.strip()]
        if not entries:
            raise InvalidRequestError("the load balancer sent no X-Forwarded-For")
        source = entries[-1]
    return resolve(source, forwarded, settings().proxy_trust, override)
