"""Every fast path decides and records exactly as the reference path, over random input.

Fast paths: the network tables (``Geolocator.place_of`` / ``locate``'s cache, reference
``locate_address``), the verdict memos (reference: a fresh engine that has memoised nothing),
the batch row shortcut (reference: ``request_from_row`` then ``decide``) and the record
templates (reference: ``decision_record`` encoded by ``json``). Inputs: random rows, address
forms, database combinations (tests/geodb.py), account tiers, models and times; the clock is
injected, so the same instant is "now" on both sides.
"""

from __future__ import annotations

import io
import ipaddress
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import geodb
import pytest
from geodb import geoip2, write_mmdb
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from regiongate.addresses import parse_address
from regiongate.batch import Progress, classify_stream, request_from_row
from regiongate.decision import Decision
from regiongate.engine import Engine
from regiongate.errors import RegiongateError
from regiongate.geo import GeoDatabase, Geolocator
from regiongate.policy import PolicySet, parse_instant
from regiongate.request import Request
from regiongate.serialize import decision_record, record_json
from regiongate.vocabulary import check_tier

EXAMPLES = settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

BATCH_EXAMPLES = settings(EXAMPLES, max_examples=150)

# Database combinations: each layout alone, and the mixes a deployment uses. "split" is a
# Country database that lacks the country of some networks, ahead of a flat database that
# has it: the first database's evidence is then not the country's.
COMBINATIONS = [
    ("dbip",),
    ("city",),
    ("country",),
    ("flat",),
    ("city", "country"),
    ("country", "city"),
    ("city", "anonymous", "asn"),
    ("flat", "city", "anonymous"),
    ("split_country", "split_flat"),
    ("split_country", "split_flat", "anonymous", "asn"),
]

SPLIT_COUNTRY = {
    "11.0.0.0/24": geoip2("CN", continent="AS"),
    "11.0.1.0/24": {"continent": {"code": "AS"}},
    "11.0.2.0/24": geoip2("US", continent="NA"),
}
SPLIT_FLAT = {"11.0.1.0/25": {"country_code": "CN"}, "11.0.2.0/24": {"country_code": "US"}}
NETWORKS = {
    "city": geodb.CITY,
    "country": geodb.COUNTRY,
    "dbip": geodb.COUNTRY,
    "flat": geodb.FLAT,
    "anonymous": geodb.ANONYMOUS,
    "asn": geodb.ASN,
    "split_country": SPLIT_COUNTRY,
    "split_flat": SPLIT_FLAT,
}

KNOWN = [
    "81.2.69.1", "5.0.0.9", "5.0.1.1", "5.0.2.2", "2.0.0.1", "3.0.0.1", "4.0.0.1", "6.0.0.1",
    "7.0.0.1", "8.0.0.1", "9.1.2.3", "11.0.0.1", "11.0.1.1", "11.0.1.200", "11.0.2.1",
    "2400:cb00::1", "2400:CB00::1", "1.2.4.8", "8.8.8.8", "10.0.0.1", "127.0.0.1",
    "192.0.2.1", "::1", "fe80::1",
]  # fmt: skip


def address_forms(ip: str) -> st.SearchStrategy[str]:
    """The ways a client, header or event may write ``ip``."""
    forms = [ip]
    if ":" in ip:
        forms += [f"[{ip}]:443", ip.upper(), f"{ip}/128"]
    else:
        forms += [f"::ffff:{ip}", f"{ip}:8080", f"{ip}/32", f"[::ffff:{ip}]:1"]
    return st.sampled_from(forms)


ADDRESSES = st.one_of(
    st.sampled_from(KNOWN).flatmap(address_forms),
    st.ip_addresses(v=4).map(str).flatmap(address_forms),
    st.ip_addresses(v=6).map(str),
    st.sampled_from(["", "999.1.1.1", "1.2.3", "[::1", "x", "::ffff:999.0.0.1"]),
)


def addresses_for(combination: tuple[str, ...]) -> st.SearchStrategy[str]:
    """Mostly hosts inside the networks the combination's databases hold, in every form."""
    networks = sorted({n for name in combination for n in NETWORKS[name]})
    hosts = st.sampled_from(networks).flatmap(
        lambda net: st.integers(0, ipaddress.ip_network(net).num_addresses - 1).map(
            lambda i, net=net: str(ipaddress.ip_network(net)[i])
        )
    )
    return st.one_of(hosts.flatmap(address_forms), hosts, hosts, ADDRESSES)


PROVIDERS = st.sampled_from(
    ["openai", "anthropic", "azure_openai", "google_gemini", "deepseek", "aws_bedrock", "nope"]
)
TIERS = st.sampled_from([None, None, "enterprise", "standard", "pro", "Bad Tier"])
MODELS = st.sampled_from([None, None, "gpt-4.1", "claude-sonnet-4-5", "o3-mini"])
# Instants around the breakpoints the bundled policies have (2024-07-09 and later).
INSTANTS = st.integers(parse_instant("2023-01-01"), parse_instant("2027-12-31"))


@pytest.fixture(scope="module")
def engines(
    policies: PolicySet, geo_dbs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> dict[tuple[str, ...], tuple[Engine, list[int]]]:
    """One long-lived engine per database combination (its memos fill up across examples),
    each with a clock the test sets."""
    directory = tmp_path_factory.mktemp("split")
    paths = {
        **geo_dbs,
        "split_country": write_mmdb(
            directory / "split-country.mmdb", "GeoIP2-Country", SPLIT_COUNTRY
        ),
        "split_flat": write_mmdb(directory / "split-flat.mmdb", "ipdb", SPLIT_FLAT),
    }
    out = {}
    for combination in COMBINATIONS:
        now = [0]
        geolocator = Geolocator([GeoDatabase(paths[name]) for name in combination])
        out[combination] = (Engine(policies, geolocator, clock=lambda now=now: now[0]), now)
    return out


def outcome_of(call: Callable[[], Decision]) -> Decision | tuple[str, str]:
    """The decision, or the error's class and code: both paths must fail alike too."""
    try:
        return call()
    except RegiongateError as exc:
        return (type(exc).__name__, exc.code)


def same(a: Decision | tuple[str, str], b: Decision | tuple[str, str]) -> None:
    if isinstance(a, tuple) or isinstance(b, tuple):
        assert a == b
        return
    assert isinstance(a, Decision) and isinstance(b, Decision)
    assert without_id(a.to_dict()) == without_id(b.to_dict())
    assert without_id(json.loads(record_json(a))) == without_id(json.loads(record_json(b)))


def without_id(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k != "decision_id"}


def reference_record(decision: Decision) -> str:
    return json.dumps(decision_record(decision), ensure_ascii=False, separators=(",", ":"))


@EXAMPLES
@given(
    combination=st.sampled_from(COMBINATIONS),
    data=st.data(),
    provider=PROVIDERS,
    tier=TIERS,
    model=MODELS,
    at=st.one_of(st.none(), INSTANTS),
    now=INSTANTS,
    millis=st.integers(0, 999),
)
def test_shortcuts_and_memos_decide_and_record_exactly_as_the_reference_path(
    engines: dict[tuple[str, ...], tuple[Engine, list[int]]],
    policies: PolicySet,
    combination: tuple[str, ...],
    data: st.DataObject,
    provider: str,
    tier: str | None,
    model: str | None,
    at: int | None,
    now: int,
    millis: int,
) -> None:
    """Several addresses in a row with the same provider, account and time: the shape the
    memos and templates are keyed on, so a key that misses a fact shows as a wrong answer."""
    engine, clock = engines[combination]
    clock[0] = now * 1_000_000_000 + millis * 1_000_000
    for ip in data.draw(st.lists(addresses_for(combination), min_size=1, max_size=8)):
        decide_both_ways(engine, policies, Request(ip, provider, "acct-1", tier, model, at))


def decide_both_ways(engine: Engine, policies: PolicySet, request: Request) -> None:
    """Decide ``request`` through the fast paths and the reference path; they must agree."""
    # Fast: network tables and both verdict memos, warm from earlier examples.
    fast = outcome_of(lambda: engine.decide(request))
    # Reference: the address parsed and located in full, by an engine that memoised nothing.
    fresh = Engine(policies, engine.geolocator, clock=engine.clock)

    def reference_path() -> Decision:
        check_tier(request.account_tier)  # decide checks the tier before the address
        geo = engine.geolocator.locate_address(parse_address(request.ip))
        return fresh.decide(request, geo=geo)

    reference = outcome_of(reference_path)
    same(fast, reference)
    for decision in (fast, reference):
        if isinstance(decision, Decision):
            # Record templates (per network answer, per geo shape) against plain json.
            assert record_json(decision) == reference_record(decision)


ROW_KEYS = {
    "ip": ADDRESSES,
    "provider": st.one_of(PROVIDERS, st.just(""), st.just(7)),
    "time": st.one_of(
        INSTANTS.map(lambda s: f"{s}"),
        st.sampled_from(["2024-07-01", "2024-07-10T00:00:00Z", "2026-01-01T12:00:00+08:00"]),
        st.just("not a time"),
        st.just(""),
    ),
    "account": st.one_of(
        st.just("acct-9"),
        st.fixed_dictionaries({"id": st.just("acct-2"), "tier": TIERS}),
        st.just(""),
        st.just(5),
    ),
    "account_id": st.sampled_from(["acct-3", ""]),
    "account_tier": TIERS.map(lambda t: t or ""),
    "model": MODELS.map(lambda m: m or ""),
    "colour": st.just("blue"),
}


@BATCH_EXAMPLES
@given(
    row=st.dictionaries(
        st.sampled_from(sorted(ROW_KEYS)), st.none(), min_size=1, max_size=4
    ).flatmap(lambda keys: st.fixed_dictionaries({k: ROW_KEYS[k] for k in keys})),
    default_provider=st.sampled_from([None, "openai"]),
    combination=st.sampled_from(COMBINATIONS[:5]),
    now=INSTANTS,
)
def test_the_batch_row_shortcut_decides_every_row_as_the_general_row_path(
    engines: dict[tuple[str, ...], tuple[Engine, list[int]]],
    row: dict[str, Any],
    default_provider: str | None,
    combination: tuple[str, ...],
    now: int,
) -> None:
    engine, clock = engines[combination]
    clock[0] = now * 1_000_000_000
    out, errors = io.StringIO(), io.StringIO()
    classify_stream(
        engine,
        io.StringIO(json.dumps(row) + "\n"),
        out,
        "jsonl",
        default_provider,
        Progress(None, enabled=False),
        errors,
    )
    try:
        expected: Any = record_json(engine.decide(request_from_row(row, default_provider)))
    except (RegiongateError, ValueError):
        expected = None
    if expected is None:
        assert out.getvalue() == "" and errors.getvalue().startswith("line 1: "), row
    else:
        assert errors.getvalue() == "", row
        assert without_id(json.loads(out.getvalue())) == without_id(json.loads(expected)), row


def test_the_two_row_shortcut_reads_only_ip_and_provider(
    engines: dict[tuple[str, ...], tuple[Engine, list[int]]],
) -> None:
    """Issue 14's two drifts: a two-key row that is not {ip, provider} kept its other key."""
    engine, clock = engines[("dbip",)]
    clock[0] = parse_instant("2026-11-23T12:00:00Z") * 1_000_000_000
    out = io.StringIO()
    rows = [{"ip": "1.2.4.8", "time": "2024-07-01"}, {"ip": "8.8.8.8", "account": "acct-9"}]
    classify_stream(
        engine,
        io.StringIO("".join(json.dumps(r) + "\n" for r in rows)),
        out,
        "jsonl",
        "openai",
        Progress(None, enabled=False),
        io.StringIO(),
    )
    before_enforcement, with_account = (json.loads(line) for line in out.getvalue().splitlines())
    assert before_enforcement["evaluated_at"] == "2024-07-01T00:00:00.000Z"
    assert before_enforcement["outcome"] == "review"  # as of then, not now (reroute)
    assert with_account["account"] == {"id": "acct-9", "tier": None}


def test_records_cite_the_database_that_gave_the_country(
    engines: dict[tuple[str, ...], tuple[Engine, list[int]]],
) -> None:
    """Country first, flat second: a network the first database has no country for is
    placed by the second, and its record must say so, even when a record of the same shape
    from the first database was encoded just before."""
    engine, clock = engines[("split_country", "split_flat")]
    clock[0] = parse_instant("2026-11-23T12:00:00Z") * 1_000_000_000
    for ip in ("11.0.0.1", "11.0.1.1"):  # both CN; the second from the flat database
        # A model makes the request skip the network shortcut (the per-shape templates).
        decision = engine.decide(Request(ip, "openai", model="gpt-4.1"))
        assert record_json(decision) == reference_record(decision)
    assert json.loads(record_json(decision))["geo"]["database"].startswith("split-flat.mmdb@")
