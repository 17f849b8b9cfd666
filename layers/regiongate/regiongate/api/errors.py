"""One error body for every API response: ``{"error": {"code", "message", "details"?}}``."""

from __future__ import annotations

import json
from typing import Any

ERROR_CODES = {
    "invalid_ip": 400,
    "invalid_request": 400,
    "malformed_json": 400,
    "invalid_path": 400,
    "unsupported_event": 400,
    "body_too_complex": 400,
    "validation_error": 422,
    "payload_too_large": 413,
    "unsupported_media_type": 415,
    "ip_override_forbidden": 403,
    "request_refused": 403,
    "unknown_provider": 404,
    "not_found": 404,
    "route_not_found": 404,
    "method_not_allowed": 405,
    "audit_unavailable": 503,
    "audit_store_unavailable": 503,
    "audit_key_unavailable": 503,
    "geo_database_unavailable": 503,
    "policy_invalid": 500,
    "internal_error": 500,
    "upstream_unreachable": 502,
    "upstream_timeout": 504,
}


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if details:
        error["details"] = details
    return {"error": error}


def error_response(
    status: int, code: str, message: str, details: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A complete HTTP API (payload 2.0) response, for errors raised before routing."""
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(error_body(code, message, details)),
        "isBase64Encoded": False,
    }
