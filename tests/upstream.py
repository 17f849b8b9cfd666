"""A fake AI provider API on loopback, for the gate's tests: it counts hits per provider.

Every provider's upstream is ``<url>/<provider>``, so a request that reaches the wrong
provider shows in ``hits``. The caller steers it with request headers (the gate passes them
through): ``x-fake-status`` answers that status with a provider-style error body,
``x-fake-delay`` sleeps first (seconds). ``"stream": true`` in a JSON body answers
server-sent events in HTTP/1.1 chunks, holding the last one until ``release`` is set, so a
test can see the first chunk arrive before the upstream has finished.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# Each provider's upstream parameter, as template.yaml names it (the gate's routes).
UPSTREAM_PARAMETERS = {
    "openai": "OpenAiUpstreamUrl",
    "anthropic": "AnthropicUpstreamUrl",
    "google_gemini": "GeminiUpstreamUrl",
    "azure_openai": "AzureOpenAiUpstreamUrl",
    "aws_bedrock": "BedrockUpstreamUrl",
    "deepseek": "DeepSeekUpstreamUrl",
}
CHAT = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1,
    "model": "gpt-test",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "hello"},
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
}
MESSAGE = {
    "id": "msg_1",
    "type": "message",
    "role": "assistant",
    "model": "claude-test",
    "content": [{"type": "text", "text": "hello"}],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {"input_tokens": 1, "output_tokens": 1},
}


def chat_chunk(text: str, finish: str | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "gpt-test",
        "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": finish}],
    }


def anthropic_events() -> list[tuple[str, dict[str, Any]]]:
    start = dict(MESSAGE, content=[], stop_reason=None)
    return [
        ("message_start", {"type": "message_start", "message": start}),
        (
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
        ),
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": "hel"},
            },
        ),
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": "lo"},
            },
        ),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": 2},
            },
        ),
        ("message_stop", {"type": "message_stop"}),
    ]


def error_body(status: int) -> dict[str, Any]:
    """Each status's body in the style of the provider the path names."""
    kinds = {400: "invalid_request_error", 401: "authentication_error", 429: "rate_limit_error"}
    kind = kinds.get(status, "api_error")
    return {"error": {"message": f"upstream says {status}", "type": kind, "code": f"fake_{status}"}}


class FakeUpstream:
    def __init__(self) -> None:
        self.hits: Counter[str] = Counter()
        self.requests: list[dict[str, Any]] = []
        self.release = threading.Event()
        self.finished = threading.Event()
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> FakeUpstream:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(timeout=5)

    def base(self, provider: str) -> str:
        return f"{self.url}/{provider}"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def _answer(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("x-request-id", "req_fake")
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            def _chunk(self, data: bytes) -> None:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                self.wfile.flush()

            def _stream(self, provider: str) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                if provider == "anthropic":
                    events = [
                        f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()
                        for name, data in anthropic_events()
                    ]
                else:
                    events = [
                        f"data: {json.dumps(chat_chunk(t, f))}\n\n".encode()
                        for t, f in (("hel", None), ("lo", "stop"))
                    ] + [b"data: [DONE]\n\n"]
                self._chunk(events[0])
                # Hold the rest until the test has seen the first chunk.
                fake.release.wait(timeout=10)
                for event in events[1:]:
                    self._chunk(event)
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()
                fake.finished.set()

            def _handle(self) -> None:
                provider = self.path.lstrip("/").partition("/")[0]
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with fake.lock:
                    fake.hits[provider] += 1
                    fake.requests.append(
                        {
                            "method": self.command,
                            "path": self.path,
                            "headers": {k.lower(): v for k, v in self.headers.items()},
                            "body": body,
                        }
                    )
                delay = float(self.headers.get("x-fake-delay") or 0)
                if delay:
                    time.sleep(delay)
                status = int(self.headers.get("x-fake-status") or 200)
                if status != 200:
                    self._answer(status, error_body(status))
                    return
                try:
                    payload = json.loads(body) if body else {}
                except ValueError:
                    payload = {}
                if isinstance(payload, dict) and payload.get("stream"):
                    self._stream(provider)
                    return
                self._answer(200, MESSAGE if provider == "anthropic" else CHAT)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _handle  # noqa: N815

        return Handler
