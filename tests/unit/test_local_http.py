"""The local server's HTTP/1.1: strict request reading, JSON errors, one send per answer."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from regiongate.local.events import HttpRequest
from regiongate.local.httpd import Answer, Server, handler_class
from regiongate.local.proxy import Streamed

MAX_BODY = 1000
IDLE = 0.5


class Echo:
    """A dispatch that answers what it read (and streams on /stream)."""

    def __init__(self) -> None:
        self.release = threading.Event()

    def __call__(self, request: HttpRequest) -> Answer | Streamed:
        if request.raw_path == "/stream":

            def chunks() -> Iterator[bytes]:
                yield b"data: 1\n\n"
                self.release.wait(5)
                yield b"data: 2\n\n"

            return Streamed(200, [("Content-Type", "text/event-stream")], None, chunks())
        body = {"method": request.method, "target": request.target, "body": request.body.decode()}
        return Answer(200, [("Content-Type", "application/json")], json.dumps(body).encode())


@pytest.fixture
def server() -> Iterator[tuple[str, int, Echo]]:
    echo = Echo()
    httpd = Server(("127.0.0.1", 0), handler_class(echo, max_body=MAX_BODY, idle_timeout=IDLE))
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield "127.0.0.1", httpd.server_address[1], echo
    echo.release.set()
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)


def exchange(server: tuple[str, int, Any], raw: bytes) -> bytes:
    """Send raw bytes, read until the server closes or goes quiet."""
    with socket.create_connection(server[:2], timeout=5) as sock:
        sock.sendall(raw)
        sock.shutdown(socket.SHUT_WR)
        out = b""
        while data := sock.recv(65536):
            out += data
        return out


def split(raw: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers, body


@pytest.mark.parametrize("length", ["-1", "abc", "1, 2", "+5"])
def test_a_bad_content_length_is_a_400_with_the_envelope(server: Any, length: str) -> None:
    status, headers, body = split(
        exchange(
            server, f"POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: {length}\r\n\r\n".encode()
        )
    )
    assert status == 400 and headers["Connection"] == "close"
    assert json.loads(body)["error"]["code"] == "invalid_request"


def test_an_oversized_body_is_a_413_without_reading_it(server: Any) -> None:
    raw = f"POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: {MAX_BODY + 1}\r\n\r\n".encode()
    status, _, body = split(exchange(server, raw))
    assert (status, json.loads(body)["error"]["code"]) == (413, "payload_too_large")


def test_a_chunked_upload_is_read_as_the_body(server: Any) -> None:
    raw = b"POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    raw += b"3\r\nabc\r\n4;ext=1\r\ndefg\r\n0\r\nTrailer: x\r\n\r\n"
    status, _, body = split(exchange(server, raw))
    assert (status, json.loads(body)["body"]) == (200, "abcdefg")


def test_an_oversized_chunked_upload_is_a_413(server: Any) -> None:
    chunk = b"x" * 600
    raw = b"POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
    raw += b"258\r\n" + chunk + b"\r\n" + b"258\r\n" + chunk + b"\r\n0\r\n\r\n"
    assert split(exchange(server, raw))[0] == 413


@pytest.mark.parametrize("method", ["HEAD", "OPTIONS", "TRACE"])
def test_head_options_and_trace_reach_dispatch_not_a_501_page(server: Any, method: str) -> None:
    status, headers, body = split(
        exchange(server, f"{method} /x HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n".encode())
    )
    assert status == 200 and headers["Content-Type"] == "application/json"
    assert body == b"" if method == "HEAD" else json.loads(body)["method"] == method


def test_unknown_methods_and_garbage_get_the_json_envelope(server: Any) -> None:
    for raw in (b"BREW /x HTTP/1.1\r\nHost: h\r\n\r\n", b"garbage\r\n\r\n"):
        status, headers, body = split(exchange(server, raw))
        assert status in (400, 405) and headers["Content-Type"] == "application/json"
        assert json.loads(body)["error"]["code"]


def test_each_answer_is_one_send_with_nodelay(server: Any, monkeypatch: Any) -> None:
    sends: list[bytes] = []
    real = socket.socket.sendall
    nodelay: list[int] = []

    def spy(self: socket.socket, data: Any, *args: Any) -> Any:
        if self.getsockname()[1] == server[1]:
            sends.append(bytes(data))
            nodelay.append(self.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        return real(self, data, *args)

    monkeypatch.setattr(socket.socket, "sendall", spy)
    raw = (
        b"GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"
    )
    out = exchange(server, raw)
    assert out.count(b"HTTP/1.1 200") == 2
    assert len(sends) == 2 and all(s.startswith(b"HTTP/1.1 200") for s in sends)
    assert nodelay and all(nodelay)


def test_streamed_answers_arrive_chunk_by_chunk(server: Any) -> None:
    with socket.create_connection(server[:2], timeout=5) as sock:
        sock.sendall(b"GET /stream HTTP/1.1\r\nHost: h\r\n\r\n")
        first = b""
        while b"data: 1" not in first:
            first += sock.recv(65536)
        assert b"Transfer-Encoding: chunked" in first and b"data: 2" not in first
        server[2].release.set()
        rest = b""
        while not rest.endswith(b"0\r\n\r\n"):
            rest += sock.recv(65536)
        assert b"data: 2" in rest


def test_idle_keep_alive_connections_are_closed(server: Any) -> None:
    with socket.create_connection(server[:2], timeout=5) as sock:
        sock.sendall(b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n")
        assert sock.recv(65536).startswith(b"HTTP/1.1 200")
        started = time.monotonic()
        assert sock.recv(65536) == b""  # closed by the server, not by our 5 s timeout
        assert time.monotonic() - started < 4


@pytest.mark.parametrize(
    "framing",
    [
        b"Transfer-Encoding: chunked\r\n\r\n0x3\r\nabc\r\n0\r\n\r\n",  # int(..., 16) takes 0x
        b"Transfer-Encoding: chunked\r\n\r\n+3\r\nabc\r\n0\r\n\r\n",
        b"Transfer-Encoding: chunked\r\n\r\n0_3\r\nabc\r\n0\r\n\r\n",
        b"Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        b"Transfer-Encoding : chunked\r\nContent-Length: 0\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    ],
)
def test_ambiguous_body_framing_is_a_400_not_a_guess(server: Any, framing: bytes) -> None:
    """What another HTTP reader could frame differently (request smuggling) is refused."""
    raw = b"POST /x HTTP/1.1\r\nHost: h\r\n" + framing
    status, headers, body = split(exchange(server, raw))
    assert status == 400 and headers["Connection"] == "close"
    assert json.loads(body)["error"]["code"] == "invalid_request"
