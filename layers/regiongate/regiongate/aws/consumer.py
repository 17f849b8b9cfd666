"""The audit consumer: one SQS message in, one stored decision out (exactly once).

Messages carry ``DecisionRecorded`` events as EventBridge delivers them (or as the publisher's
fallback writes them, in the same envelope). A message that is not such an event is poison:
it raises, the batch reports it failed, and SQS moves it to the dead-letter queue after its
retries, while the rest of the batch lands.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from regiongate.aws.publisher import Publisher
from regiongate.aws.recorder import publisher_for
from regiongate.aws.store import AuditStore, StoreResult
from regiongate.caches import process_cache
from regiongate.events import EventShapeError, account_flagged, record_from_eventbridge
from regiongate.settings import Settings, settings
from regiongate.vocabulary import REFUSALS


@dataclass
class AuditConsumer:
    store: AuditStore
    publisher: Publisher
    flag_threshold: int
    flag_window_seconds: int

    def handle_message(self, body: str) -> StoreResult:
        try:
            envelope = json.loads(body)
        except json.JSONDecodeError as exc:
            raise EventShapeError(f"message body is not JSON: {exc}") from None
        record = record_from_eventbridge(envelope)
        result = self.store.put(record)
        account = (record.get("account") or {}).get("id")
        if result.stored and account and record["outcome"] in REFUSALS:
            denials = self.store.count_denial(account, record["provider"], self.flag_window_seconds)
            if denials == self.flag_threshold:  # exactly once per window
                self.publisher.publish(
                    [
                        account_flagged(
                            account,
                            record["provider"],
                            denials,
                            self.flag_window_seconds,
                            record["decided_at"],
                            record["decision_id"],
                        )
                    ]
                )
        return result


def consumer_for(config: Settings) -> AuditConsumer:
    return AuditConsumer(
        AuditStore(config.audit_table, retention_days=config.retention_days),
        publisher_for(config),
        config.flag_threshold,
        config.flag_window_seconds,
    )


@process_cache
def consumer() -> AuditConsumer:
    return consumer_for(settings())
