"""Every setting regiongate reads from the environment, parsed and validated in one place.

No other module reads ``os.environ``: handlers, the CLI, the engine, geo and observability
read ``settings()``, built once per process (and rebuilt after ``reset_process_caches``).
Every error names the variable; flags have one spelling (see ``TRUE``/``FALSE``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from ipaddress import ip_network

from regiongate.caches import process_cache
from regiongate.client_ip import Network, ProxyTrust

TRUE = ("1", "true", "yes", "on")
FALSE = ("", "0", "false", "no", "off")


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
    raw = env.get(name, "").strip().lower()
    if raw in TRUE:
        return True
    if raw in FALSE:
        return False
    raise SettingsError(f"{name} must be one of {', '.join(TRUE)} or {', '.join(FALSE[1:])}")


def _networks(env: Mapping[str, str], name: str) -> tuple[Network, ...]:
    parts = [p.strip() for p in env.get(name, "").split(",") if p.strip()]
    try:
        return tuple(ip_network(p, strict=False) for p in parts)
    except ValueError as exc:
        raise SettingsError(f"{name}: {exc}") from None


def _paths(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    """``os.pathsep`` or comma separated."""
    raw = env.get(name, "").strip()
    return tuple(p for p in raw.replace(",", os.pathsep).split(os.pathsep) if p)


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
    geo_databases: tuple[str, ...] = ()  # empty: the bundled database
    geo_cache: int = 65536
    policy_dir: str = ""  # empty: the bundled policies
    xray_sdk: bool = False
    local_log_level: str = "WARNING"
    xdg_cache_home: str = ""  # empty: ~/.cache (where columnar keeps its interval tables)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        return cls(
            proxy_trust=ProxyTrust(
                _int(env, "REGIONGATE_TRUSTED_PROXY_HOPS", 0),
                _networks(env, "REGIONGATE_TRUSTED_PROXY_CIDRS"),
                _networks(env, "REGIONGATE_TRUSTED_GATEWAY_CIDRS"),
            ),
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
            geo_databases=_paths(env, "REGIONGATE_GEO_DATABASES"),
            geo_cache=_int(env, "REGIONGATE_GEO_CACHE", 65536),
            policy_dir=env.get("REGIONGATE_POLICY_DIR", "").strip(),
            xray_sdk=_flag(env, "REGIONGATE_XRAY_SDK"),
            local_log_level=env.get("REGIONGATE_LOCAL_LOG_LEVEL", "").strip() or "WARNING",
            xdg_cache_home=env.get("XDG_CACHE_HOME", "").strip(),
        )


@process_cache
def settings() -> Settings:
    """The process's settings, read once."""
    return Settings.from_env()
