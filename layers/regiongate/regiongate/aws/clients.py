"""AWS clients, created lazily on first use and then shared (never at import time, so cold
starts stay small and moto can intercept them in tests). ``AWS_ENDPOINT_URL`` points them at
a local emulator.

They come from botocore directly: ``import boto3`` also imports s3transfer (and boto3's
resource layer), ~50-100 ms of cold start for nothing we use; a boto3 client is this same
botocore client.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import botocore.session
from botocore.config import Config

from regiongate.caches import process_cache

# Retries are ours to decide (see publisher.py and store.py), so botocore makes one attempt.
_CONFIG = Config(retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=2, read_timeout=5)


# botocore event handlers every session gets (unique id -> event name, handler): local
# tooling that watches the calls — serve's write-ahead file, the cost bench.
_HANDLERS: dict[str, tuple[str, Callable[..., Any]]] = {}


@process_cache
def _session() -> botocore.session.Session:
    session = botocore.session.get_session()
    for unique_id, (event_name, handler) in _HANDLERS.items():
        session.register(event_name, handler, unique_id=unique_id)
    return session


def register(event_name: str, handler: Callable[..., Any], unique_id: str) -> None:
    """Have every client created from now on call ``handler`` on a botocore event."""
    _HANDLERS[unique_id] = (event_name, handler)
    reset()


def unregister(unique_id: str) -> None:
    _HANDLERS.pop(unique_id, None)
    reset()


@process_cache
def client(service: str) -> Any:
    return _session().create_client(service, config=_CONFIG)


def reset() -> None:
    """Forget every client (tests that start and stop AWS emulation call this)."""
    client.cache_clear()
    _session.cache_clear()
