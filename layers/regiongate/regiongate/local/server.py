"""``regiongate serve``: the service as deployed, on one machine, without Docker or AWS.

- Routes, authorizers and function environments come from template.yaml.
- Real HTTP requests (``local/httpd.py``) become API Gateway events (``local/events.py``)
  handed to the same handlers Lambda runs; the gate's provider routes are judged by the
  authorizer and streamed to that provider's upstream (``local/proxy.py``). This module
  wires them together.
- AWS is moto's server on loopback; the bus, rules, queues and table are created from the
  template. A poller delivers the audit queues to the audit handler in batches, as Lambda's
  event source mapping would.
- Every item the audit store writes is journalled under the data directory, and every
  record the bus accepted is in a write-ahead file before its answer; both are replayed on
  start, so what was answered survives a restart, even after ``kill -9`` of the server or of
  the emulator. Ctrl-C (or SIGTERM) drains the queues before stopping. The emulator's
  lifecycle is ``emulator.py``; the journal is ``regiongate.aws.journal``.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import queue
import signal
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError

from regiongate.api.authorizer import is_allowed
from regiongate.aws.clients import client
from regiongate.aws.consumer import consumer
from regiongate.aws.journal import Journal
from regiongate.aws.keys import ip_hash_key
from regiongate.caches import reset_process_caches
from regiongate.engine import get_engine
from regiongate.local.emulator import Emulator
from regiongate.local.events import (
    HttpRequest,
    http_api_event,
    http_authorizer_event,
    lambda_response,
    match,
    methods_for,
    render,
    rest_authorizer_event,
    sqs_event,
)
from regiongate.local.httpd import JSON, Answer, Server, error_answer, handler_class
from regiongate.local.provision import provision
from regiongate.local.proxy import GateError, Streamed, forward, safe_proxy_path
from regiongate.local.runtime import LambdaContext, handler, local_overrides
from regiongate.local.template import Route, Template
from regiongate.local.wal import WriteAhead, replay
from regiongate.settings import settings
from regiongate.vocabulary import REFUSALS

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
CONCURRENCY = 8  # execution environments per function
POLLERS_PER_QUEUE = 2  # concurrent batches per audit queue, as Lambda would scale out
MAX_REQUEST_BYTES = 10 * 1024 * 1024  # API Gateway HTTP API's own payload limit
IDLE_TIMEOUT = 60.0  # seconds a keep-alive connection may sit idle
UPSTREAM_TIMEOUT = 29.0  # API Gateway's default integration timeout
PORT_IN_USE = 2  # the CLI's exit code for unusable arguments
AUDIT_QUEUES = ("AuditQueue", "FallbackQueue")
DRAIN_ATTEMPTS = 10  # consecutive emulator errors before a drain gives up

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
            if record.get("outcome") in REFUSALS:
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
        upstream_timeout: float = UPSTREAM_TIMEOUT,
    ) -> None:
        self.template_path, self.data_dir = template_path, data_dir
        self.host, self.port = host, port
        self.parameters = parameters or {}
        self.extra_env = extra_env or {}
        self.stats = Stats()
        self.journal = Journal(data_dir / "audit-journal.jsonl", on_stored=self.stats.add)
        self.write_ahead = WriteAhead(data_dir / "write-ahead.jsonl")
        self.emulator = Emulator()
        self.emulator_died = False  # the emulator ended without being asked: stop serving
        self.replayed = 0  # decisions stored at start from the write-ahead file
        self._stop = threading.Event()
        self._pools: dict[str, queue.Queue[int]] = {}
        self.httpd: Server | None = None
        self.upstream_timeout = upstream_timeout
        self._pollers: list[threading.Thread] = []
        self.template: Template

    # --- start-up ----------------------------------------------------------------------

    def start(self) -> None:
        """Bind, start the emulator, provision, restore what is on record, start polling.

        The port is bound first (a busy port fails before any child exists); whatever fails
        later stops the emulator again, so no emulator outlives a failed start."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self.httpd = Server(
            (self.host, self.port),
            handler_class(self.dispatch, max_body=MAX_REQUEST_BYTES, idle_timeout=IDLE_TIMEOUT),
        )
        self.port = self.httpd.server_address[1]
        try:
            self._start_behind_the_port()
        except BaseException:
            self.write_ahead.uninstall()
            self.emulator.stop()
            self.httpd.server_close()
            raise

    def _start_behind_the_port(self) -> None:
        endpoint = self.emulator.start()
        os.environ.update(
            {
                "AWS_ENDPOINT_URL": endpoint,
                "AWS_ACCESS_KEY_ID": "local",
                "AWS_SECRET_ACCESS_KEY": "local",
                "AWS_DEFAULT_REGION": "us-east-1",
            }
        )
        reset_process_caches()
        self.write_ahead.install()  # before any client exists: clients copy the session's hooks
        self.template = Template.load(self.template_path, self.parameters)
        provision(self.template)
        self._apply_environment()
        settings_now = settings()
        ip_hash_key(settings_now.ip_hash_key_parameter, settings_now.ip_hash_key_file)
        (self.data_dir / "endpoint").write_text(
            json.dumps({"endpoint": endpoint, "table": self.template.names["AuditTable"]})
        )
        self.journal.on_stored = None  # restored records are counted below, once
        restored = self.journal.restore(self.template.names["AuditTable"])
        for record in sorted(restored, key=lambda r: str(r.get("decided_at"))):
            self.stats.add(record)
        self.journal.on_stored = self.stats.add
        consumer().store.journal = self.journal
        self.replayed = self.replay_write_ahead()
        self.routes = self.template.routes()
        self._pollers = [
            threading.Thread(
                target=self._poll, args=(queue_id,), name=f"poller-{queue_id}", daemon=True
            )
            for queue_id in AUDIT_QUEUES
            for _ in range(POLLERS_PER_QUEUE)
        ]
        self._pollers.append(
            threading.Thread(target=self._collect_reviews, name="reviews", daemon=True)
        )
        self._pollers.append(
            threading.Thread(target=self._watch_emulator, name="emulator-watch", daemon=True)
        )
        for poller in self._pollers:
            poller.start()

    def replay_write_ahead(self) -> int:
        """Store what the write-ahead file holds and the journal lacks (see wal.replay)."""
        return replay(self.write_ahead, self.journal, consumer())

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
                if not self.emulator.alive():
                    return  # the watcher stops the server
                log.exception("audit poller error")
                time.sleep(1)

    def _watch_emulator(self) -> None:
        """If the emulator dies under us, stop serving: without it nothing can be recorded
        (what was answered is in the write-ahead file, replayed by the next start)."""
        process = self.emulator.process
        assert process is not None
        while not self._stop.is_set():
            if process.poll() is not None:
                self.emulator_died = True
                log.error("the AWS emulator exited (status %s); stopping", process.returncode)
                if self.httpd is not None:
                    self.httpd.shutdown()
                return
            time.sleep(0.2)

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
                if self._stop.is_set() or not self.emulator.alive():
                    return
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
            event = sqs_event(messages, self.template.arn(queue_id))
            result = self.invoke("AuditFunction", event) or {}
            failed = {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}
            done = [m for m in messages if m["MessageId"] not in failed]
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

    def drain(self) -> int:
        """Deliver everything still queued (at shutdown) until the audit queues are empty.

        Messages that keep failing end in the dead-letter queue after their retries (the
        queues' redrive policy), so this ends."""
        total, failures = 0, 0
        while True:
            try:
                delivered = self.deliver_once(wait_seconds=0)
                if not delivered and not self._queued():
                    return total
            except BotoCoreError:  # a slow emulator: try again, a few times
                failures += 1
                if failures >= DRAIN_ATTEMPTS:
                    raise
                time.sleep(0.5)
                continue
            total += delivered

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
        """Stop taking requests, drain the audit queues, then stop the emulator. If the
        emulator is gone, there is nothing to drain: the write-ahead file keeps what was
        answered for the next start."""
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
        self._stop.set()
        try:
            for poller in self._pollers:
                poller.join(timeout=5)
            if self.emulator.alive() and not self.emulator_died:
                self.drain()
                self.replay_write_ahead()
        except BotoCoreError as exc:
            # Nothing is lost: the write-ahead file keeps it for the next start.
            log.error("could not drain the audit queues (%s); the next start replays them", exc)
        finally:
            self.write_ahead.uninstall()
            self.emulator.stop()

    # --- HTTP ----------------------------------------------------------------------------

    def dispatch(self, request: HttpRequest) -> Answer | Streamed:
        """Route a request: the page, a function (as API Gateway invokes it), or the gate."""
        path = request.raw_path
        if request.method in ("GET", "HEAD") and path in ("/", "/index.html"):
            page = (WEB_DIR / "index.html").read_bytes()
            return Answer(200, [("Content-Type", "text/html; charset=utf-8")], page)
        if request.method in ("GET", "HEAD") and path == "/_local/stats":
            return Answer(200, list(JSON), json.dumps(self.stats.to_dict()).encode())
        matched = match(self.routes, request.method, path)
        if matched is None and request.method == "HEAD":
            # HEAD is GET without the body (the writer drops it).
            request = replace(request, method="GET")
            matched = match(self.routes, "GET", path)
        if matched is None:
            return self._unrouted(request)
        route, params = matched
        if route.function:
            event = http_api_event(request, route, params)
            return Answer(*lambda_response(self.invoke(route.function, event)))
        return self._gate(route, request, params)

    def _unrouted(self, request: HttpRequest) -> Answer:
        allowed = methods_for(self.routes, request.raw_path)
        if not allowed:
            return error_answer(
                404, "route_not_found", f"no route {request.method} {request.raw_path}"
            )
        allow = ("Allow", ", ".join([*allowed, "OPTIONS"]))
        if request.method == "OPTIONS":
            return Answer(204, [allow], b"")
        answer = error_answer(
            405, "method_not_allowed", f"{request.raw_path} answers {', '.join(allowed)}"
        )
        answer.headers.append(allow)
        return answer

    def _gate(
        self, route: Route, request: HttpRequest, params: dict[str, str]
    ) -> Answer | Streamed:
        """A provider route: judge the caller, then refuse or stream the provider's answer."""
        assert route.upstream is not None
        try:
            proxy_path = safe_proxy_path(params.get("proxy", ""), request.query)
        except GateError as exc:
            return error_answer(exc.status, exc.code, exc.message)
        decision: dict[str, Any] = {}
        rest = route.api == "REST"
        if route.authorizer:
            event = http_api_event(request, route, params)
            try:
                answer = self.invoke(
                    route.authorizer,
                    rest_authorizer_event(event, route) if rest else http_authorizer_event(event),
                )
            except Exception:  # as API Gateway: the authorizer failed, nothing is forwarded
                log.exception("authorizer failed")
                return self._gateway_answer(rest, "AUTHORIZER_FAILURE", {}, 500)
            decision = answer.get("context") or {}
            if not is_allowed(answer):
                return self._gateway_answer(rest, "ACCESS_DENIED", decision, 403)
        try:
            return forward(
                route.upstream,
                proxy_path,
                request.query,
                request.method,
                request.headers,
                request.body,
                decision,
                self.upstream_timeout,
            )
        except GateError as exc:
            kind = "INTEGRATION_TIMEOUT" if exc.status == 504 else "INTEGRATION_FAILURE"
            if rest and kind in self.template.gateway_responses():
                return self._gateway_answer(rest, kind, decision, exc.status)
            return error_answer(exc.status, exc.code, exc.message)

    def _gateway_answer(
        self, rest: bool, kind: str, context: dict[str, Any], status: int
    ) -> Answer:
        """What API Gateway answers itself: the REST gate's gateway response of that type
        (rendered with the authorizer's context), or an HTTP API's fixed message."""
        if rest:
            status, template = self.template.gateway_responses()[kind]
            return Answer(status, list(JSON), render(template, context))
        message = "Forbidden" if status == 403 else "Internal Server Error"
        return Answer(status, list(JSON), json.dumps({"message": message}).encode())


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
    upstream_timeout: float = UPSTREAM_TIMEOUT,
) -> int:
    service = LocalService(
        template_path,
        data_dir,
        host=host,
        port=port,
        parameters=parameters,
        extra_env=extra_env,
        upstream_timeout=upstream_timeout,
    )
    # Ctrl-C and SIGTERM stop cleanly (nothing acknowledged is left in the queues), whatever
    # disposition this process inherited (a shell's background job ignores SIGINT).
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        service.start()  # a busy port fails before the emulator starts
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
        sys.stderr.write(f"regiongate serve: {host}:{port} is in use; choose another --port\n")
        return PORT_IN_USE
    engine = get_engine()
    db = engine.geolocator.databases[0].info
    announce(f"regiongate serving {service.url}  (Ctrl-C stops)")
    announce(f"  policy {engine.policies.version}, {len(engine.policies.providers)} providers")
    announce(f"  geo    {Path(db.path).name} ({db.database_type}, built {db.build_date})")
    replayed = f", {service.replayed} from the write-ahead file" if service.replayed else ""
    announce(f"  data   {data_dir} ({_decisions(service.stats.stored)} on record{replayed})")
    announce(f"  page   {service.url}/")
    body = '-d \'{"provider": "openai"}\''
    if settings().proxy_trust.trusted_hops:
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
    if service.emulator_died:
        announce(
            "regiongate: error: the AWS emulator exited; start again: "
            "answered decisions are replayed from the write-ahead file"
        )
        return 1
    return 0
