"""The audit record: personal data minimised, chained for tamper evidence, verifiable.

Records keep a keyed hash of the caller's address and its /24 (IPv4) or /48 (IPv6) network
instead of the address itself, unless configured to keep full addresses. Stored records of
one partition (an account's day, or an unauthenticated provider's day) form a hash chain:
each carries the hash of its predecessor, so changing or removing one breaks the next link.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from regiongate.addresses import parse_address, truncate_network
from regiongate.decision import Decision
from regiongate.errors import InvalidAddressError
from regiongate.serialize import decision_record

GENESIS = "0" * 64


def ip_hash(ip: str, key: bytes) -> str:
    """HMAC-SHA256 of the canonical address: stable per caller, useless without the key."""
    try:
        canonical = parse_address(ip).lookup
    except InvalidAddressError:
        canonical = ip
    return hmac.new(key, canonical.encode(), hashlib.sha256).hexdigest()[:32]


def mask_record(
    record: dict[str, Any], key: bytes, *, keep_full_ip: bool = False
) -> dict[str, Any]:
    """The record as stored: the address replaced by its hash and truncated network."""
    out = dict(record)
    ip = out.pop("ip", None)
    if not isinstance(ip, str):
        return out
    out["ip_hash"] = ip_hash(ip, key)
    try:
        out["client_network"] = truncate_network(parse_address(ip))
    except InvalidAddressError:
        out["client_network"] = None
    if keep_full_ip:
        out["ip"] = ip
    else:
        # The database's matched network can be as narrow as one address (City databases).
        out["network"] = out["client_network"]
    return out


def audit_record(decision: Decision, key: bytes, *, keep_full_ip: bool = False) -> dict[str, Any]:
    return mask_record(decision_record(decision), key, keep_full_ip=keep_full_ip)


def partition_of(record: dict[str, Any]) -> str:
    """The chain a record belongs to: per account per day, else per provider per day."""
    day = str(record.get("decided_at", ""))[:10]
    account = (record.get("account") or {}).get("id")
    if account:
        return f"account#{account}#{day}"
    return f"provider#{record.get('provider')}#{day}"


_CHAIN_FIELDS = ("prev_hash", "hash", "sequence", "duplicate_of")


def canonical(record: dict[str, Any]) -> bytes:
    """Stable bytes for hashing: sorted keys, no spaces, chain fields excluded."""
    body = {k: v for k, v in record.items() if k not in _CHAIN_FIELDS}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def link_hash(prev_hash: str, record: dict[str, Any]) -> str:
    return hashlib.sha256(prev_hash.encode() + b"\n" + canonical(record)).hexdigest()


@dataclass(frozen=True, slots=True)
class ChainProblem:
    partition: str
    sequence: int
    decision_id: str
    problem: str

    def __str__(self) -> str:
        return (
            f"{self.partition} link {self.sequence} (decision {self.decision_id}): {self.problem}"
        )


def verify_chain(partition: str, records: Iterable[dict[str, Any]]) -> ChainProblem | None:
    """The first broken link of one partition's chain (records in sequence order), or None."""
    expected_prev, expected_sequence = GENESIS, 1
    for record in records:
        decision_id = str(record.get("decision_id"))
        sequence = int(record.get("sequence", 0))
        if sequence != expected_sequence:
            return ChainProblem(
                partition,
                expected_sequence,
                decision_id,
                f"sequence {sequence} where {expected_sequence} was expected "
                "(a record is missing or was inserted)",
            )
        if record.get("prev_hash") != expected_prev:
            return ChainProblem(
                partition,
                sequence,
                decision_id,
                "prev_hash does not match the previous record's hash",
            )
        if link_hash(expected_prev, record) != record.get("hash"):
            return ChainProblem(
                partition,
                sequence,
                decision_id,
                "content does not match its hash (the record was altered)",
            )
        expected_prev, expected_sequence = str(record["hash"]), sequence + 1
    return None
