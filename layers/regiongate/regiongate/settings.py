"""Every setting regiongate reads from the environment, parsed and validated in one place.

Domain code never reads ``os.environ``; handlers and the CLI build a Settings once per process.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache

from regiongate.client_ip import ProxyTrust


class SettingsError(ValueError):
    """A setting has a value regiongate cannot use; the message names the variable."""


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, got {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"{name} must be at least {minimum}, got {value}")
    return value


def _flag(env: Mapping[str, str], name: str) -> bool:
    return env.get(name, "").strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class Settings:
    """Documented in README.md, section Configuration."""

    proxy_trust: ProxyTrust
    max_body_bytes: int
    event_bus: str
    fallback_queue_url: str
    audit_table: str
    ip_hash_key_parameter: str
    ip_hash_key_file: str
    keep_full_ip: bool
    retention_days: int
    flag_threshold: int
    flag_window_seconds: int
    publish_attempts: int
    geo_max_age_days: int = 45

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        try:
            trust = ProxyTrust.parse(
                env.get("REGIONGATE_TRUSTED_PROXY_HOPS"),
                env.get("REGIONGATE_TRUSTED_PROXY_CIDRS"),
                env.get("REGIONGATE_TRUSTED_GATEWAY_CIDRS"),
            )
        except ValueError as exc:
            raise SettingsError(f"proxy trust settings: {exc}") from None
        return cls(
            proxy_trust=trust,
            max_body_bytes=_int(env, "REGIONGATE_MAX_BODY_BYTES", 8192, 64),
            event_bus=env.get("REGIONGATE_EVENT_BUS", "regiongate"),
            fallback_queue_url=env.get("REGIONGATE_FALLBACK_QUEUE_URL", ""),
            audit_table=env.get("REGIONGATE_AUDIT_TABLE", "regiongate-audit"),
            ip_hash_key_parameter=env.get("REGIONGATE_IP_HASH_KEY_PARAMETER", ""),
            ip_hash_key_file=env.get("REGIONGATE_IP_HASH_KEY_FILE", ""),
            keep_full_ip=_flag(env, "REGIONGATE_KEEP_FULL_IP"),
            retention_days=_int(env, "REGIONGATE_RETENTION_DAYS", 400, 1),
            flag_threshold=_int(env, "REGIONGATE_FLAG_THRESHOLD", 5, 1),
            flag_window_seconds=_int(env, "REGIONGATE_FLAG_WINDOW_SECONDS", 3600, 60),
            publish_attempts=_int(env, "REGIONGATE_PUBLISH_ATTEMPTS", 4, 1),
            geo_max_age_days=_int(env, "REGIONGATE_GEO_MAX_AGE_DAYS", 45, 1),
        )


@cache
def settings() -> Settings:
    """The process's settings, read once."""
    return Settings.from_env()
