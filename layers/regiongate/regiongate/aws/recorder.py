"""Decide and record: the one path ``classify`` and ``authorize`` share.

A decision is returned only after its audit record was accepted by the bus or the fallback
queue; otherwise PublishError (503) propagates and the caller is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from regiongate.audit import audit_record
from regiongate.aws.keys import ip_hash_key
from regiongate.aws.publisher import Publisher
from regiongate.client_ip import ClientAddress
from regiongate.decision import Decision
from regiongate.engine import Engine, get_engine
from regiongate.events import decision_recorded
from regiongate.request import Request
from regiongate.settings import Settings, settings


@dataclass
class Recorder:
    engine: Engine
    publisher: Publisher
    key: bytes
    keep_full_ip: bool

    def decide(self, request: Request, client: ClientAddress) -> Decision:
        """Decide ``request`` (whose ``ip`` is ``client.ip``) and publish its record."""
        decision = self.engine.decide(request)
        record = audit_record(decision, self.key, keep_full_ip=self.keep_full_ip)
        record["client_ip_method"] = client.method
        self.publisher.publish([decision_recorded(record)])
        return decision


def publisher_for(config: Settings) -> Publisher:
    return Publisher(
        config.event_bus, config.fallback_queue_url, max_attempts=config.publish_attempts
    )


@cache
def recorder() -> Recorder:
    """The process's recorder, built from settings on first use."""
    config = settings()
    return Recorder(
        engine=get_engine(),  # databases and policies: REGIONGATE_GEO_DATABASES, _POLICY_DIR
        publisher=publisher_for(config),
        key=ip_hash_key(config.ip_hash_key_parameter, config.ip_hash_key_file),
        keep_full_ip=config.keep_full_ip,
    )
