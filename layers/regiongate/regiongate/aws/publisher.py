"""Put events on the bus so that no decision is answered without its record accepted.

``put_events`` is retried with exponential backoff and jitter on throttling and on entries the
bus reports as failed with a retryable code (``FailedEntryCount``). Whatever the bus still
refuses goes to a fallback SQS queue, in the envelope EventBridge itself delivers, so the audit
consumer reads both queues alike. If the fallback refuses too, ``PublishError`` (HTTP 503)
stops the request: the caller gets no decision that was not recorded somewhere durable.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from regiongate.aws.clients import client
from regiongate.errors import RegiongateError
from regiongate.events import Event

MAX_ENTRIES_PER_CALL = 10
RETRYABLE_CODES = frozenset(
    {
        "ThrottlingException",
        "InternalFailure",
        "InternalException",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
    }
)


class PublishError(RegiongateError):
    """Neither the bus nor the fallback queue accepted a record."""

    code = "audit_unavailable"
    http_status = 503

    def __init__(self, reason: str) -> None:
        super().__init__(
            "the decision could not be recorded; no decision is returned without its audit record",
            reason=reason,
        )


@dataclass
class PublishReport:
    to_bus: int = 0
    to_fallback: int = 0
    retries: int = 0
    errors: list[str] = field(default_factory=list)


def eventbridge_envelope(event: Event, bus_name: str) -> dict[str, Any]:
    """The JSON EventBridge delivers to an SQS target, for records sent to the fallback."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": event.detail_type,
        "source": event.source,
        "time": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": "",
        "resources": [],
        "detail": event.detail,
        "regiongate-fallback": {"bus": bus_name},
    }


class Publisher:
    """Publishes events for one bus, with a fallback queue."""

    def __init__(
        self,
        bus_name: str,
        fallback_queue_url: str,
        *,
        max_attempts: int = 4,
        base_delay: float = 0.02,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.bus_name = bus_name
        self.fallback_queue_url = fallback_queue_url
        self.max_attempts = max_attempts
        self.base_delay = base_delay
        self.sleep = sleep

    def publish(self, events: list[Event]) -> PublishReport:
        """Publish all events; raises PublishError if any is accepted by neither destination."""
        report = PublishReport()
        leftovers: list[Event] = []
        for start in range(0, len(events), MAX_ENTRIES_PER_CALL):
            leftovers += self._to_bus(events[start : start + MAX_ENTRIES_PER_CALL], report)
        if leftovers:
            self._to_fallback(leftovers, report)
        return report

    def _backoff(self, attempt: int) -> None:
        # Full jitter: random delay up to base * 2^attempt.
        self.sleep(random.uniform(0, self.base_delay * (2**attempt)))  # noqa: S311

    def _to_bus(self, batch: list[Event], report: PublishReport) -> list[Event]:
        pending = batch
        for attempt in range(self.max_attempts):
            if attempt:
                report.retries += 1
                self._backoff(attempt)
            try:
                response = client("events").put_events(
                    Entries=[e.entry(self.bus_name) for e in pending]
                )
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code", "ClientError")
                report.errors.append(code)
                if code in RETRYABLE_CODES:
                    continue
                return pending  # e.g. the bus does not exist: retrying will not help
            except BotoCoreError as exc:  # connection trouble: worth another try
                report.errors.append(type(exc).__name__)
                continue
            entries = response.get("Entries")
            if not isinstance(entries, list) or len(entries) != len(pending):
                # Not an answer PutEvents gives (e.g. a body cut short): nothing is known to
                # be accepted, so try again rather than count it done.
                report.errors.append("IncompleteResponse")
                continue
            if not response.get("FailedEntryCount"):
                report.to_bus += len(pending)
                return []
            retry: list[Event] = []
            give_up: list[Event] = []
            for event, result in zip(pending, response["Entries"], strict=True):
                if "EventId" in result and not result.get("ErrorCode"):
                    report.to_bus += 1
                    continue
                report.errors.append(result.get("ErrorCode", "Unknown"))
                (retry if result.get("ErrorCode") in RETRYABLE_CODES else give_up).append(event)
            if give_up:
                # Malformed or refused entries cannot succeed on the bus; keep them anyway.
                self._to_fallback(give_up, report)
            if not retry:
                return []
            pending = retry
        return pending

    def _to_fallback(self, events: list[Event], report: PublishReport) -> None:
        if not self.fallback_queue_url:
            raise PublishError("the event bus refused the record and no fallback queue is set")
        for start in range(0, len(events), 10):
            chunk = events[start : start + 10]
            entries = [
                {
                    "Id": str(i),
                    "MessageBody": json.dumps(
                        eventbridge_envelope(e, self.bus_name), separators=(",", ":")
                    ),
                }
                for i, e in enumerate(chunk)
            ]
            try:
                response = client("sqs").send_message_batch(
                    QueueUrl=self.fallback_queue_url, Entries=entries
                )
            except (ClientError, BotoCoreError) as exc:
                raise PublishError(f"fallback queue refused the record: {exc}") from exc
            if response.get("Failed"):
                raise PublishError(f"fallback queue refused {len(response['Failed'])} record(s)")
            report.to_fallback += len(chunk)
