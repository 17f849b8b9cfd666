"""Audit records: personal data minimised, chains that reveal any change."""

from __future__ import annotations

import copy
from typing import Any

from regiongate.audit import (
    GENESIS,
    audit_record,
    ip_hash,
    link_hash,
    mask_record,
    partition_of,
    verify_chain,
)
from regiongate.engine import Engine
from regiongate.request import Request
from regiongate.serialize import decision_record

KEY = b"test-key"


def _chain(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    prev, out = GENESIS, []
    for sequence, record in enumerate(records, 1):
        linked = dict(record, prev_hash=prev, sequence=sequence)
        linked["hash"] = link_hash(prev, linked)
        out.append(linked)
        prev = linked["hash"]
    return out


def test_records_keep_a_keyed_hash_and_the_truncated_network_not_the_address(
    engine: Engine,
) -> None:
    record = audit_record(engine.decide(Request("1.2.4.8", "openai")), KEY)
    assert "ip" not in record
    assert record["client_network"] == "1.2.4.0/24"
    assert record["network"] == "1.2.4.0/24"  # the database's narrower match is not kept
    assert record["ip_hash"] == ip_hash("1.2.4.8", KEY) == ip_hash("::ffff:1.2.4.8", KEY)
    assert ip_hash("1.2.4.8", b"other-key") != record["ip_hash"]
    v6 = audit_record(engine.decide(Request("2001:da8:1:2::5", "openai")), KEY)
    assert v6["client_network"] == "2001:da8:1::/48"


def test_full_addresses_are_kept_only_when_configured(engine: Engine) -> None:
    decision = engine.decide(Request("1.2.4.8", "openai"))
    record = mask_record(decision_record(decision), KEY, keep_full_ip=True)
    assert record["ip"] == "1.2.4.8"
    assert record["network"] == "1.2.4.0/22"


def test_partition_is_per_account_per_day_else_per_provider_per_day(engine: Engine) -> None:
    with_account = audit_record(engine.decide(Request("8.8.8.8", "openai", account_id="a1")), KEY)
    anonymous = audit_record(engine.decide(Request("8.8.8.8", "openai")), KEY)
    day = with_account["decided_at"][:10]
    assert partition_of(with_account) == f"account#a1#{day}"
    assert partition_of(anonymous) == f"provider#openai#{day}"


def test_an_intact_chain_verifies(engine: Engine) -> None:
    records = [
        audit_record(engine.decide(Request(ip, "openai")), KEY)
        for ip in ("8.8.8.8", "1.2.4.8", "223.255.128.1")
    ]
    assert verify_chain("p", _chain(records)) is None


def test_each_kind_of_tampering_names_the_first_broken_link(engine: Engine) -> None:
    records = _chain(
        [
            audit_record(engine.decide(Request(ip, "openai")), KEY)
            for ip in ("8.8.8.8", "1.2.4.8", "223.255.128.1", "8.8.4.4")
        ]
    )
    altered = copy.deepcopy(records)
    altered[1]["outcome"] = "allow"
    problem = verify_chain("p", altered)
    assert problem is not None
    assert (problem.sequence, problem.decision_id) == (2, records[1]["decision_id"])
    assert "altered" in problem.problem
    missing = records[:1] + records[2:]
    problem = verify_chain("p", missing)
    assert problem is not None and problem.sequence == 2 and "missing" in problem.problem
    rehashed = copy.deepcopy(records)
    rehashed[2]["outcome"] = "allow"
    rehashed[2]["hash"] = link_hash(rehashed[2]["prev_hash"], rehashed[2])  # cover the tracks
    problem = verify_chain("p", rehashed)
    assert problem is not None and problem.sequence == 4 and "prev_hash" in problem.problem
