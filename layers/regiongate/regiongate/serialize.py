"""Decisions as compact JSON lines, fast enough for million-row batch runs.

Most of a decision repeats between requests: the verdict (outcome, reasons, rule,
alternatives) is shared by every caller with the same facts, and the geo part differs only in
the address and matched network. So each shape is rendered once by ``json`` into a format
template, with placeholders where per-request values go, and reused. The output parses to
exactly ``Decision.to_dict()``, which the tests check.
"""

from __future__ import annotations

import json
from typing import Any

from regiongate.decision import Decision, Verdict, format_id, iso_time
from regiongate.geo import GeoResult

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_MAX_CACHE = 50_000


def _template(document: dict[str, Any], slots: tuple[str, ...]) -> str:
    """Render ``document`` whose values include the strings ``\x00name`` into a
    ``str.format`` template with a ``{name}`` field in place of each of them."""
    text = _dumps(document).replace("{", "{{").replace("}", "}}")
    for name in slots:
        text = text.replace(_dumps(f"\x00{name}"), "{" + name + "}")
    return text


def _json_text(value: str | None) -> str:
    return "null" if value is None else _dumps(value)


_TEMPLATES: dict[tuple[Any, ...], tuple[Verdict, str]] = {}
_SECOND_STAMPS: dict[int, str] = {}


def _geo_shape_key(geo: GeoResult) -> tuple[Any, ...]:
    """Everything in ``geo.to_dict()`` except the address and the matched networks."""
    address = geo.address
    evidence = geo.evidence
    if len(evidence) == 1 and geo.registered_country is None and geo.asn is None:
        return (
            geo.status,
            geo.country,
            geo.subdivisions,
            geo.anonymizers,
            geo.has_subdivision_data,
            address.embedded_via,
            evidence[0].database,
            evidence[0].fields,
        )
    return (
        geo.status,
        geo.country,
        geo.registered_country,
        geo.represented_country,
        geo.continent,
        geo.subdivisions,
        geo.anonymizers,
        geo.asn,
        geo.as_organization,
        geo.has_subdivision_data,
        address.embedded_via,
        address.not_routable,
        address.special_network,
        tuple((e.database, e.fields) for e in evidence),
    )


def _build_template(decision: Decision) -> str:
    geo = decision.geo.to_dict()
    geo["ip"], geo["lookup_ip"] = "\x00ip", "\x00lookup"
    slots = ["id", "decided", "evaluated", "model", "account_id", "account_tier", "ip", "lookup"]
    if "network" in geo:
        geo["network"] = "\x00network"
        slots.append("network")
        for i, item in enumerate(geo["evidence"]):
            item["network"] = f"\x00n{i}"
            slots.append(f"n{i}")
    shape = {
        "decision_id": "\x00id",
        "decided_at": "\x00decided",
        "evaluated_at": "\x00evaluated",
        "provider": decision.provider,
        "model": "\x00model",
        "account": {"id": "\x00account_id", "tier": "\x00account_tier"},
        "policy_version": decision.policy_version,
        **decision.verdict.to_dict(),
        "geo": geo,
    }
    # Per-request values arrive already JSON-encoded, so the placeholders replace the quotes.
    return _template(shape, tuple(slots))


def _second_stamp(seconds: int) -> str:
    stamp = _SECOND_STAMPS.get(seconds)
    if stamp is None:
        if len(_SECOND_STAMPS) > 10_000:
            _SECOND_STAMPS.clear()
        stamp = iso_time(seconds * 1_000_000_000)
        _SECOND_STAMPS[seconds] = stamp
    return stamp


def _millis_stamp(ns: int) -> str:
    seconds, rest = divmod(ns, 1_000_000_000)
    return f"{_second_stamp(seconds)[:-5]}.{rest // 1_000_000:03d}Z"


def decision_json(decision: Decision) -> str:
    """One decision as a single JSON line (no trailing newline)."""
    verdict, geo = decision.verdict, decision.geo
    key = (id(verdict), decision.policy_version, _geo_shape_key(geo))
    cached = _TEMPLATES.get(key)
    if cached is None or cached[0] is not verdict:
        if len(_TEMPLATES) > _MAX_CACHE:
            _TEMPLATES.clear()
        cached = _TEMPLATES[key] = (verdict, _build_template(decision))
    address = geo.address
    values = {
        "id": '"' + format_id(decision.id_value) + '"',
        "decided": '"' + _millis_stamp(decision.decided_at_ns) + '"',
        "evaluated": '"' + _second_stamp(decision.evaluated_at) + '"',
        "model": _json_text(decision.model),
        "account_id": _json_text(decision.account_id),
        "account_tier": _json_text(decision.account_tier),
        "ip": _dumps(address.original),
        "lookup": _dumps(address.lookup),
    }
    evidence = geo.evidence
    if evidence and address.not_routable is None:
        source = evidence[0] if len(evidence) == 1 else geo.country_evidence()
        for i, item in enumerate(evidence):
            network = '"' + item.network + '"'
            values[f"n{i}"] = network
            if item is source:
                values["network"] = network
    return cached[1].format_map(values)
