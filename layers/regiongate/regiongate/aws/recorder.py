"""Decide and record: the one path ``classify`` and ``authorize`` share.

A decision is returned only after its audit record was accepted by the bus or the fallback
queue; otherwise PublishError (503) propagates and the caller is refused.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from regiongate.audit import audit_record
from regiongate.aws.keys import ip_hash_key
from regiongate.aws.publisher import Publisher
from regiongate.caches import process_cache
from regiongate.client_ip import ClientAddress
from regiongate.decision import Decision
from regiongate.engine import Engine, get_engine, unavailable_engine
from regiongate.errors import GeoDatabaseError
from regiongate.events import decision_recorded
from regiongate.request import Request
from regiongate.settings import Settings, settings

logger = logging.getLogger(__name__)


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


def _recorder(engine: Engine) -> Recorder:
    config = settings()
    return Recorder(
        engine=engine,
        publisher=publisher_for(config),
        key=ip_hash_key(config.ip_hash_key_parameter, config.ip_hash_key_file),
        keep_full_ip=config.keep_full_ip,
    )


@process_cache
def recorder() -> Recorder:
    """The process's recorder, built from settings on first use."""
    return _recorder(get_engine())  # REGIONGATE_GEO_DATABASES, REGIONGATE_POLICY_DIR


@process_cache
def unavailable_recorder() -> Recorder:
    """The recorder used while no geo data can be read: every address is UNAVAILABLE."""
    return _recorder(unavailable_engine())


def decide_and_record(request: Request, client: ClientAddress) -> tuple[Recorder, Decision]:
    """The authorizer's path. When the geo databases cannot be opened or read, the caller is
    still decided and recorded — ``review`` with GEO_DATA_UNAVAILABLE, which the authorizer
    refuses — instead of an error with no record (fail closed, on the record)."""
    try:
        rec = recorder()
        return rec, rec.decide(request, client)
    except GeoDatabaseError as exc:
        logger.error("geo data unavailable", extra={"code": exc.code, "details": exc.details})
    rec = unavailable_recorder()
    return rec, rec.decide(request, client)
