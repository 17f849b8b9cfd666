"""The local write-ahead file: every decision record the bus (or the fallback queue) accepted,
appended and flushed before the handler that published it returns — so before its answer.

Locally the bus, queues and table live in the emulator's memory. If the server or the
emulator is killed, records still in flight there are gone; this file is how they come back:
on start, after the journal is restored, every record in it that the table lacks is stored
through the audit consumer (which stores a decision once), and what is stored leaves the file.

It listens on botocore's events of the process's AWS clients (``clients.register``), so the
functions' code is the code Lambda runs: ``after-call`` of ``PutEvents`` and
``SendMessageBatch`` keeps the entries the service reported accepted.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from regiongate.aws import clients
from regiongate.aws.consumer import AuditConsumer
from regiongate.aws.journal import Journal
from regiongate.aws.keys import POINTER_SK, pointer_pk
from regiongate.aws.publisher import eventbridge_envelope
from regiongate.events import DECISION_RECORDED, DECISIONS_SOURCE, decision_recorded

_UNIQUE = "regiongate-write-ahead"
_OPERATIONS = ("eventbridge.PutEvents", "sqs.SendMessageBatch", "sqs.SendMessage")


class WriteAhead:
    """See the module docstring."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._handle: Any = None

    # --- capture -------------------------------------------------------------------------

    def install(self) -> None:
        """Listen to every client created from now on (existing ones are forgotten)."""
        self._handle = self.path.open("a", encoding="utf-8")
        for operation in _OPERATIONS:
            clients.register(
                f"before-parameter-build.{operation}",
                _keep_params,
                unique_id=f"{_UNIQUE}-params-{operation}",
            )
            clients.register(
                f"after-call.{operation}", self._accepted, unique_id=f"{_UNIQUE}-{operation}"
            )

    def uninstall(self) -> None:
        for operation in _OPERATIONS:
            clients.unregister(f"{_UNIQUE}-params-{operation}")
            clients.unregister(f"{_UNIQUE}-{operation}")
        with self._lock:
            if self._handle is not None:
                self._handle.close()
                self._handle = None  # a late append (a request still in flight) reopens

    def _accepted(self, **kw: Any) -> None:
        if getattr(kw["http_response"], "status_code", 500) >= 300:
            return
        params = kw["context"].get(_UNIQUE) or {}
        records = list(_accepted_records(kw["model"].name, params, kw["parsed"]))
        if records:
            self.append(records)

    def append(self, records: list[dict[str, Any]]) -> None:
        """Append and flush (to the kernel: survives a kill of this process). An error here
        propagates into the publishing call, so the request fails rather than answer 200."""
        text = "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in records)
        with self._lock:
            if self._handle is None:
                self._handle = self.path.open("a", encoding="utf-8")
            self._handle.write(text)
            self._handle.flush()

    # --- replay --------------------------------------------------------------------------

    def records(self) -> list[dict[str, Any]]:
        """What the file holds (a line torn by a kill was never acknowledged: skipped)."""
        found: list[dict[str, Any]] = []
        if not self.path.exists():
            return found
        with self.path.open(encoding="utf-8") as handle:
            for line in handle:
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if isinstance(record, dict) and record.get("decision_id"):
                    found.append(record)
        return found

    def forget(self, done: Callable[[dict[str, Any]], bool]) -> None:
        """Drop the records ``done`` says are stored; keep the rest, and anything appended
        meanwhile (appends wait). The file is replaced whole, so a kill at any instant leaves
        either the old file or the new one."""
        with self._lock:
            kept = [r for r in self.records() if not done(r)]
            temporary = self.path.with_name(self.path.name + ".tmp")
            with temporary.open("w", encoding="utf-8") as handle:
                handle.writelines(json.dumps(r, separators=(",", ":")) + "\n" for r in kept)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, self.path)
            if self._handle is not None:
                self._handle.close()
                self._handle = self.path.open("a", encoding="utf-8")


def replay(write_ahead: WriteAhead, journal: Journal, audit: AuditConsumer) -> int:
    """Store every record of the write-ahead file that the journal lacks, through the audit
    consumer (journalled), then drop what is stored from the file; returns how many were stored. Run
    where no other writer stores: at start, and at stop after the drain (requests still in
    flight may append meanwhile: what they append is kept for the next start)."""
    if audit.store.journal is not journal:
        raise ValueError("replay stores through a store journalled to the same journal")
    stored = {pk for pk, sk in journal.items() if sk == POINTER_SK}
    count = 0
    for record in write_ahead.records():
        pointer = pointer_pk(record["decision_id"])
        if pointer in stored:
            continue
        envelope = eventbridge_envelope(decision_recorded(record), "write-ahead")
        if audit.handle_message(json.dumps(envelope)).stored:
            count += 1
        stored.add(pointer)
    write_ahead.forget(lambda r: pointer_pk(r["decision_id"]) in stored)
    return count


def _keep_params(**kw: Any) -> None:
    kw["context"][_UNIQUE] = kw["params"]


def _accepted_records(
    operation: str, params: dict[str, Any], parsed: dict[str, Any]
) -> Iterator[dict[str, Any]]:
    if operation == "PutEvents":
        results = parsed.get("Entries", [])
        for entry, result in zip(params.get("Entries", []), results, strict=False):
            if result.get("EventId") and not result.get("ErrorCode"):
                yield from _decision(entry.get("Source"), entry.get("DetailType"), entry["Detail"])
    elif operation == "SendMessageBatch":
        ok = {str(s.get("Id")) for s in parsed.get("Successful", [])}
        for entry in params.get("Entries", []):
            if str(entry.get("Id")) in ok:
                yield from _envelope(entry.get("MessageBody", ""))
    elif operation == "SendMessage" and parsed.get("MessageId"):
        yield from _envelope(params.get("MessageBody", ""))


def _envelope(body: str) -> Iterator[dict[str, Any]]:
    try:
        envelope = json.loads(body)
    except ValueError:
        return
    if isinstance(envelope, dict):
        yield from _decision(
            envelope.get("source"), envelope.get("detail-type"), envelope.get("detail")
        )


def _decision(source: Any, detail_type: Any, detail: Any) -> Iterator[dict[str, Any]]:
    if source != DECISIONS_SOURCE or detail_type != DECISION_RECORDED:
        return
    if isinstance(detail, str):
        try:
            detail = json.loads(detail)
        except ValueError:
            return
    record = detail.get("record") if isinstance(detail, dict) else None
    if isinstance(record, dict) and record.get("decision_id"):
        yield record
