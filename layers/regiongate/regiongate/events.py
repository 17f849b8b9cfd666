"""Every event regiongate emits, in one place: names, sources, schema versions, shapes.

Naming rule: detail-types are ``<Thing><PastTense>`` (``DecisionRecorded``,
``AccountFlagged``); sources are ``regiongate.<component>``. Each detail carries
``schema_version`` so consumers can evolve independently.

| detail-type        | source                | detail                                              |
|--------------------|-----------------------|-----------------------------------------------------|
| DecisionRecorded   | regiongate.decisions  | {schema_version, record}: the audit record          |
| AccountFlagged     | regiongate.audit      | {schema_version, account_id, provider, denials,     |
|                    |                       |  window_seconds, first_decided_at, last_decision_id}|
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

SCHEMA_VERSION = 1

DECISION_RECORDED = "DecisionRecorded"
ACCOUNT_FLAGGED = "AccountFlagged"
DECISIONS_SOURCE = "regiongate.decisions"
AUDIT_SOURCE = "regiongate.audit"

# The events each source may emit: producers' IAM policies are scoped to these sources.
SOURCES: dict[str, tuple[str, ...]] = {
    DECISIONS_SOURCE: (DECISION_RECORDED,),
    AUDIT_SOURCE: (ACCOUNT_FLAGGED,),
}


class EventShapeError(ValueError):
    """An incoming event is not the shape this module defines (a poison message)."""


@dataclass(frozen=True, slots=True)
class Event:
    source: str
    detail_type: str
    detail: dict[str, Any]

    def entry(self, bus_name: str) -> dict[str, str]:
        """The ``put_events`` entry for this event."""
        return {
            "Source": self.source,
            "DetailType": self.detail_type,
            "Detail": json.dumps(self.detail, separators=(",", ":"), ensure_ascii=False),
            "EventBusName": bus_name,
        }


def decision_recorded(record: dict[str, Any]) -> Event:
    return Event(
        DECISIONS_SOURCE, DECISION_RECORDED, {"schema_version": SCHEMA_VERSION, "record": record}
    )


def account_flagged(
    account_id: str,
    provider: str,
    denials: int,
    window_seconds: int,
    first_decided_at: str,
    last_decision_id: str,
) -> Event:
    return Event(
        AUDIT_SOURCE,
        ACCOUNT_FLAGGED,
        {
            "schema_version": SCHEMA_VERSION,
            "account_id": account_id,
            "provider": provider,
            "denials": denials,
            "window_seconds": window_seconds,
            "first_decided_at": first_decided_at,
            "last_decision_id": last_decision_id,
        },
    )


_RECORD_KEYS = ("decision_id", "decided_at", "provider", "outcome", "policy_version")


def record_from_eventbridge(envelope: Any) -> dict[str, Any]:
    """The audit record inside a ``DecisionRecorded`` EventBridge event (as SQS delivers it
    in the message body). Raises EventShapeError naming what is wrong."""
    if not isinstance(envelope, dict):
        raise EventShapeError("event is not a JSON object")
    if envelope.get("detail-type") != DECISION_RECORDED or envelope.get("source") != (
        DECISIONS_SOURCE
    ):
        raise EventShapeError(
            f"unexpected event {envelope.get('source')!r}/{envelope.get('detail-type')!r}"
        )
    detail = envelope.get("detail")
    if not isinstance(detail, dict) or detail.get("schema_version") != SCHEMA_VERSION:
        raise EventShapeError("detail missing or schema_version unsupported")
    record = detail.get("record")
    if not isinstance(record, dict):
        raise EventShapeError("detail.record missing")
    missing = [k for k in _RECORD_KEYS if not isinstance(record.get(k), str)]
    if missing:
        raise EventShapeError(f"record lacks {', '.join(missing)}")
    return record
