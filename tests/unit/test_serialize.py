"""Records and full decisions: the fast encoders equal the reference for every decision shape."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path

from geodb import geoip2, write_mmdb
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from regiongate.engine import Engine
from regiongate.errors import RegiongateError
from regiongate.geo import GeoDatabase, Geolocator
from regiongate.policy import PolicySet
from regiongate.request import Request
from regiongate.serialize import (
    decision_json,
    decision_json_reference,
    decision_json_with,
    decision_record,
    record_json,
)


def _check(engine: Engine, ip: str, provider: str, **kw: object) -> dict[str, object]:
    decision = engine.decide(Request(ip, provider, **kw))  # type: ignore[arg-type]
    line = record_json(decision)
    assert "\n" not in line
    assert json.loads(line) == decision_record(decision)
    assert decision_json(decision) == decision_json_reference(decision)
    return decision_record(decision)


def test_fast_records_match_the_reference_on_the_bundled_database(engine: Engine) -> None:
    for ip in ("1.2.4.8", "8.8.8.8", "10.0.0.1", "::ffff:1.2.4.8", "2001:da8::1"):
        for provider in ("openai", "azure_openai", "aws_bedrock"):
            _check(engine, ip, provider)
    _check(
        engine, "8.8.8.8", "openai", account_id='we"ird {id}', account_tier="pro", model="gpt-{x}"
    )
    _check(engine, "1.2.4.8", "openai", at=1_700_000_000)


def test_fast_records_match_with_combined_databases(rich_engine: Engine) -> None:
    for ip in ("81.2.69.1", "5.0.0.1", "2.0.0.1", "1.1.1.1", "8.0.0.1", "2400:cb00::1"):
        _check(rich_engine, ip, "openai")


def test_record_keeps_what_explains_and_replays_a_decision(engine: Engine) -> None:
    record = _check(engine, "1.2.4.8", "openai", account_id="a1", account_tier="standard")
    assert record["outcome"] == "reroute"
    assert record["reasons"] == ["COUNTRY_NOT_SUPPORTED", "REROUTED"]
    assert record["rule"] == "openai/countries"
    assert "deepseek" in record["alternatives"]  # type: ignore[operator]
    assert record["network"] == "1.2.4.0/22"
    assert record["geo"]["database"].startswith("dbip-city-lite-regiongate.mmdb@")  # type: ignore[index]
    unroutable = _check(engine, "10.1.2.3", "openai")
    assert unroutable["network"] == "10.0.0.0/8"


def test_same_shape_with_different_addresses_fills_in_its_own_values(engine: Engine) -> None:
    a = json.loads(record_json(engine.decide(Request("8.8.8.8", "openai"))))
    b = json.loads(record_json(engine.decide(Request("4.2.2.2", "openai"))))
    assert (a["ip"], b["ip"]) == ("8.8.8.8", "4.2.2.2")
    assert a["network"] != b["network"]
    assert a["decision_id"] != b["decision_id"]


def test_same_facts_from_different_databases_cite_their_own_database(
    policies: PolicySet, tmp_path: Path
) -> None:
    first = write_mmdb(tmp_path / "first.mmdb", "ipdb", {"11.0.0.0/16": {"country_code": "US"}})
    second = write_mmdb(tmp_path / "second.mmdb", "GeoIP2-Country", {"12.0.0.0/16": geoip2("US")})
    engine = Engine(policies, Geolocator([GeoDatabase(first), GeoDatabase(second)]))
    for _ in range(2):  # the second round is served from shared answers and templates
        a = _check(engine, "11.0.0.1", "openai")
        b = _check(engine, "12.0.0.1", "openai")
        assert a["geo"]["database"].startswith("first.mmdb@")  # type: ignore[index]
        assert b["geo"]["database"].startswith("second.mmdb@")  # type: ignore[index]


def test_the_reference_full_answer_is_compact_json_of_to_dict(engine: Engine) -> None:
    decision = engine.decide(Request("8.8.8.8", "openai", model="gpt-é"))
    expected = json.dumps(decision.to_dict(), ensure_ascii=False, separators=(",", ":"))
    assert decision_json_reference(decision) == expected


_V4 = st.integers(0, 2**32 - 1).map(lambda n: str(ipaddress.IPv4Address(n)))
_V6 = st.integers(0, 2**128 - 1).map(lambda n: str(ipaddress.IPv6Address(n)))
_IPS = st.one_of(
    _V4,
    _V4,
    _V6,
    _V4.map(lambda v4: f"::ffff:{v4}"),
    _V4.map(lambda v4: f"{v4}:443"),
    _V6.map(lambda v6: f"[{v6}]:443"),
    st.sampled_from(["8.8.8.8", "1.2.4.8", "223.255.128.1", "2001:da8::1", "81.2.69.1"]),
    st.sampled_from(["5.0.0.1", "2.0.0.1", "8.0.0.1", "2400:cb00::1", "10.0.0.1"]),
)
_TEXT = st.none() | st.text(max_size=12)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    ips=st.lists(_IPS, min_size=1, max_size=4),
    provider=st.sampled_from(["openai", "anthropic", "azure_openai", "aws_bedrock", "deepseek"]),
    model=_TEXT | st.sampled_from(["gpt-4.1", "claude-sonnet-4-5", "anthropic.claude-3"]),
    account_id=_TEXT,
    tier=st.none() | st.sampled_from(["enterprise", "pro", "standard"]),
    at=st.none() | st.integers(0, 4_000_000_000),
    rich=st.booleans(),
)
def test_fast_full_answer_is_byte_for_byte_the_reference(
    engine: Engine,
    rich_engine: Engine,
    ips: list[str],
    provider: str,
    model: str | None,
    account_id: str | None,
    tier: str | None,
    at: int | None,
    rich: bool,
) -> None:
    """Any request, twice over (the second meets the cached templates), with and without
    model and account: ``decision_json`` gives the reference's exact text."""
    chosen = rich_engine if rich else engine
    for ip in ips + ips:
        for request in (
            Request(ip, provider),
            Request(ip, provider, account_id=account_id, account_tier=tier, model=model, at=at),
        ):
            try:
                decision = chosen.decide(request)
            except RegiongateError:
                continue
            assert decision_json(decision) == decision_json_reference(decision)
            extra = {"client": {"ip": ip, "method": "source_ip"}, "provider_error": None}
            expected = json.dumps(
                {**decision.to_dict(), **extra}, ensure_ascii=False, separators=(",", ":")
            )
            assert decision_json_with(decision, **extra) == expected
