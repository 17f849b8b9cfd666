"""HTTP requests to API Gateway events, and Lambda answers back: what API Gateway does.

Pure functions (no sockets, no AWS), so each translation is unit-tested on its own:
- a request and its matched route -> an HTTP API payload 2.0 event, or the REQUEST
  authorizer event of an HTTP API (2.0) or a REST API (v1);
- an HTTP API hands functions the path percent-decoded (``rawPath`` too, and so the path
  parameters Powertools reads from it), as API Gateway does;
- a Lambda proxy answer (2.0 or 1.0 shape) -> status, headers and body;
- a gateway response template with ``$context.authorizer.<key>`` filled in;
- messages received from SQS -> the batch event Lambda's event source mapping delivers.
"""

from __future__ import annotations

import base64
import json
import re
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from regiongate.local.template import Route

ACCOUNT = "123456789012"


@dataclass(frozen=True)
class HttpRequest:
    """One HTTP request as the local server read it."""

    method: str
    target: str  # the request target as sent: path and query, still percent-encoded
    headers: list[tuple[str, str]]
    body: bytes
    source_ip: str
    protocol: str = "HTTP/1.1"
    request_id: str = ""
    received: float = field(default_factory=time.time)

    @property
    def raw_path(self) -> str:
        return urllib.parse.urlsplit(self.target).path or "/"

    @property
    def query(self) -> str:
        return urllib.parse.urlsplit(self.target).query

    def header(self, name: str) -> str | None:
        name = name.lower()
        values = [v for k, v in self.headers if k.lower() == name]
        return ",".join(values) if values else None


def match(routes: list[Route], method: str, raw_path: str) -> tuple[Route, dict[str, str]] | None:
    """The route for a request and its path parameters as sent (still percent-encoded: the
    gate forwards ``{proxy+}`` as the caller encoded it; events decode them)."""
    for route in routes:
        if route.method not in ("ANY", method):
            continue
        found = route.pattern.match(raw_path)
        if found:
            return route, found.groupdict()
    return None


def methods_for(routes: list[Route], raw_path: str) -> list[str]:
    """The methods some route serves at this path (for 405 and OPTIONS answers)."""
    return sorted({r.method for r in routes if r.pattern.match(raw_path)})


def _headers(request: HttpRequest) -> dict[str, str]:
    """Payload 2.0 headers: lower-case names, repeated headers joined with commas, and the
    caller's address appended to X-Forwarded-For as API Gateway appends it."""
    headers: dict[str, str] = {}
    for key, value in request.headers:
        name = key.lower()
        headers[name] = f"{headers[name]},{value}" if name in headers else value
    forwarded = headers.get("x-forwarded-for")
    source = request.source_ip
    headers["x-forwarded-for"] = f"{forwarded}, {source}" if forwarded else source
    return headers


def _query(raw: str) -> dict[str, str]:
    query: dict[str, str] = {}
    for key, value in urllib.parse.parse_qsl(raw, keep_blank_values=True):
        query[key] = f"{query[key]},{value}" if key in query else value
    return query


def _body(body: bytes) -> tuple[str, bool]:
    try:
        return body.decode("utf-8"), False
    except UnicodeDecodeError:
        return base64.b64encode(body).decode(), True


def http_api_event(request: HttpRequest, route: Route, params: dict[str, str]) -> dict[str, Any]:
    """An API Gateway HTTP API payload 2.0 event for a request matched to ``route``."""
    headers = _headers(request)
    cookies = [c.strip() for c in headers.pop("cookie", "").split(";") if c.strip()]
    query = _query(request.query)
    route_key = f"{route.method} {route.path}"
    path = urllib.parse.unquote(request.raw_path)  # HTTP APIs decode the path they pass on
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": request.query,
        "headers": headers,
        "requestContext": {
            "accountId": ACCOUNT,
            "apiId": "local",
            "domainName": headers.get("host", "127.0.0.1"),
            "domainPrefix": "local",
            "http": {
                "method": request.method,
                "path": path,
                "protocol": request.protocol,
                "sourceIp": request.source_ip,
                "userAgent": headers.get("user-agent", ""),
            },
            "requestId": request.request_id,
            "routeKey": route_key,
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(request.received)),
            "timeEpoch": int(request.received * 1000),
        },
        "isBase64Encoded": False,
    }
    if cookies:
        event["cookies"] = cookies
    if query:
        event["queryStringParameters"] = query
    if params:
        event["pathParameters"] = {k: urllib.parse.unquote(v) for k, v in params.items()}
    if request.body:
        event["body"], event["isBase64Encoded"] = _body(request.body)
    return event


def http_authorizer_event(event: dict[str, Any]) -> dict[str, Any]:
    """The REQUEST authorizer (HTTP API, payload 2.0) event for a payload 2.0 request event."""
    context = event["requestContext"]
    return {
        "version": "2.0",
        "type": "REQUEST",
        "routeArn": f"arn:aws:execute-api:us-east-1:{ACCOUNT}:local/$default/"
        f"{context['http']['method']}{event['rawPath']}",
        "identitySource": [],
        "routeKey": event["routeKey"],
        "rawPath": event["rawPath"],
        "rawQueryString": event["rawQueryString"],
        "cookies": event.get("cookies", []),
        "headers": event["headers"],
        "queryStringParameters": event.get("queryStringParameters", {}),
        "requestContext": context,
        "pathParameters": event.get("pathParameters", {}),
    }


def rest_authorizer_event(event: dict[str, Any], route: Route) -> dict[str, Any]:
    """The REQUEST authorizer (REST API, v1) event for the same request: ``resource`` is the
    matched route's path, as API Gateway names it."""
    context = event["requestContext"]
    method = context["http"]["method"]
    return {
        "type": "REQUEST",
        "methodArn": f"arn:aws:execute-api:us-east-1:{ACCOUNT}:local/local/"
        f"{method}{event['rawPath']}",
        "resource": route.path,
        "path": event["rawPath"],
        "httpMethod": method,
        "headers": event["headers"],
        "queryStringParameters": event.get("queryStringParameters"),
        "pathParameters": event.get("pathParameters"),
        "stageVariables": None,
        "requestContext": {
            "path": event["rawPath"],
            "accountId": ACCOUNT,
            "resourcePath": route.path,
            "httpMethod": method,
            "stage": "local",
            "requestId": context["requestId"],
            "apiId": "local",
            "identity": {"sourceIp": context["http"]["sourceIp"]},
        },
    }


def lambda_response(answer: Any) -> tuple[int, list[tuple[str, str]], bytes]:
    """How API Gateway turns a Lambda proxy result into an HTTP response: a dict with
    ``statusCode`` is a response; anything else is a 200 JSON body (payload 2.0's rule)."""
    if isinstance(answer, dict) and "statusCode" in answer:
        body = answer.get("body") or ""
        raw = base64.b64decode(body) if answer.get("isBase64Encoded") else str(body).encode()
        headers = [(str(k), str(v)) for k, v in (answer.get("headers") or {}).items()]
        named = {k.lower() for k, _ in headers}
        for name, values in (answer.get("multiValueHeaders") or {}).items():
            if name.lower() not in named:
                headers += [(str(name), str(v)) for v in values]
        headers += [("Set-Cookie", str(c)) for c in answer.get("cookies") or []]
        return int(answer["statusCode"]), headers, raw
    return 200, [("Content-Type", "application/json")], json.dumps(answer).encode()


def render(template: str, context: dict[str, Any]) -> bytes:
    """A gateway response template with ``$context.authorizer.<key>`` filled in."""
    return re.sub(
        r"\$context\.authorizer\.(\w+)", lambda m: str(context.get(m.group(1), "")), template
    ).encode()


def sqs_event(messages: list[dict[str, Any]], queue_arn: str) -> dict[str, Any]:
    """``ReceiveMessage``'s messages as the SQS batch event Lambda hands a function."""
    return {
        "Records": [
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": message.get("Attributes") or {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": message.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": queue_arn.split(":")[3],
            }
            for message in messages
        ]
    }
