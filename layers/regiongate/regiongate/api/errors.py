"""One error body for every API response: ``{"error": {"code", "message", "details"?}}``."""

from __future__ import annotations

import json
from typing import Any


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
