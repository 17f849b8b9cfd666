"""One Settings reads every variable; errors name it; one registry forgets what it built."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from regiongate.caches import reset_process_caches
from regiongate.settings import FALSE, TRUE, Settings, SettingsError, settings

PACKAGE = Path(__file__).resolve().parents[2] / "layers" / "regiongate" / "regiongate"
FUNCTIONS = PACKAGE.parents[2] / "functions"


def test_no_module_but_settings_reads_the_environment() -> None:
    readers = sorted(
        str(path.relative_to(PACKAGE.parents[2]))
        for path in [*PACKAGE.rglob("*.py"), *FUNCTIONS.rglob("*.py")]
        if re.search(r"os\.environ\.get|os\.getenv|environ\[", path.read_text(encoding="utf-8"))
    )
    assert readers == []


def test_every_documented_variable_is_read_by_settings() -> None:
    readme = (PACKAGE.parents[2] / "README.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"`(REGIONGATE_[A-Z_]+)`", readme))
    source = (PACKAGE / "settings.py").read_text(encoding="utf-8")
    assert documented and {v for v in documented if f'"{v}"' not in source} == set()


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("REGIONGATE_GEO_CACHE", "lots"),
        ("REGIONGATE_GEO_CACHE", "-1"),
        ("REGIONGATE_MAX_BODY_BYTES", "12"),
        ("REGIONGATE_TRUSTED_PROXY_HOPS", "-1"),
        ("REGIONGATE_TRUSTED_PROXY_CIDRS", "10.0.0.0/33"),
        ("REGIONGATE_TRUSTED_GATEWAY_CIDRS", "not-a-network"),
        ("REGIONGATE_KEEP_FULL_IP", "sure"),
        ("REGIONGATE_XRAY_SDK", "enabled"),
        ("REGIONGATE_RETENTION_DAYS", "0"),
    ],
)
def test_a_bad_value_names_its_variable(variable: str, value: str) -> None:
    with pytest.raises(SettingsError, match=variable):
        Settings.from_env({variable: value})


@pytest.mark.parametrize("name", ["REGIONGATE_KEEP_FULL_IP", "REGIONGATE_XRAY_SDK"])
def test_flags_share_one_spelling(name: str) -> None:
    for text in TRUE:
        assert getattr(Settings.from_env({name: text.upper()}), name[11:].lower()) is True
    for text in FALSE:
        assert getattr(Settings.from_env({name: text}), name[11:].lower()) is False


def test_defaults_and_paths() -> None:
    config = Settings.from_env({"REGIONGATE_GEO_DATABASES": "/a.mmdb,/b.mmdb:/c.mmdb"})
    assert config.geo_databases == ("/a.mmdb", "/b.mmdb", "/c.mmdb")
    assert config.geo_cache == 65536 and config.policy_dir == "" and not config.xray_sdk
    assert config.proxy_trust.trusted_hops == 0


def test_reset_forgets_every_object_built_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from regiongate.aws import consumer, keys, recorder
    from regiongate.engine import get_engine
    from regiongate.geo import open_geolocator

    first = settings()
    engine, geolocator = get_engine(), open_geolocator()
    monkeypatch.setenv("REGIONGATE_GEO_CACHE", "7")
    assert settings() is first  # read once per process...
    reset_process_caches()  # ...until told to forget
    assert settings() is not first and settings().geo_cache == 7
    assert open_geolocator() is not geolocator and open_geolocator().cache_size == 7
    assert get_engine() is not engine
    for cached in (keys.ip_hash_key, recorder.recorder, consumer.consumer):
        assert cached.cache_info().currsize == 0
    monkeypatch.delenv("REGIONGATE_GEO_CACHE")
    reset_process_caches()
