"""The fast JSON-lines encoder equals the plain dict encoding for every decision shape."""

from __future__ import annotations

import json

from regiongate.decision import Engine
from regiongate.serialize import decision_json


def _roundtrip(engine: Engine, ip: str, provider: str, **kw: object) -> None:
    decision = engine.classify(ip, provider, **kw)  # type: ignore[arg-type]
    line = decision_json(decision)
    assert "\n" not in line
    assert json.loads(line) == json.loads(json.dumps(decision.to_dict()))


def test_fast_encoding_matches_to_dict_on_the_bundled_database(engine: Engine) -> None:
    for ip in ("1.2.4.8", "8.8.8.8", "10.0.0.1", "::ffff:1.2.4.8", "2001:da8::1"):
        for provider in ("openai", "azure_openai", "aws_bedrock"):
            _roundtrip(engine, ip, provider)
    _roundtrip(
        engine, "8.8.8.8", "openai", account_id='we"ird {id}', account_tier="pro", model="gpt-{x}"
    )
    _roundtrip(engine, "1.2.4.8", "openai", at=1_700_000_000)


def test_fast_encoding_matches_with_combined_databases(rich_engine: Engine) -> None:
    for ip in ("81.2.69.1", "5.0.0.1", "2.0.0.1", "1.1.1.1", "8.0.0.1", "2400:cb00::1"):
        _roundtrip(rich_engine, ip, "openai")


def test_same_shape_with_different_addresses_fills_in_its_own_values(engine: Engine) -> None:
    a = json.loads(decision_json(engine.classify("8.8.8.8", "openai")))
    b = json.loads(decision_json(engine.classify("4.2.2.2", "openai")))
    assert a["geo"]["ip"] == "8.8.8.8" and b["geo"]["ip"] == "4.2.2.2"
    assert a["geo"]["network"] != b["geo"]["network"]
    assert a["decision_id"] != b["decision_id"]
