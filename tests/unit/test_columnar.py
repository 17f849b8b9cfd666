"""The columnar engine against the per-request engine: the same decisions, field for field."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from regiongate.batch import request_from_row
from regiongate.columnar import ColumnarEngine, intervals
from regiongate.columnar.records import jsonl_text, record_dicts
from regiongate.engine import Engine
from regiongate.errors import RegiongateError
from regiongate.geo import DEFAULT_DATABASE, GeoDatabase, Geolocator
from regiongate.policy import PolicySet
from regiongate.serialize import decision_record

NOW_S = 1_790_000_000  # 2026-09-21: the clock every run here is given
COMBINATIONS = (
    ("dbip",),
    ("flat",),
    ("city",),
    ("city", "anonymous", "asn"),
    ("country", "anonymous"),
    ("anonymous", "city"),
    ("asn", "flat"),
    ("geolite_city", "country", "asn"),
)
PROVIDERS = (
    "openai",
    "anthropic",
    "azure_openai",
    "aws_bedrock",
    "google_gemini",
    "deepseek",
    "azure_openai_china",
)

_engines: dict[tuple[str, ...], tuple[Engine, ColumnarEngine]] = {}


def _engines_for(
    combo: tuple[str, ...], geo_dbs: dict[str, Path], policies: PolicySet, cache: Path
) -> tuple[Engine, ColumnarEngine]:
    pair = _engines.get(combo)
    if pair is None:
        paths = [DEFAULT_DATABASE if name == "dbip" else geo_dbs[name] for name in combo]
        geolocator = Geolocator([GeoDatabase(p) for p in paths])
        engine = Engine(policies, geolocator, clock=lambda: NOW_S * 1_000_000_000)
        pair = _engines[combo] = (engine, ColumnarEngine(engine, cache_dir=cache))
    return pair


def _v4(value: int) -> str:
    return socket.inet_ntop(socket.AF_INET, value.to_bytes(4))


def _v6(value: int) -> str:
    return socket.inet_ntop(socket.AF_INET6, value.to_bytes(16))


# Addresses inside the test databases' networks, and around them.
_BASES = [
    0x51024500,  # 81.2.69.0/24
    0x05000000,
    0x05000100,
    0x05000200,
    0x02000000,
    0x03000000,
    0x04000000,
    0x06000000,
    0x07000000,
    0x08000000,
    0x09000000,
    0x01020408,
    0xDFFF8000,  # 223.255.128.0 (HK in DB-IP)
    0x05090000,  # 5.9.0.0 (DE in DB-IP: Gemini's paid-tier rule)
]
v4_values = st.one_of(
    st.sampled_from(_BASES).flatmap(lambda b: st.integers(b, b + 511)),
    st.integers(0, 2**32 - 1),
)
v6_values = st.one_of(
    st.integers(0x2400CB00 << 96, (0x2400CB00 << 96) + 2**96 - 1),  # 2400:cb00::/32
    st.integers(0x20010DA8 << 96, (0x20010DA8 << 96) + 2**80),  # 2001:da8:: (CN)
    st.integers(1 << 125, (1 << 126) - 1),  # anywhere in 2000::/3
    st.integers(0, 2**128 - 1),
)
addresses = st.one_of(
    v4_values.map(_v4),
    v4_values.map(_v4),
    v6_values.map(_v6),
    v6_values.map(lambda v: _v6(v).upper()),
    v4_values.map(lambda v: f"::ffff:{_v4(v)}"),  # IPv4-mapped
    v4_values.map(lambda v: _v6(0x2002 << 112 | v << 80 | 1)),  # 6to4
    v4_values.map(lambda v: _v6(0x20010000 << 96 | (v ^ 0xFFFFFFFF))),  # Teredo
    v4_values.map(lambda v: _v6(0x64FF9B << 96 | v)),  # NAT64
    v4_values.map(lambda v: f"{_v4(v)}/32"),
    v4_values.map(lambda v: f"{_v4(v)}:8443"),
    v6_values.map(lambda v: f"[{_v6(v)}]:443"),
    v4_values.map(lambda v: f" {_v4(v)} "),
    st.sampled_from(
        [
            "10.1.2.3",
            "192.168.0.1",
            "127.0.0.1",
            "100.64.1.1",
            "169.254.9.9",
            "::1",
            "fe80::1",
            "fd00::5",
            "2001:db8::1",
            "ff02::1",
            "::",
            "1.2.3",
            "1.2.3.256",
            "01.2.3.4",
            "1.2.3.4/24",
            "::g",
            "abc",
            "",
            "1.2.3.4 5",
            "[::1",
            "fe80::1%eth0",
            "::ffff:10.0.0.1",
        ]
    ),
    st.text(max_size=12),
)
times = st.one_of(
    st.none(),
    st.none(),
    st.dates(min_value=__import__("datetime").date(2022, 1, 1)).map(lambda d: d.isoformat()),
    st.integers(1_640_000_000, 1_830_000_000).map(
        lambda s: (
            __import__("datetime")
            .datetime.fromtimestamp(s, __import__("datetime").UTC)
            .strftime("%Y-%m-%dT%H:%M:%SZ")
        )
    ),
    st.sampled_from(
        [
            "2024-07-09",
            "2024-07-08T23:59:59",
            "2024-07-09T00:00:00+00:00",
            "2025-07-01T02:00:00+02:00",
            "2024-02-30",
            "2024-13-01",
            "0999-01-01",
            "2024-01-01T12:00:00.750Z",
            "yesterday",
            " 2024-01-01 ",
            "2024-07-09T24:00:00",
            "",
        ]
    ),
)


def _fact(good: list[Any], bad: list[Any]) -> st.SearchStrategy[Any]:
    """Mostly not stated, often a valid value, now and then a refused one."""
    return st.one_of(st.none(), st.none(), st.sampled_from(good), st.sampled_from(good + bad))


rows = st.fixed_dictionaries(
    {
        "ip": st.one_of(addresses, st.none()),
        "provider": st.one_of(
            st.sampled_from(PROVIDERS), st.sampled_from(["skynet", ""]), st.none()
        ),
        "account_id": st.one_of(st.none(), st.sampled_from(["acct-1", 'q"uote', "ü\\x", ""])),
        "account_tier": st.one_of(
            st.none(), st.sampled_from(["pro", "enterprise", "free", "paid", "BAD", "a b", ""])
        ),
        "model": st.one_of(
            st.none(),
            st.sampled_from(["anthropic.claude-3", "us.anthropic.claude", "gpt-4o", "", "m\n"]),
        ),
        "time": times,
        # Account facts (issue 11), mostly valid (a refused one fails the row): each rule
        # over who the customer is, and the end user's country that Gemini's tier rule reads.
        "account_country": _fact(["US", "SG", "cn", "DE"], ["QQ", ""]),
        "parent_country": _fact(["CN", "US", "RU"], ["xx"]),
        "parent_ownership": _fact([0, 30.5, 50, 60, 100], [150, -1]),
        "verification": _fact(["verified", "unverified", "pending"], ["maybe"]),
        "contract": _fact(["azure_china", "azure_government"], ["Bad Name"]),
        "end_user_country": _fact(["DE", "CN", "US", "gb"], ["ZZ", ""]),
    }
)


def _row(ip: str, provider: str, tier: str | None = None, **facts: Any) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(ROW_KEYS, None)
    return {**row, "ip": ip, "provider": provider, "account_tier": tier, **facts}


ROW_KEYS = (
    "ip", "provider", "account_id", "account_tier", "model", "time", "account_country",
    "parent_country", "parent_ownership", "verification", "contract", "end_user_country",
)  # fmt: skip
# Rows where a tier or an account fact decides (always tried, besides the random ones).
FACT_ROWS = [
    _row("5.9.0.1", "google_gemini", "pro"),  # DE: Gemini's paid-tier rule reads the tier
    _row("5.9.0.1", "google_gemini", "paid"),
    _row("8.8.8.8", "google_gemini", "pro", end_user_country="DE"),  # the end user's country
    _row("8.8.8.8", "google_gemini", None, end_user_country="CN"),
    _row(
        "8.8.8.8", "anthropic", None, account_country="SG", parent_country="CN", parent_ownership=60
    ),
    _row("8.8.8.8", "anthropic", None, account_country="US", parent_ownership=0),
    _row("8.8.8.8", "anthropic"),
    _row("1.2.4.8", "azure_openai_china", None, contract="azure_china"),
    _row("8.8.8.8", "openai", "pro", model="o3", verification="verified"),
    _row("8.8.8.8", "openai", "pro", model="o3"),
    _row("8.8.8.8", "openai", "pro", model="gpt-4o", verification="unverified"),
    _row("8.8.8.8", "openai", "pro", model="o3", verification="unverified"),  # model-scoped
]
FACTS = ("account_country", "parent_country", "parent_ownership", "verification", "contract")


def _reference(engine: Engine, row: dict[str, Any], default: str | None) -> dict[str, Any] | str:
    """What the row-by-row path says for ``row``: its record, or its error message."""
    account = {"id": row["account_id"], "tier": row["account_tier"]}
    # An account object carries the facts under the request field names.
    account.update({name.removeprefix("account_"): row[name] for name in FACTS})
    shaped = {
        "ip": row["ip"],
        "provider": row["provider"],
        "account": {k: v for k, v in account.items() if v is not None},
        "model": row["model"],
        "time": row["time"],
        "end_user_country": row["end_user_country"],
    }
    try:
        decision = engine.decide(
            request_from_row({k: v for k, v in shaped.items() if v is not None}, default)
        )
    except RegiongateError as exc:
        return exc.message
    except ValueError as exc:
        return str(exc)
    record = decision_record(decision)
    del record["decision_id"]
    return record


@pytest.fixture(scope="module")
def interval_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("intervals")


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    combo=st.sampled_from(COMBINATIONS),
    batch=st.lists(rows, min_size=1, max_size=40),
    default=st.sampled_from([None, "anthropic"]),
    share_as_text=st.booleans(),
)
@example(combo=("dbip",), batch=FACT_ROWS, default=None, share_as_text=False)
def test_columnar_decisions_equal_the_per_request_engine_field_for_field(
    combo: tuple[str, ...],
    batch: list[dict[str, Any]],
    default: str | None,
    share_as_text: bool,
    geo_dbs: dict[str, Path],
    policies: PolicySet,
    interval_cache: Path,
) -> None:
    engine, columnar = _engines_for(combo, geo_dbs, policies, interval_cache)
    if share_as_text:  # a CSV-like text column (also "" and words), or numbers
        for row, extra in zip(batch, ["", "x", "60"] * len(batch), strict=False):
            share = row["parent_ownership"]
            row["parent_ownership"] = extra if share is None else str(share)
    share_type = pa.string() if share_as_text else pa.float64()
    schema = pa.schema(
        [(k, share_type if k == "parent_ownership" else pa.string()) for k in batch[0]]
    )
    table = pa.Table.from_pylist(batch, schema=schema)
    out = columnar.classify(table, default_provider=default, now_ns=NOW_S * 1_000_000_000)
    expected = [_reference(engine, row, default) for row in batch]
    errors = out.column("error").to_pylist()
    records = iter(record_dicts(out))
    lines = iter(json.loads(line) for line in jsonl_text(out).to_pylist())
    for row, want, error in zip(batch, expected, errors, strict=True):
        if isinstance(want, str):
            assert error == want, row
            continue
        assert error is None, (row, error)
        got, line = next(records), next(lines)
        assert line == got
        assert len(got.pop("decision_id")) == 36
        assert got == want, row


def test_decision_ids_are_uuid7_shaped_unique_and_time_ordered(
    engine: Engine, interval_cache: Path
) -> None:
    columnar = ColumnarEngine(engine, cache_dir=interval_cache)
    table = pa.table({"ip": ["8.8.8.8"] * 1000, "provider": ["openai"] * 1000})
    first = columnar.classify(table, now_ns=NOW_S * 10**9).column("decision_id").to_pylist()
    later = columnar.classify(table, now_ns=(NOW_S + 1) * 10**9).column("decision_id").to_pylist()
    assert len(set(first + later)) == 2000
    assert max(first) < min(later)
    assert all(i[14] == "7" and i[19] in "89ab" for i in first)


def test_interval_tables_agree_with_the_reader_including_misses(
    geo_dbs: dict[str, Path], interval_cache: Path
) -> None:
    """Every leaf's start address looks up to the leaf's record and prefix length."""
    import maxminddb

    for path in (geo_dbs["city"], geo_dbs["flat"], DEFAULT_DATABASE):
        tables = intervals.load(str(path), interval_cache)
        reader = maxminddb.open_database(str(path))
        for i in range(0, len(tables.v4), max(1, len(tables.v4) // 500)):
            start = int(tables.v4.start_lo[i])
            record, prefix = reader.get_with_prefix_len(_v4(start))
            depth = int(tables.v4.depth[i])
            assert prefix == (depth - 96 if depth > 32 and prefix <= 32 else depth)
            assert (record is None) == (int(tables.v4.record[i]) == tables.node_count)
        assert tables.v6 is not None
        for i in range(0, len(tables.v6), max(1, len(tables.v6) // 500)):
            start = int(tables.v6.start_hi[i]) << 64 | int(tables.v6.start_lo[i])
            record, prefix = reader.get_with_prefix_len(_v6(start))
            assert prefix == int(tables.v6.depth[i])
            assert (record is None) == (int(tables.v6.record[i]) == tables.node_count)
        reader.close()


def test_interval_tables_are_cached_on_disk_by_checksum(
    geo_dbs: dict[str, Path], tmp_path: Path
) -> None:
    first = intervals.load(str(geo_dbs["city"]), tmp_path)
    assert len(list(tmp_path.glob("*.npz"))) == 1
    again = intervals.load(str(geo_dbs["city"]), tmp_path)
    assert (again.v4.start_lo == first.v4.start_lo).all()
    assert again.node_count == first.node_count


def test_record_times_are_written_as_iso_time_writes_them() -> None:
    from regiongate.columnar.records import stamps
    from regiongate.ids import iso_time

    millis = [0, 1_790_000_000_123, -5, -30_610_224_000_000 + 5, 253_402_300_799_000, None]
    column = pa.array(millis, pa.timestamp("ms", tz="UTC"))
    assert stamps(column, millis=True).to_pylist() == [
        None if v is None else iso_time(v * 1_000_000) for v in millis
    ]
    seconds = [0, 1_790_000_000, -1, -62_135_596_800, None]  # the last: year 1
    column = pa.array(seconds, pa.timestamp("s", tz="UTC"))
    assert stamps(column, millis=False).to_pylist() == [
        None if v is None else iso_time(v * 1_000_000_000) for v in seconds
    ]
