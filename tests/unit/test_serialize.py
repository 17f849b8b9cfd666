"""Records: the fast encoder equals the reference record for every decision shape."""

from __future__ import annotations

import json
from pathlib import Path

from geodb import geoip2, write_mmdb
from regiongate.engine import Engine
from regiongate.geo import GeoDatabase, Geolocator
from regiongate.policy import PolicySet
from regiongate.request import Request
from regiongate.serialize import decision_json, decision_record, record_json


def _check(engine: Engine, ip: str, provider: str, **kw: object) -> dict[str, object]:
    decision = engine.decide(Request(ip, provider, **kw))  # type: ignore[arg-type]
    line = record_json(decision)
    assert "\n" not in line
    assert json.loads(line) == decision_record(decision)
    assert json.loads(decision_json(decision)) == json.loads(json.dumps(decision.to_dict()))
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
