"""boto3 clients, created lazily on first use and then shared (never at import time, so cold
starts stay small and moto can intercept them in tests). ``AWS_ENDPOINT_URL`` points them at
a local emulator."""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3
from botocore.config import Config

# Retries are ours to decide (see publisher.py and store.py), so botocore makes one attempt.
_CONFIG = Config(retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=2, read_timeout=5)


@cache
def client(service: str) -> Any:
    return boto3.client(service, config=_CONFIG)  # type: ignore[call-overload]


def reset() -> None:
    """Forget every client (tests that start and stop AWS emulation call this)."""
    client.cache_clear()
