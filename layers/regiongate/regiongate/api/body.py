"""Refuse request bodies the API cannot read, before the resolver sees them.

The API speaks JSON objects only. Left to the resolver, a body in another media type, bytes
that are not UTF-8, nesting deep enough to exhaust the parser's recursion or a number longer
than Python will convert each ended in a 500; a JSON array was read as its first element.
Each now gets the precise 4xx that API clients can act on.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from regiongate.api.errors import error_response

# Methods whose routes read a body; other methods' bodies are ignored, as the routes do.
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
# Our request models nest two levels; anything far deeper is not a request but an attack.
MAX_DEPTH = 32
JSON_TYPES = ("application/json",)


def header(event: dict[str, Any], name: str) -> str | None:
    """A header of any event shape (payload 1.0 and ALB keep the client's spelling)."""
    for key, value in (event.get("headers") or {}).items():
        if key.lower() == name:
            return str(value)
    return None


def method(event: dict[str, Any]) -> str:
    """The HTTP method of a payload 2.0, 1.0 or ALB event."""
    context = event.get("requestContext") or {}
    return str(event.get("httpMethod") or (context.get("http") or {}).get("method") or "")


def media_type(content_type: str) -> tuple[str, str | None]:
    """``application/json; charset=UTF-8`` -> (``application/json``, ``utf-8``)."""
    kind, _, params = content_type.partition(";")
    charset = None
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            charset = value.strip().strip('"').lower()
    return kind.strip().lower(), charset


def is_json(content_type: str) -> bool:
    """JSON in UTF-8; no label, or curl -d's default form label, is taken as JSON too."""
    kind, charset = media_type(content_type)
    if charset not in (None, "utf-8", "utf8"):
        return False
    return kind in ("", "application/x-www-form-urlencoded", *JSON_TYPES) or (
        kind.startswith("application/") and kind.endswith("+json")
    )


def too_deep(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether ``value`` nests arrays or objects more than ``limit`` levels (no recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item
        if isinstance(item, dict | list):
            if depth > limit:
                return True
            stack.extend((child, depth + 1) for child in children)
    return False


def refusal(event: dict[str, Any]) -> dict[str, Any] | None:
    """The error response for a body the API cannot read, or None to go on resolving."""
    raw = event.get("body")
    if not raw or method(event).upper() not in BODY_METHODS:
        return None
    content_type = header(event, "content-type") or ""
    if not is_json(content_type):
        return error_response(
            415,
            "unsupported_media_type",
            "request body must be application/json (UTF-8)",
            {"content_type": content_type[:100], "supported": list(JSON_TYPES)},
        )
    try:
        data = base64.b64decode(raw, validate=True) if event.get("isBase64Encoded") else raw
        text = data.decode() if isinstance(data, bytes) else str(data)
    except (binascii.Error, UnicodeDecodeError):
        return error_response(400, "malformed_json", "request body is not UTF-8 text")
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError:
        return error_response(400, "malformed_json", "request body is not valid JSON")
    except (RecursionError, ValueError):
        parsed = None  # nesting beyond the parser, or an integer beyond int()'s digit limit
        too_complex = True
    else:
        too_complex = too_deep(parsed)
    if too_complex:
        return error_response(
            400,
            "body_too_complex",
            f"request body nests deeper than {MAX_DEPTH} levels or holds a number too long to read",
            {"max_depth": MAX_DEPTH},
        )
    if not isinstance(parsed, dict):
        return error_response(
            422,
            "validation_error",
            "request does not match the schema",
            {"problems": [{"field": "", "problem": "the body must be a JSON object"}]},
        )
    # The resolver reads only a literal "application/json" label and decodes base64 itself:
    # hand it the text we checked, labelled the way it expects.
    headers = event.get("headers") or {}
    event["headers"] = {k: v for k, v in headers.items() if k.lower() != "content-type"}
    event["headers"]["content-type"] = "application/json"
    event["body"], event["isBase64Encoded"] = text, False
    return None
