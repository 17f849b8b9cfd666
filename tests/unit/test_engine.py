"""The engine's one entry point: clock injected, memo tables bounded, ids formatted alike."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st
from regiongate.engine import Engine
from regiongate.ids import DecisionIds, format_decision_id
from regiongate.policy import parse_instant
from regiongate.request import Request

FIXED_NS = parse_instant("2026-11-22T01:02:03Z") * 1_000_000_000 + 456_000_000


def test_the_clock_is_injected(engine: Engine) -> None:
    fixed = Engine(engine.policies, engine.geolocator, clock=lambda: FIXED_NS)
    decision = fixed.decide(Request("8.8.8.8", "openai"))
    assert decision.decided_at == "2026-11-22T01:02:03.456Z"
    assert decision.to_dict()["evaluated_at"] == "2026-11-22T01:02:03.000Z"


def test_memo_tables_are_bounded(engine: Engine) -> None:
    small = Engine(engine.policies, engine.geolocator, memo_size=3)
    ips = ["1.2.4.8", "8.8.8.8", "223.255.128.1", "81.2.69.1", "2001:da8::1", "::ffff:1.2.4.8"]
    for ip, provider in itertools.product(ips, ("openai", "anthropic", "deepseek")):
        small.decide(Request(ip, provider))
        small.decide(Request(ip, provider, account_tier="enterprise"))
        assert len(small._memo) <= 3 and len(small._by_place) <= 3
        assert all(len(table) <= 3 for table in small._by_place.values())


def test_decision_ids_never_repeat_within_an_engine(engine: Engine) -> None:
    fixed = Engine(engine.policies, engine.geolocator, clock=lambda: FIXED_NS)
    ids = {fixed.decide(Request("8.8.8.8", "openai")).decision_id for _ in range(1000)}
    assert len(ids) == 1000


@given(
    st.lists(
        st.tuples(st.integers(0, (1 << 80) - 1), st.integers(0, 1 << 62)), min_size=1, max_size=20
    )
)
def test_cached_id_formatting_equals_the_reference(calls: list[tuple[int, int]]) -> None:
    ids = DecisionIds(seed=0)
    for sequence, now_ns in calls + calls[::-1]:
        assert ids.format(sequence, now_ns) == format_decision_id(sequence, now_ns)


@given(st.lists(st.integers(parse_instant("2023-01-01"), parse_instant("2027-01-01")), max_size=30))
def test_the_shortcuts_segment_tables_agree_with_the_reference_path(instants: list[int]) -> None:
    engine = _shared_engine()
    for at in instants:
        for ip in ("1.2.4.8", "223.255.128.1", "8.8.8.8"):
            fast = engine.decide(Request(ip, "openai", at=at))
            geo = engine.geolocator.locate(ip)
            general = engine.decide(Request(ip, "openai", at=at), geo=geo)
            assert fast.place is not None and general.place is None
            assert fast.verdict == general.verdict, (ip, at)


def _shared_engine() -> Engine:
    from regiongate.engine import get_engine

    return get_engine()
