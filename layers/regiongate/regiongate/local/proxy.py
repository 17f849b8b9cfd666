"""The gate's HTTP_PROXY integration, locally: one provider's upstream, streamed through.

What API Gateway does with an HTTP_PROXY integration, and what the local gate must too:
- the ``{proxy+}`` path goes to the route's own upstream only, as sent (still encoded);
  ``.``/``..`` segments and encoded slashes are refused, so no path leaves the upstream's base;
- status, headers (minus hop-by-hop ones) and body come back unchanged — an upstream 401,
  429 or 500 is the caller's answer, with its body — and the body is streamed as it arrives
  (server-sent events, chunked answers);
- a connect failure is a 502 and no answer within the timeout a 504, both with the JSON
  error envelope.
"""

from __future__ import annotations

import http.client
import ssl
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

# Connection-level headers (RFC 9110 7.6.1): they describe one hop, never forwarded.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
    }
)
# Set by the gate from the decision; a caller's own copies are dropped, never passed on.
DECISION_HEADERS = ("x-regiongate-decision-id", "x-regiongate-country")
CHUNK = 64 * 1024


class GateError(Exception):
    """An answer the gate gives itself (bad path, upstream down or slow)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass
class Streamed:
    """An upstream answer: status and headers now, the body as it arrives."""

    status: int
    headers: list[tuple[str, str]]
    length: int | None  # the upstream's Content-Length, if it sent one
    chunks: Iterator[bytes]
    close: Any = field(default=lambda: None)


def safe_proxy_path(raw: str, query: str = "") -> str:
    """The ``{proxy+}`` path as sent, if every segment stays inside the upstream's base and
    the path and query are percent-encoded ASCII (a raw control or non-ASCII byte could not
    be sent on, and must not be judged first)."""
    if not all("!" <= c <= "~" for c in raw + query):
        raise GateError(400, "invalid_path", "the path and query must be percent-encoded ASCII")
    for segment in raw.split("/"):
        decoded = urllib.parse.unquote(segment)
        if decoded in (".", "..") or any(c in decoded for c in "/\\\0"):
            raise GateError(400, "invalid_path", "the path may not leave the provider's API")
    return raw


def upstream_target(upstream: str, raw_proxy: str, query: str) -> urllib.parse.SplitResult:
    """The upstream URL for a request: the route's ``.../{proxy}`` with the path filled in."""
    target = urllib.parse.urlsplit(upstream.replace("{proxy}", safe_proxy_path(raw_proxy, query)))
    if target.scheme not in ("http", "https") or not target.hostname:
        raise GateError(502, "upstream_unreachable", "the provider's upstream URL is not valid")
    return target._replace(query=query)


def forward_headers(headers: list[tuple[str, str]], decision: dict[str, Any]) -> dict[str, str]:
    """The caller's headers for the upstream: no hop-by-hop, host or length (http.client sets
    them), and the decision's own headers, which a caller cannot set."""
    out: dict[str, str] = {}
    # Headers the caller's Connection header names are hop-by-hop too (RFC 9110 7.6.1).
    listed = {
        n.strip().lower() for k, v in headers if k.lower() == "connection" for n in v.split(",")
    }
    for key, value in headers:
        name = key.lower()
        if (
            name in HOP_BY_HOP
            or name in listed
            or name in ("host", "content-length", *DECISION_HEADERS)
        ):
            continue
        out[key] = f"{out[key]}, {value}" if key in out else value
    out["x-regiongate-decision-id"] = str(decision.get("decision_id", ""))
    out["x-regiongate-country"] = str(decision.get("country", ""))
    return out


def forward(
    upstream: str,
    raw_proxy: str,
    query: str,
    method: str,
    headers: list[tuple[str, str]],
    body: bytes,
    decision: dict[str, Any],
    timeout: float,
) -> Streamed:
    """Send the request to the upstream; return its answer as soon as its headers arrive."""
    target = upstream_target(upstream, raw_proxy, query)
    path = target.path + (f"?{target.query}" if target.query else "")
    connect_timeout = min(timeout, 10.0)
    connection: http.client.HTTPConnection
    if target.scheme == "https":
        connection = http.client.HTTPSConnection(
            target.hostname or "",
            target.port,
            timeout=connect_timeout,
            context=ssl.create_default_context(),
        )
    else:
        connection = http.client.HTTPConnection(
            target.hostname or "", target.port, timeout=connect_timeout
        )
    try:
        connection.connect()
    except OSError as exc:
        connection.close()
        raise GateError(502, "upstream_unreachable", "the provider could not be reached") from exc
    assert connection.sock is not None
    connection.sock.settimeout(timeout)
    try:
        connection.request(
            method, path, body=body or None, headers=forward_headers(headers, decision)
        )
        response = connection.getresponse()
    except TimeoutError as exc:
        connection.close()
        raise GateError(504, "upstream_timeout", "the provider did not answer in time") from exc
    except (OSError, http.client.HTTPException) as exc:
        connection.close()
        raise GateError(502, "upstream_unreachable", "the provider's answer was broken") from exc
    answer_headers = [(k, v) for k, v in response.getheaders() if k.lower() not in HOP_BY_HOP]
    length = response.getheader("Content-Length")
    return Streamed(
        status=response.status,
        headers=[(k, v) for k, v in answer_headers if k.lower() != "content-length"],
        length=int(length) if length and length.isdigit() else None,
        chunks=_chunks(response, method),
        close=connection.close,
    )


def _chunks(response: http.client.HTTPResponse, method: str) -> Iterator[bytes]:
    """The body as the upstream sends it (chunked transfer decoded), piece by piece."""
    if method == "HEAD":
        return
    while True:
        try:
            data = response.read1(CHUNK)
        except TimeoutError as exc:
            raise GateError(504, "upstream_timeout", "the provider stopped answering") from exc
        if not data:
            return
        yield data
