"""``regiongate serve``: the service as deployed, on one machine, without Docker or AWS.

- Routes, authorizers and function environments come from template.yaml.
- Real HTTP requests become API Gateway payload 2.0 events (source address, headers, query,
  path parameters, body) handed to the same handlers Lambda runs.
- AWS is moto's server on loopback; the bus, rules, queues and table are created from the
  template. A poller delivers the audit queues to the audit handler in batches, as Lambda's
  event source mapping would.
- Stored decisions are journalled under the data directory and restored on start, so what
  was recorded survives a restart. Ctrl-C drains the queues before stopping.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
import uuid
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from regiongate.api.authorizer import is_allowed
from regiongate.api.errors import error_body
from regiongate.aws.clients import client
from regiongate.aws.keys import ip_hash_key
from regiongate.engine import get_engine
from regiongate.local.provision import provision
from regiongate.local.runtime import (
    LambdaContext,
    handler,
    local_overrides,
    reset_process_caches,
)
from regiongate.local.template import Route, Template
from regiongate.settings import settings

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
CONCURRENCY = 8  # execution environments per function
POLLERS_PER_QUEUE = 2  # concurrent batches per audit queue, as Lambda would scale out
MAX_REQUEST_BYTES = 10 * 1024 * 1024  # API Gateway HTTP API's own payload limit
AUDIT_QUEUES = ("AuditQueue", "FallbackQueue")

log = logging.getLogger("regiongate_local")


@dataclass
class Stats:
    """What the local dashboard shows, fed by every decision the audit consumer stored."""

    recent: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=50))
    outcomes: Counter[str] = field(default_factory=Counter)
    countries: Counter[str] = field(default_factory=Counter)
    denied_countries: Counter[str] = field(default_factory=Counter)
    stored: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, record: dict[str, Any]) -> None:
        country = (record.get("geo") or {}).get("country") or "??"
        with self.lock:
            self.stored += 1
            self.recent.appendleft(
                {
                    k: record.get(k)
                    for k in ("decision_id", "decided_at", "provider", "outcome", "rule")
                }
                | {"country": country, "reasons": record.get("reasons", [])}
            )
            self.outcomes[str(record.get("outcome"))] += 1
            self.countries[country] += 1
            if record.get("outcome") in ("deny", "reroute"):
                self.denied_countries[country] += 1

    def to_dict(self) -> dict[str, Any]:
        with self.lock:
            return {
                "stored": self.stored,
                "recent": list(self.recent),
                "outcomes": dict(self.outcomes),
                "countries": dict(self.countries.most_common(30)),
                "denied_countries": dict(self.denied_countries.most_common(30)),
            }


class Journal:
    """Stored audit items as DynamoDB JSON lines, appended after each batch, loaded on start."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock = threading.Lock()

    def _items(self) -> dict[tuple[str, str], dict[str, Any]]:
        """The journalled items by key; a later line for the same key replaces an earlier."""
        items: dict[tuple[str, str], dict[str, Any]] = {}
        if self.path.exists():
            with self.path.open(encoding="utf-8") as handle:
                for line in handle:
                    if line.strip():
                        item = json.loads(line)
                        items[(item["pk"]["S"], item["sk"]["S"])] = item
        return items

    def restore(self, table: str) -> list[dict[str, Any]]:
        """Put every journalled item back into the (fresh) table; return decision records."""
        items = self._items()
        if not items:
            return []
        values = list(items.values())
        for start in range(0, len(values), 25):
            client("dynamodb").batch_write_item(
                RequestItems={
                    table: [{"PutRequest": {"Item": item}} for item in values[start : start + 25]]
                }
            )
        return [json.loads(i["record"]["S"]) for i in values if "record" in i]

    def chains(self) -> dict[str, list[dict[str, Any]]]:
        """Every partition's links, in sequence order, as journalled (for verification)."""
        items = self._items()
        chains: dict[str, list[dict[str, Any]]] = {}
        for (pk, sk), item in sorted(items.items()):
            if pk.startswith("chain#") and sk.startswith("seq#"):
                record = json.loads(item["record"]["S"])
                if "duplicate_of" in item:
                    record["duplicate_of"] = item["duplicate_of"]["S"]
                chains.setdefault(pk.split("#", 1)[1], []).append(record)
        return chains

    def append(self, items: list[dict[str, Any]]) -> None:
        if not items:
            return
        text = "".join(json.dumps(i, separators=(",", ":")) + "\n" for i in items)
        with self.lock, self.path.open("a", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())


class LocalService:
    """Everything ``regiongate serve`` runs: emulator, functions, poller, HTTP server."""

    def __init__(
        self,
        template_path: Path,
        data_dir: Path,
        *,
        host: str = "127.0.0.1",
        port: int = 3000,
        parameters: dict[str, str] | None = None,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.template_path, self.data_dir = template_path, data_dir
        self.host, self.port = host, port
        self.parameters = parameters or {}
        self.extra_env = extra_env or {}
        self.stats = Stats()
        self.journal = Journal(data_dir / "audit-journal.jsonl")
        self._stop = threading.Event()
        self._pools: dict[str, queue.Queue[int]] = {}
        self._moto: subprocess.Popen[bytes] | None = None
        self.httpd: ThreadingHTTPServer | None = None
        self._pollers: list[threading.Thread] = []
        self.template: Template

    # --- start-up ----------------------------------------------------------------------

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        moto_port = _free_port()
        # moto runs in a child process: its own interpreter, so it does not share our GIL.
        self._moto = subprocess.Popen(  # noqa: S603 - our own interpreter, before any thread
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(moto_port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            # Its own session: a terminal's Ctrl-C must not stop it before we drain the queues.
            start_new_session=True,
        )
        endpoint = f"http://127.0.0.1:{moto_port}"
        _wait_for(endpoint + "/moto-api/data.json", self._moto)
        os.environ.update(
            {
                "AWS_ENDPOINT_URL": endpoint,
                "AWS_ACCESS_KEY_ID": "local",
                "AWS_SECRET_ACCESS_KEY": "local",
                "AWS_DEFAULT_REGION": "us-east-1",
            }
        )
        reset_process_caches()
        self.template = Template.load(self.template_path, self.parameters)
        provision(self.template)
        self._apply_environment()
        settings_now = settings()
        ip_hash_key(settings_now.ip_hash_key_parameter, settings_now.ip_hash_key_file)
        restored = self.journal.restore(self.template.names["AuditTable"])
        for record in sorted(restored, key=lambda r: str(r.get("decided_at"))):
            self.stats.add(record)
        self.routes = self.template.routes()
        self.httpd = _HTTPServer((self.host, self.port), self._request_handler())
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self._pollers = [
            threading.Thread(
                target=self._poll, args=(queue_id,), name=f"poller-{queue_id}", daemon=True
            )
            for queue_id in AUDIT_QUEUES
            for _ in range(POLLERS_PER_QUEUE)
        ]
        for poller in self._pollers:
            poller.start()

    def _apply_environment(self) -> None:
        """One environment for all functions (they share it in the template, bar additions);
        a conflicting variable would be a template bug, so it is refused."""
        merged: dict[str, str] = {}
        for logical_id in self.template.of_type("AWS::Serverless::Function"):
            for key, value in self.template.environment(logical_id).items():
                if merged.setdefault(key, value) != value:
                    raise RuntimeError(f"functions disagree on {key}; cannot run them together")
        merged.update(local_overrides(self.data_dir))
        merged.update(self.extra_env)
        os.environ.update(merged)
        reset_process_caches()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def serve_forever(self) -> None:
        assert self.httpd is not None
        self.httpd.serve_forever(poll_interval=0.2)

    # --- invoking functions ----------------------------------------------------------------

    def invoke(self, logical_id: str, event: dict[str, Any]) -> Any:
        """Run a handler as Lambda would: each execution environment (a separate copy of the
        function's module) takes one event at a time; up to ``CONCURRENCY`` run at once."""
        pool = self._pools.get(logical_id)
        if pool is None:
            pool = self._pools.setdefault(logical_id, queue.Queue())
            if pool.empty():
                for instance in range(CONCURRENCY):
                    pool.put(instance)
        instance = pool.get()
        try:
            return handler(self.template, logical_id, instance)(event, LambdaContext(logical_id))
        finally:
            pool.put(instance)

    # --- the audit queues, as Lambda's event source mapping would read them -----------

    def _poll(self, queue_id: str) -> None:
        while not self._stop.is_set():
            try:
                if not self.deliver_once(wait_seconds=1, queues=(queue_id,)):
                    continue
            except Exception:  # keep polling; the message stays queued and is retried
                log.exception("audit poller error")
                time.sleep(1)

    def _collect_reviews(self) -> None:
        """The review queue is for people: locally its messages go to review-queue.jsonl in
        the data directory (and the page), so the emulated queue does not grow without end."""
        sqs, url = client("sqs"), self.template.names["ReviewQueue"]
        path = self.data_dir / "review-queue.jsonl"
        while not self._stop.is_set():
            try:
                messages = sqs.receive_message(
                    QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1
                ).get("Messages", [])
                if not messages:
                    continue
                with path.open("a", encoding="utf-8") as handle:
                    handle.writelines(m["Body"] + "\n" for m in messages)
                sqs.delete_message_batch(
                    QueueUrl=url,
                    Entries=[
                        {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                        for i, m in enumerate(messages)
                    ],
                )
            except Exception:  # keep collecting; unread messages stay queued
                log.exception("review collector error")
                time.sleep(1)

    def deliver_once(self, wait_seconds: int = 0, queues: tuple[str, ...] = AUDIT_QUEUES) -> int:
        """Receive a batch from each audit queue and hand it to the audit handler."""
        delivered = 0
        sqs = client("sqs")
        for queue_id in queues:
            url = self.template.names[queue_id]
            messages = sqs.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=10,
                WaitTimeSeconds=wait_seconds,
                AttributeNames=["All"],
            ).get("Messages", [])
            if not messages:
                continue
            event = {"Records": [_sqs_record(m, self.template.arn(queue_id)) for m in messages]}
            result = self.invoke("AuditFunction", event) or {}
            failed = {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}
            done = [m for m in messages if m["MessageId"] not in failed]
            self._journal([json.loads(m["Body"]) for m in done])
            if done:
                sqs.delete_message_batch(
                    QueueUrl=url,
                    Entries=[
                        {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                        for i, m in enumerate(done)
                    ],
                )
            delivered += len(done)
        return delivered

    def _journal(self, envelopes: list[dict[str, Any]]) -> None:
        """Append the stored link and pointer of each delivered decision to the journal."""
        table = self.template.names["AuditTable"]
        dynamodb = client("dynamodb")
        items = []
        for envelope in envelopes:
            record = (envelope.get("detail") or {}).get("record") or {}
            decision_id = record.get("decision_id")
            if not decision_id:
                continue
            pointer = dynamodb.get_item(
                TableName=table,
                ConsistentRead=True,
                Key={"pk": {"S": f"decision#{decision_id}"}, "sk": {"S": "record"}},
            ).get("Item")
            if pointer is None:
                continue
            link = dynamodb.get_item(
                TableName=table,
                ConsistentRead=True,
                Key={"pk": pointer["chain"], "sk": pointer["link"]},
            ).get("Item")
            if link is None:
                continue
            items += [link, pointer]
            self.stats.add(json.loads(link["record"]["S"]))
        self.journal.append(items)

    def drain(self) -> int:
        """Deliver everything still queued (at shutdown) until the audit queues are empty.

        Messages that keep failing end in the dead-letter queue after their retries (the
        queues' redrive policy), so this ends."""
        total = 0
        while True:
            delivered = self.deliver_once(wait_seconds=0)
            total += delivered
            if not delivered and not self._queued():
                return total

    def _queued(self) -> int:
        sqs, count = client("sqs"), 0
        for queue_id in AUDIT_QUEUES:
            attributes = sqs.get_queue_attributes(
                QueueUrl=self.template.names[queue_id],
                AttributeNames=[
                    "ApproximateNumberOfMessages",
                    "ApproximateNumberOfMessagesNotVisible",
                ],
            )["Attributes"]
            count += int(attributes["ApproximateNumberOfMessages"])
        return count

    def stop(self) -> None:
        """Stop taking requests, drain the audit queues, then stop the emulator."""
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
        self._stop.set()
        try:
            for poller in self._pollers:
                poller.join(timeout=5)
            self.drain()
        finally:
            if self._moto is not None:
                self._moto.terminate()
                try:
                    self._moto.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self._moto.kill()
                    self._moto.wait()

    # --- HTTP ----------------------------------------------------------------------------

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        for route in self.routes:
            if route.method not in ("ANY", method):
                continue
            found = route.pattern.match(path)
            if found:
                return route, found.groupdict()
        return None

    def _request_handler(self) -> type[BaseHTTPRequestHandler]:
        service = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            server_version = "regiongate-local"

            def log_message(self, format: str, *args: Any) -> None:
                log.debug("%s " + format, self.address_string(), *args)

            def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _json(self, status: int, data: Any) -> None:
                self._send(status, json.dumps(data).encode(), {"Content-Type": "application/json"})

            def _handle(self) -> None:
                parsed = urllib.parse.urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_REQUEST_BYTES:
                    self._json(413, {"message": "Request Entity Too Large"})
                    self.close_connection = True
                    return
                body = self.rfile.read(length) if length else b""
                if self.command == "GET" and parsed.path in ("/", "/index.html"):
                    page = (WEB_DIR / "index.html").read_bytes()
                    self._send(200, page, {"Content-Type": "text/html; charset=utf-8"})
                    return
                if self.command == "GET" and parsed.path == "/_local/stats":
                    self._json(200, service.stats.to_dict())
                    return
                matched = service.match(self.command, parsed.path)
                if matched is None:
                    message = f"no route {self.command} {parsed.path}"
                    self._json(404, error_body("route_not_found", message))
                    return
                route, params = matched
                event = build_event(self, route, params, parsed, body)
                status, headers, payload = service.dispatch(route, event, body, self.headers)
                self._send(status, payload, headers)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle  # noqa: N815

        return Handler

    def dispatch(
        self, route: Route, event: dict[str, Any], body: bytes, headers: Any
    ) -> tuple[int, dict[str, str], bytes]:
        if route.authorizer:
            rest = route.api == "REST"
            request = rest_authorizer_event(event, route) if rest else authorizer_event(event)
            answer = self.invoke(route.authorizer, request)
            if not is_allowed(answer):
                if not rest:  # an HTTP API cannot shape an authorizer's refusal
                    return 403, {"Content-Type": "application/json"}, b'{"message":"Forbidden"}'
                status, text = self.template.gateway_responses()["ACCESS_DENIED"]
                return status, {"Content-Type": "application/json"}, render(text, answer)
            event["requestContext"]["authorizer"] = {"lambda": answer.get("context", {})}
        if route.function:
            return lambda_response(self.invoke(route.function, event))
        return forward(route, event, body, headers)


class _HTTPServer(ThreadingHTTPServer):
    request_queue_size = 128  # the default 5 resets bursts of concurrent connections
    daemon_threads = True


def _die_with_parent() -> None:
    """In the child before exec: ask Linux to kill it when the parent dies (moto's server does
    not always stop on SIGTERM, and its state is in memory anyway)."""
    if sys.platform.startswith("linux"):
        import ctypes  # noqa: PLC0415 - only on Linux, only in the child

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_for(url: str, process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("the AWS emulator (moto) exited at start-up")
        try:
            with urllib.request.urlopen(url, timeout=1):  # noqa: S310 - loopback
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("the AWS emulator (moto) did not start within 30 s")


def _sqs_record(message: dict[str, Any], queue_arn: str) -> dict[str, Any]:
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message.get("Attributes", {}),
        "messageAttributes": {},
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": "us-east-1",
    }


def build_event(
    request: BaseHTTPRequestHandler,
    route: Route,
    params: dict[str, str],
    parsed: urllib.parse.SplitResult,
    body: bytes,
) -> dict[str, Any]:
    """An API Gateway HTTP API payload 2.0 event for a real request."""
    source_ip = request.client_address[0]
    headers: dict[str, str] = {}
    for key, value in request.headers.items():
        name = key.lower()
        headers[name] = f"{headers[name]},{value}" if name in headers else value
    # API Gateway appends the address it saw to X-Forwarded-For.
    forwarded = headers.get("x-forwarded-for")
    headers["x-forwarded-for"] = f"{forwarded}, {source_ip}" if forwarded else source_ip
    cookies = [c.strip() for c in headers.pop("cookie", "").split(";") if c.strip()]
    query: dict[str, str] = {}
    for key, value in urllib.parse.parse_qsl(parsed.query, keep_blank_values=True):
        query[key] = f"{query[key]},{value}" if key in query else value
    try:
        text, is_base64 = body.decode("utf-8"), False
    except UnicodeDecodeError:
        text, is_base64 = base64.b64encode(body).decode(), True
    now = time.time()
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": f"{route.method} {route.path}",
        "rawPath": parsed.path,
        "rawQueryString": parsed.query,
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": headers.get("host", "127.0.0.1"),
            "domainPrefix": "local",
            "http": {
                "method": request.command,
                "path": parsed.path,
                "protocol": request.request_version,
                "sourceIp": source_ip,
                "userAgent": headers.get("user-agent", ""),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": f"{route.method} {route.path}",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": is_base64,
    }
    if cookies:
        event["cookies"] = cookies
    if query:
        event["queryStringParameters"] = query
    if params:
        event["pathParameters"] = {k: urllib.parse.unquote(v) for k, v in params.items()}
    if body:
        event["body"] = text
    return event


def authorizer_event(event: dict[str, Any]) -> dict[str, Any]:
    """The REQUEST authorizer (payload 2.0) event API Gateway sends for a request event."""
    context = event["requestContext"]
    return {
        "version": "2.0",
        "type": "REQUEST",
        "routeArn": f"arn:aws:execute-api:us-east-1:123456789012:local/$default/"
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
    """The REQUEST authorizer (REST API, v1) event API Gateway sends for a request."""
    context = event["requestContext"]
    method = context["http"]["method"]
    return {
        "type": "REQUEST",
        "methodArn": f"arn:aws:execute-api:us-east-1:123456789012:local/local/"
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
            "accountId": "123456789012",
            "resourcePath": route.path,
            "httpMethod": method,
            "stage": "local",
            "requestId": context["requestId"],
            "apiId": "local",
            "identity": {"sourceIp": context["http"]["sourceIp"]},
        },
    }


def render(template: str, answer: dict[str, Any]) -> bytes:
    """A gateway response template with ``$context.authorizer.<key>`` filled in."""
    context = answer.get("context") or {}
    return re.sub(
        r"\$context\.authorizer\.(\w+)", lambda m: str(context.get(m.group(1), "")), template
    ).encode()


def lambda_response(answer: Any) -> tuple[int, dict[str, str], bytes]:
    """How API Gateway turns a payload 2.0 Lambda result into an HTTP response."""
    if isinstance(answer, dict) and "statusCode" in answer:
        body = answer.get("body") or ""
        raw = base64.b64decode(body) if answer.get("isBase64Encoded") else str(body).encode()
        headers = {str(k): str(v) for k, v in (answer.get("headers") or {}).items()}
        for name, values in (answer.get("multiValueHeaders") or {}).items():
            headers[name] = ",".join(values)
        return int(answer["statusCode"]), headers, raw
    return 200, {"Content-Type": "application/json"}, json.dumps(answer).encode()


def forward(
    route: Route, event: dict[str, Any], body: bytes, headers: Any
) -> tuple[int, dict[str, str], bytes]:
    """An HTTP_PROXY integration: forward to the configured upstream."""
    assert route.upstream is not None
    target = route.upstream.replace("{proxy}", event["pathParameters"].get("proxy", ""))
    if event["rawQueryString"]:
        target += "?" + event["rawQueryString"]
    context = event["requestContext"].get("authorizer", {}).get("lambda", {})
    request = urllib.request.Request(  # noqa: S310 - the operator configured this URL
        target,
        data=body or None,
        method=event["requestContext"]["http"]["method"],
        headers={k: v for k, v in headers.items() if k.lower() not in ("host", "content-length")}
        | {
            "x-regiongate-decision-id": str(context.get("decision_id", "")),
            "x-regiongate-country": str(context.get("country", "")),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return response.status, dict(response.headers.items()), response.read()
    except OSError as exc:
        message = json.dumps({"message": f"upstream unreachable: {exc}"}).encode()
        return 502, {"Content-Type": "application/json"}, message


def _decisions(count: int) -> str:
    return f"{count} decision" if count == 1 else f"{count} decisions"


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def run(
    template_path: Path,
    data_dir: Path,
    host: str,
    port: int,
    parameters: dict[str, str],
    extra_env: dict[str, str],
    announce: Callable[[str], None] = print,
) -> int:
    service = LocalService(
        template_path, data_dir, host=host, port=port, parameters=parameters, extra_env=extra_env
    )
    service.start()
    # SIGTERM stops as cleanly as Ctrl-C: nothing acknowledged is left in the queues.
    signal.signal(signal.SIGTERM, _interrupt)
    engine = get_engine()
    db = engine.geolocator.databases[0].info
    announce(f"regiongate serving {service.url}  (Ctrl-C stops)")
    announce(f"  policy {engine.policies.version}, {len(engine.policies.providers)} providers")
    announce(f"  geo    {Path(db.path).name} ({db.database_type}, built {db.build_date})")
    announce(f"  data   {data_dir} ({_decisions(service.stats.stored)} on record)")
    announce(f"  page   {service.url}/")
    body = '-d \'{"provider": "openai"}\''
    if int(os.environ.get("REGIONGATE_TRUSTED_PROXY_HOPS") or 0):
        announce(f"  try    curl -s {service.url}/v1/classify -H 'x-forwarded-for: 1.2.4.8' {body}")
    else:
        announce(
            f"  try    curl -s {service.url}/v1/classify {body}   (judges your own address;"
            " --trusted-proxy-hops 1 lets x-forwarded-for name another)"
        )
    try:
        service.serve_forever()
    except KeyboardInterrupt:
        announce("stopping: draining the audit queues ...")
    finally:
        service.stop()
        announce(f"stopped; {_decisions(service.stats.stored)} on record in {data_dir}")
    return 0
