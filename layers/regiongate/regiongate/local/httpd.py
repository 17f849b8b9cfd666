"""HTTP/1.1 for ``regiongate serve``: reading requests strictly, writing answers whole.

- A body is read by its ``Content-Length`` (digits only: ``-1`` or ``abc`` is a 400) or as
  ``Transfer-Encoding: chunked``; past the limit it is a 413 and the connection closes.
  Framing another reader could take differently (request smuggling) is a 400.
- Every answer the server makes itself — including malformed requests and methods nobody
  serves — is the JSON error envelope, never the standard library's HTML.
- Each complete answer is written in one send, with TCP_NODELAY (headers and body in two
  small sends would wait on Nagle and delayed ACKs: ~40 ms per keep-alive answer).
- Streamed answers (the gate's) go out as they arrive, chunked unless the upstream gave a
  length. Idle keep-alive connections are closed after ``idle_timeout`` seconds.
"""

from __future__ import annotations

import json
import logging
import re
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from regiongate.api.errors import error_body
from regiongate.local.events import HttpRequest
from regiongate.local.proxy import GateError, Streamed

JSON = [("Content-Type", "application/json")]
# RFC 9112: a chunk size is hex digits only (no 0x, sign or _ that int() would take), and a
# header name is a token (``Transfer-Encoding : chunked`` must not slip past as another name).
_CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]{1,16}")
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
log = logging.getLogger("regiongate_local")


@dataclass
class Answer:
    """A complete answer: status, headers and body."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes


def error_answer(status: int, code: str, message: str) -> Answer:
    return Answer(status, list(JSON), json.dumps(error_body(code, message)).encode())


class BadRequestError(Exception):
    def __init__(self, answer: Answer) -> None:
        super().__init__(answer.status)
        self.answer = answer


def _status_line(status: int) -> bytes:
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = ""
    return f"HTTP/1.1 {status} {phrase}\r\n".encode("latin-1")


def _head(status: int, headers: list[tuple[str, str]], close: bool) -> bytes:
    lines = [_status_line(status)]
    lines += [f"{k}: {v}\r\n".encode("latin-1", "replace") for k, v in headers]
    if close:
        lines.append(b"Connection: close\r\n")
    return b"".join([*lines, b"\r\n"])


class Server(ThreadingHTTPServer):
    request_queue_size = 128  # the default 5 resets bursts of concurrent connections
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up mid-answer is ordinary: logged, not printed as a traceback."""
        log.debug("connection from %s ended with an error", client_address, exc_info=True)


def handler_class(
    dispatch: Callable[[HttpRequest], Answer | Streamed],
    *,
    max_body: int,
    idle_timeout: float,
) -> type[BaseHTTPRequestHandler]:
    """A request handler that reads each request, asks ``dispatch``, and writes the answer."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = idle_timeout  # StreamRequestHandler: the socket's timeout between requests

        def setup(self) -> None:
            super().setup()
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("%s " + format, self.address_string(), *args)

        # --- writing -------------------------------------------------------------------

        def _write(self, answer: Answer) -> None:
            headers = [h for h in answer.headers if h[0].lower() != "content-length"]
            headers.append(("Content-Length", str(len(answer.body))))
            body = b"" if self.command == "HEAD" else answer.body
            self.wfile.write(_head(answer.status, headers, self.close_connection) + body)

        def _stream(self, answer: Streamed) -> None:
            headers = list(answer.headers)
            bodyless = self.command == "HEAD" or answer.status in (204, 304)
            if answer.length is not None:
                headers.append(("Content-Length", str(answer.length)))
            elif not bodyless:
                headers.append(("Transfer-Encoding", "chunked"))
            self.wfile.write(_head(answer.status, headers, self.close_connection))
            sent = 0
            try:
                for data in answer.chunks:
                    if bodyless:
                        continue
                    if answer.length is None:
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                    else:
                        self.wfile.write(data)
                    sent += len(data)
                if answer.length is None and not bodyless:
                    self.wfile.write(b"0\r\n\r\n")
                elif answer.length is not None and sent != answer.length and not bodyless:
                    self.close_connection = True  # cut short: the client must see it
            except GateError:
                self.close_connection = True  # the upstream stalled mid-answer
            finally:
                answer.close()

        def send_error(
            self, code: int, message: str | None = None, explain: str | None = None
        ) -> None:
            """The standard library's own refusals (bad request line, headers too long, a
            method no route could serve) as the JSON envelope."""
            self.close_connection = True
            if code == 501:  # an unknown method: no route serves it
                answer = error_answer(405, "method_not_allowed", f"no route serves {self.command}")
            else:
                answer = error_answer(code, "invalid_request", message or "bad request")
            self._write(answer)

        # --- reading -------------------------------------------------------------------

        def _too_large(self) -> BadRequestError:
            self.close_connection = True
            return BadRequestError(
                error_answer(413, "payload_too_large", f"request body exceeds {max_body} bytes")
            )

        def _invalid(self, message: str) -> BadRequestError:
            self.close_connection = True
            return BadRequestError(error_answer(400, "invalid_request", message))

        def _read_chunked(self) -> bytes:
            parts: list[bytes] = []
            total = 0
            while True:
                line = self.rfile.readline(1024)
                digits = line.split(b";", 1)[0].strip(b" \t\r\n")
                if not _CHUNK_SIZE.fullmatch(digits):
                    raise self._invalid("malformed chunk size")
                size = int(digits, 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass  # trailers are read and dropped
                    return b"".join(parts)
                total += size
                if total > max_body:
                    raise self._too_large()
                data = self.rfile.read(size)
                if len(data) < size or self.rfile.readline(3) not in (b"\r\n", b"\n"):
                    raise self._invalid("chunked body ended early")
                parts.append(data)

        def _read_body(self) -> bytes:
            # A line that is not ``name: value`` ends the header block for the parser (the rest
            # would be dropped, Content-Length with it): refuse instead of guessing.
            if self.headers.defects or any(not _TOKEN.fullmatch(n) for n in self.headers):
                raise self._invalid("malformed header name")
            encodings = self.headers.get_all("Transfer-Encoding")
            if encodings:
                if ",".join(encodings).strip().lower() != "chunked":
                    raise self._invalid("only chunked transfer encoding is supported")
                self.close_connection = self.close_connection or "Content-Length" in self.headers
                return self._read_chunked()
            lengths = {v.strip() for v in self.headers.get_all("Content-Length") or []}
            if not lengths:
                return b""
            if len(lengths) > 1 or not next(iter(lengths)).isdigit():
                raise self._invalid("Content-Length must be one non-negative number")
            length = int(next(iter(lengths)))
            if length > max_body:
                raise self._too_large()
            body = self.rfile.read(length)
            if len(body) < length:
                raise self._invalid("request body ended early")
            return body

        def _handle(self) -> None:
            try:
                body = self._read_body()
            except BadRequestError as bad:
                self._write(bad.answer)
                return
            request = HttpRequest(
                method=self.command,
                target=self.path,
                headers=list(self.headers.items()),
                body=body,
                source_ip=self.client_address[0],
                protocol=self.request_version,
                request_id=str(uuid.uuid4()),
            )
            try:
                answer = dispatch(request)
            except Exception:  # a bug must still answer, with no internals
                log.exception("request failed")
                self.close_connection = True
                answer = error_answer(500, "internal_error", "internal error")
            if isinstance(answer, Streamed):
                self._stream(answer)
            else:
                self._write(answer)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle  # noqa: N815
        do_HEAD = do_OPTIONS = do_TRACE = _handle  # noqa: N815

    return Handler
