"""AWS clients, created lazily on first use and then shared (never at import time, so cold
starts stay small and moto can intercept them in tests). ``AWS_ENDPOINT_URL`` points them at
a local emulator.

They come from botocore directly: ``import boto3`` also imports s3transfer (and boto3's
resource layer), ~50-100 ms of cold start for nothing we use; a boto3 client is this same
botocore client.
"""

from __future__ import annotations

from typing import Any

import botocore.session
from botocore.config import Config

from regiongate.caches import process_cache

# Retries are ours to decide (see publisher.py and store.py), so botocore makes one attempt.
_CONFIG = Config(retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=2, read_timeout=5)


@process_cache
def _session() -> botocore.session.Session:
    return botocore.session.get_session()


@process_cache
def client(service: str) -> Any:
    return _session().create_client(service, config=_CONFIG)


def reset() -> None:
    """Forget every client (tests that start and stop AWS emulation call this)."""
    client.cache_clear()
    _session.cache_clear()
