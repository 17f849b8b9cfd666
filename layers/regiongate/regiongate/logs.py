"""Requests from the logs gateways and CDNs write: API Gateway access logs (JSON), ALB access
logs and CloudFront standard logs.

Each reader yields ``(line number, row)`` pairs like the batch readers: a row is a request
dictionary (``ip``, ``time``, ``provider``) or, for a line that cannot be read, its error
text. The client address and time come from the log's own fields; the provider from a field
(``provider_field``) or from a regular expression with a ``provider`` group matched against
the request path (``provider_pattern``), e.g. ``^/proxy/(?P<provider>[^/]+)/``. A line whose
provider cannot be found is left to ``--provider`` (the default) or reported.
"""

from __future__ import annotations

import datetime as dt
import re
import shlex
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from regiongate.batch import parse_line

_CLF_TIME = "%d/%b/%Y:%H:%M:%S %z"  # $context.requestTime


@dataclass(frozen=True, slots=True)
class ProviderRule:
    """Where a log line names its provider: a field, or a pattern over the request path."""

    field: str | None = None
    pattern: re.Pattern[str] | None = None

    @classmethod
    def build(cls, field: str | None, pattern: str | None) -> ProviderRule:
        compiled = None
        if pattern is not None:
            try:
                compiled = re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"--provider-pattern is not a regular expression: {exc}") from exc
            if "provider" not in compiled.groupindex:
                raise ValueError("--provider-pattern needs a named group (?P<provider>...)")
        return cls(field, compiled)

    def provider(self, fields: dict[str, Any], path: str | None) -> str | None:
        if self.field is not None:
            value = fields.get(self.field)
            return value if isinstance(value, str) and value else None
        if self.pattern is not None and path:
            found = self.pattern.search(path)
            return found.group("provider") if found else None
        return None


def _iso_utc(stamp: dt.datetime) -> str:
    return stamp.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _row(ip: str, when: str, provider: str | None) -> dict[str, Any]:
    row: dict[str, Any] = {"ip": ip, "time": when}
    if provider is not None:
        row["provider"] = provider
    return row


def read_apigateway(
    lines: Iterable[str], rule: ProviderRule
) -> Iterator[tuple[int, dict[str, Any] | str]]:
    """API Gateway access logs in JSON (one object a line), as ``$context`` variables name
    them: ``sourceIp`` (or ``ip``), ``requestTimeEpoch`` (ms) or ``requestTime``, and
    ``path``/``routeKey``/``resourcePath`` for the pattern."""
    for number, line in enumerate(lines, 1):
        fields = parse_line(line)
        if fields is None:
            continue
        if isinstance(fields, str):
            yield number, fields
            continue
        ip = fields.get("sourceIp", fields.get("ip"))
        if not isinstance(ip, str) or not ip:
            yield number, "no client address (sourceIp)"
            continue
        epoch = fields.get("requestTimeEpoch")
        try:
            if isinstance(epoch, (int, str)) and str(epoch).isdigit():
                stamp = dt.datetime.fromtimestamp(int(epoch) / 1000, dt.UTC)
            elif isinstance(fields.get("requestTime"), str):
                stamp = dt.datetime.strptime(fields["requestTime"], _CLF_TIME)
            else:
                yield number, "no request time (requestTimeEpoch or requestTime)"
                continue
        except (ValueError, OverflowError, OSError) as exc:
            yield number, f"unreadable request time: {exc}"
            continue
        path = next(
            (
                fields[k]
                for k in ("path", "routeKey", "resourcePath")
                if isinstance(fields.get(k), str)
            ),
            None,
        )
        yield number, _row(ip, _iso_utc(stamp), rule.provider(fields, path))


def _client(text: str) -> str:
    """``ip:port`` (IPv4) or ``[v6]:port``/``v6:port`` as ALB writes the client: the address."""
    if text.startswith("["):
        return text[1 : text.index("]")]
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"client {text!r} is not address:port")
    return host


def read_alb(
    lines: Iterable[str], rule: ProviderRule
) -> Iterator[tuple[int, dict[str, Any] | str]]:
    """ALB access logs: space-separated, quoted fields; ``client:port`` is the 4th field, the
    time the 2nd, the request line the 13th (its path is matched by the pattern)."""
    names = ("type", "time", "elb", "client", "target")
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            parts = shlex.split(line, posix=True)
            if len(parts) < 13:
                raise ValueError(f"{len(parts)} fields, an ALB log line has at least 13")
            fields: dict[str, Any] = dict(zip(names, parts, strict=False))
            ip = _client(parts[3])
            stamp = dt.datetime.fromisoformat(parts[1].replace("Z", "+00:00"))
            request = parts[12].split(" ")
            url = request[1] if len(request) >= 2 else ""
            path = "/" + url.split("://", 1)[-1].split("/", 1)[-1] if "://" in url else url
        except ValueError as exc:
            yield number, f"not an ALB log line: {exc}"
            continue
        yield number, _row(ip, _iso_utc(stamp), rule.provider(fields, path))


def read_cloudfront(
    lines: Iterable[str], rule: ProviderRule
) -> Iterator[tuple[int, dict[str, Any] | str]]:
    """CloudFront standard logs (W3C, tab-separated): the ``#Fields:`` header names the
    columns; ``c-ip``, ``date`` + ``time`` (UTC) and ``cs-uri-stem`` are used."""
    fields_line: list[str] | None = None
    for number, line in enumerate(lines, 1):
        text = line.rstrip("\r\n")
        if not text.strip():
            continue
        if text.startswith("#"):
            if text.startswith("#Fields:"):
                fields_line = text[len("#Fields:") :].split()
            continue
        if fields_line is None:
            yield number, "no #Fields: header before the first record"
            continue
        values = text.split("\t")
        if len(values) != len(fields_line):
            yield number, f"{len(values)} fields, the #Fields: header names {len(fields_line)}"
            continue
        fields = dict(zip(fields_line, values, strict=True))
        try:
            stamp = dt.datetime.fromisoformat(f"{fields['date']}T{fields['time']}+00:00")
            ip = fields["c-ip"]
        except (KeyError, ValueError) as exc:
            yield number, f"not a CloudFront log record: {exc}"
            continue
        yield number, _row(ip, _iso_utc(stamp), rule.provider(fields, fields.get("cs-uri-stem")))


READERS = {"apigateway": read_apigateway, "alb": read_alb, "cloudfront": read_cloudfront}
