"""Decision records: the compact form kept by the audit trail and written by batch runs.

A full decision (``Decision.to_dict()``) repeats every citation and alternative; a record keeps
what identifies and explains the decision — ids, times, request, outcome, reason codes, rule
id, alternatives, geo facts, policy version — and refers to the citations through the policy
version and rule id. Records are what ``replay`` re-decides.

Records are encoded from a per-shape template: everything fixed for a verdict and geo shape is
rendered once by ``json``; only per-request values are encoded each time. ``record_json`` parses
to exactly ``decision_record``, which the tests check.

Full decisions (every answer of the service) are encoded the same way: ``decision_json`` renders
a verdict's part once (reasons, rule and citation, alternatives: most of the text) and the geo
part once per shared network answer, and is byte-for-byte ``decision_json_reference`` (the
tests check it on generated requests).
"""

from __future__ import annotations

import json
from typing import Any

from regiongate.decision import Decision, account_evidence
from regiongate.geo import NOT_ROUTABLE, GeoResult, Place
from regiongate.ids import iso_time

RECORD_SCHEMA = 1
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_MAX_CACHE = 50_000


def decision_json_reference(decision: Decision) -> str:
    """A full decision as one JSON line: the reference ``decision_json`` must equal."""
    return _dumps(decision.to_dict())


def decision_json(decision: Decision) -> str:
    """``decision_json_reference(decision)``, fast (see the module doc)."""
    request = decision.request
    if request.account_facts is not None:
        # Rare: account facts stated by a trusted source; the reference form, not a template.
        return decision_json_reference(decision)
    provider, version, verdict = request.provider, decision.policy_version, decision.verdict
    entry = _VERDICT_TEXT.get(id(verdict))
    if entry is None or entry[0] is not verdict or entry[1] != provider or entry[2] != version:
        if len(_VERDICT_TEXT) > _MAX_CACHE:
            _VERDICT_TEXT.clear()
        entry = _VERDICT_TEXT[id(verdict)] = (verdict, provider, version, _verdict_text(decision))
    ns = decision.decided_at_ns
    seconds = ns // 1_000_000_000
    stamp = _SECOND_STAMPS.get(seconds) or _second_stamp(seconds)
    evaluated = decision.evaluated_at
    evaluated_stamp = stamp if evaluated == seconds else _second_stamp(evaluated)
    model, account_id, tier = request.model, request.account_id, request.account_tier
    if model is None and account_id is None and tier is None:
        middle = _NO_MODEL_NO_ACCOUNT
    else:
        middle = (
            f'{"null" if model is None else _dumps(model)},"account":{{"id":'
            f'{"null" if account_id is None else _dumps(account_id)},"tier":'
            f"{'null' if tier is None else _dumps(tier)}}}"
        )
    head = entry[3]
    return (
        f'{{"decision_id":"{decision.decision_id}","decided_at":"{stamp}'
        f'{_MILLIS[ns // 1_000_000 % 1000]}","evaluated_at":"{evaluated_stamp}.000Z",'
        f"{head[0]}{middle}{head[1]}{_geo_json(decision)}}}"
    )


def decision_json_with(decision: Decision, **members: Any) -> str:
    """``decision_json`` with more top-level members after the decision's own (the service's
    answer adds the client and the provider's error): ``_dumps({**to_dict(), **members})``
    for names a decision does not have."""
    extra = "".join(f",{_dumps(name)}:{_dumps(value)}" for name, value in members.items())
    return f"{decision_json(decision)[:-1]}{extra}}}"


_NO_MODEL_NO_ACCOUNT = 'null,"account":{"id":null,"tier":null}'
_VERDICT_TEXT: dict[int, tuple[object, str, str, tuple[str, str]]] = {}
_GEO_TEXT: dict[int, tuple[object, tuple[str, ...]]] = {}
_GEO_SHAPES: dict[tuple[Any, ...], tuple[str, ...]] = {}


def _verdict_text(decision: Decision) -> tuple[str, str]:
    """The full JSON of ``decision`` around its per-request values: what comes between
    ``evaluated_at`` and ``model``, and between ``account`` and the geo object."""
    shape = decision.to_dict()
    shape.update(model="\x00model", account="\x00account", geo="\x00geo")
    for name in ("decision_id", "decided_at", "evaluated_at"):
        del shape[name]
    text = _dumps(shape)[1:]
    provider_part, _, rest = text.partition(_dumps("\x00model"))
    _, _, rest = rest.partition(_dumps("\x00account"))
    verdict_part, _, _ = rest.partition(_dumps("\x00geo"))
    return provider_part, verdict_part


def _geo_json(decision: Decision) -> str:
    """``_dumps(decision.geo.to_dict())``, from a template per geo shape: only the address and
    its networks are encoded per request."""
    place = decision.place
    if place is not None and place.version == 4 and len(place.template.evidence) <= 1:
        # The shared network answer is the shape; a plain IPv4 address (digits and dots) and
        # its network need no escaping.
        entry = _GEO_TEXT.get(id(place))
        if entry is None or entry[0] is not place:
            if len(_GEO_TEXT) > _MAX_CACHE:
                _GEO_TEXT.clear()
            entry = _GEO_TEXT[id(place)] = (place, _geo_template(decision.geo))
        ip = decision.ip
        network = place.network_for(ip)
        net = "null" if network is None else f'"{network}"'
        p = entry[1]
        if len(p) == 4:
            return f'{p[0]}"{ip}"{p[1]}"{ip}"{p[2]}{net}{p[3]}'
        return f'{p[0]}"{ip}"{p[1]}"{ip}"{p[2]}{net}{p[3]}{net}{p[4]}'
    geo = decision.geo
    if geo.status == NOT_ROUTABLE:
        return _dumps(geo.to_dict())
    evidence = geo.evidence
    key = (
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
        geo.address.embedded_via,
        tuple((e.database, e.prefix_len, e.fields) for e in evidence),
    )
    parts = _GEO_SHAPES.get(key)
    if parts is None:
        if len(_GEO_SHAPES) > _MAX_CACHE:
            _GEO_SHAPES.clear()
        parts = _GEO_SHAPES[key] = _geo_template(geo)
    source = geo.country_evidence()
    network = source.network if source is not None else None
    texts = [_dumps(geo.address.original), _dumps(geo.address.lookup), _json_text(network)]
    texts += [_json_text(network if e is source else e.network) for e in evidence]
    out = [parts[0]]
    for text, part in zip(texts, parts[1:], strict=True):
        out += (text, part)
    return "".join(out)


def _geo_template(geo: GeoResult) -> tuple[str, ...]:
    """``geo.to_dict()`` as JSON text cut at the address, the lookup address, the network and
    each evidence item's network (literal, slot, literal, ...)."""
    shape = geo.to_dict()
    shape.update(ip="\x00", lookup_ip="\x00", network="\x00")
    for item in shape["evidence"]:
        item["network"] = "\x00"
    return tuple(_dumps(shape).split(_dumps("\x00")))


def geo_facts(geo: GeoResult) -> dict[str, Any]:
    source = geo.country_evidence()
    database = None
    if source is not None:
        info = source.database
        database = f"{info.summary['path']}@{info.build_date}"
    return {
        "status": geo.status,
        "country": geo.country,
        "subdivisions": list(geo.subdivisions),
        "subdivision_data": geo.has_subdivision_data or bool(geo.subdivisions),
        "registered_country": geo.registered_country,
        "anonymizers": sorted(geo.anonymizers),
        "asn": geo.asn,
        "database": database,
    }


def decision_record(decision: Decision) -> dict[str, Any]:
    """The compact record of a decision (the reference form ``record_json`` must equal)."""
    verdict, geo = decision.verdict, decision.geo
    return {
        "schema": RECORD_SCHEMA,
        "decision_id": decision.decision_id,
        "decided_at": iso_time(decision.decided_at_ns),
        "evaluated_at": iso_time(decision.evaluated_at * 1_000_000_000),
        "provider": decision.provider,
        "model": decision.model,
        "account": account_evidence(decision.request),
        "outcome": verdict.outcome,
        "reasons": list(verdict.reason_codes),
        "rule": verdict.rule.rule_id,
        "alternatives": [a.provider for a in verdict.alternatives],
        "policy_version": decision.policy_version,
        "ip": geo.address.original,
        "network": geo.network if geo.status != "not_routable" else geo.address.special_network,
        "geo": geo_facts(geo),
    }


_SLOTS = ("id", "decided", "evaluated", "model", "account_id", "account_tier", "ip", "network")
_TEMPLATES: dict[tuple[Any, ...], tuple[tuple[str, ...], object]] = {}
_PLACE_TEMPLATES: dict[int, tuple[object, dict[object, tuple[str, ...]]]] = {}
_SECOND_STAMPS: dict[int, str] = {}
_MILLIS = tuple(f".{ms:03d}Z" for ms in range(1000))


def _split_template(record: dict[str, Any]) -> tuple[str, ...]:
    """JSON text of ``record`` cut at each placeholder (literal, slot, literal, ...), and
    the stretch from evaluated_at to ip already joined for a request with no model or account."""
    text = _dumps(record)
    parts: list[str] = []
    for name in _SLOTS:
        marker = _dumps(f"\x00{name}")
        before, found, text = text.partition(marker)
        if not found:
            raise AssertionError(f"placeholder {name} missing from record template")
        parts.append(before)
    parts.append(text)
    # The common request names no model and no account: its middle stretch, pre-joined.
    parts.append(f"{parts[3]}null{parts[4]}null{parts[5]}null{parts[6]}")
    return tuple(parts)


def _template_for(decision: Decision) -> tuple[str, ...]:
    verdict = decision.verdict
    place = decision.place
    if place is not None:
        # Places with equal facts share ``place.facts``, and a verdict belongs to one engine
        # (so implies provider and policy version): the pair names the record's shape.
        entry = _PLACE_TEMPLATES.get(id(verdict))
        if entry is not None and entry[0] is verdict:
            parts = entry[1].get(place.facts)
            if parts is None:
                parts = entry[1][place.facts] = _render_template(decision)
            return parts
        if len(_PLACE_TEMPLATES) > _MAX_CACHE:
            _PLACE_TEMPLATES.clear()
        parts = _render_template(decision)
        _PLACE_TEMPLATES[id(verdict)] = (verdict, {place.facts: parts})
        return parts
    key = _geo_shape(decision)
    cached = _TEMPLATES.get(key)
    if cached is not None and cached[1] is verdict:
        return cached[0]
    if len(_TEMPLATES) > _MAX_CACHE:
        _TEMPLATES.clear()
    parts = _render_template(decision)
    _TEMPLATES[key] = (parts, verdict)
    return parts


def _render_template(decision: Decision) -> tuple[str, ...]:
    shape = decision_record(decision)
    shape.update(
        decision_id="\x00id",
        decided_at="\x00decided",
        evaluated_at="\x00evaluated",
        model="\x00model",
        ip="\x00ip",
        network="\x00network",
        account={"id": "\x00account_id", "tier": "\x00account_tier"},
    )
    return _split_template(shape)


def _geo_shape(decision: Decision) -> tuple[Any, ...]:
    """Everything in a record that is fixed for a verdict and the geo facts (the database
    cited is the one that gave the country, as ``geo_facts`` says, not the first)."""
    geo = decision.geo
    source = geo.country_evidence()
    return (
        geo.has_subdivision_data,
        decision.provider,
        decision.policy_version,
        geo.status,
        geo.country,
        geo.subdivisions,
        geo.registered_country,
        geo.anonymizers,
        geo.asn,
        source.database if source is not None else None,
        id(decision.verdict),
    )


def _second_stamp(seconds: int) -> str:
    """``YYYY-MM-DDTHH:MM:SS`` for a Unix second; cached, since a run spans few seconds."""
    stamp = _SECOND_STAMPS.get(seconds)
    if stamp is None:
        if len(_SECOND_STAMPS) > 10_000:
            _SECOND_STAMPS.clear()
        stamp = iso_time(seconds * 1_000_000_000)[:-5]
        _SECOND_STAMPS[seconds] = stamp
    return stamp


def _json_text(value: str | None) -> str:
    return "null" if value is None else _dumps(value)


def record_json(decision: Decision) -> str:
    """``decision_record(decision)`` as one JSON line, fast."""
    if decision.request.account_facts is not None:
        # Rare: account facts stated by a trusted source; the reference form, not a template.
        return _dumps(decision_record(decision))
    p = _template_for(decision)
    ns = decision.decided_at_ns
    seconds = ns // 1_000_000_000
    stamp = _SECOND_STAMPS.get(seconds) or _second_stamp(seconds)
    evaluated = decision.evaluated_at
    if evaluated != seconds:
        evaluated_stamp = _second_stamp(evaluated) + ".000Z"
    else:
        evaluated_stamp = stamp + ".000Z"
    place = decision.place
    request = decision.request
    if place is not None:
        # Plain address text (digits, hex, dots, colons) and its network: nothing to escape.
        ip = '"' + request.ip + '"'
        network = _network_json(place, request.ip)
    else:
        ip = _dumps(request.ip)
        geo = decision.geo
        if geo.address.not_routable is not None:
            network = _json_text(geo.address.special_network)
        elif len(geo.evidence) == 1:
            network = '"' + geo.evidence[0].network + '"'
        else:
            network = _json_text(geo.network)
    model, account_id, tier = request.model, request.account_id, request.account_tier
    if model is None and account_id is None and tier is None:
        middle = p[9]
    else:
        middle = (
            f"{p[3]}{'null' if model is None else _dumps(model)}{p[4]}"
            f"{'null' if account_id is None else _dumps(account_id)}{p[5]}"
            f"{'null' if tier is None else _dumps(tier)}{p[6]}"
        )
    return (
        f'{p[0]}"{decision.ids.format(decision.sequence, ns)}"{p[1]}'
        f'"{stamp}{_MILLIS[ns // 1_000_000 % 1000]}"{p[2]}"{evaluated_stamp}"{middle}'
        f"{ip}{p[7]}{network}{p[8]}"
    )


def _network_json(place: Place, ip: str) -> str:
    network = place.network_for(ip)
    return "null" if network is None else '"' + network + '"'
