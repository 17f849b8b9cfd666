"""The columnar engine: an Arrow table of requests in, an Arrow table of decisions out.

Decisions over many rows repeat themselves: a million requests meet a few thousand places and
a few dozen providers. So the engine never decides a row on its own. Addresses become
integers (IPv4 parsed in Arrow, IPv6 by ``inet_pton``, odd forms by ``parse_address``, the
per-request parser); each database's interval table places every address with one
``searchsorted``; each distinct place is located once through the per-request geolocator, and
each distinct (place, provider, account tier, model, policy time segment) is decided once by
the per-request engine's ``Engine.verdict``. The answers are broadcast back to the rows with
``take``. What a row's decision says is therefore what ``Engine.decide`` says for it.

The verdict key is what ``Engine.verdict`` itself memoises on, in codes: a place's caller
facts (many places share them), the provider, the account tier where some rule can look at
it, the account facts, the model's rule signature (the policies, actions and scoped rules its
id selects) and the policy time segment.

Rows keep their order; a row that cannot be decided has its ``error`` (the message the
row-by-row path reports) and nulls elsewhere.
"""

from __future__ import annotations

import json
import socket
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from regiongate.account import END_USER_FIELD, AccountFacts, account_facts
from regiongate.addresses import SPECIAL_V4_RANGES, V6_GENERAL_RANGES, Address, parse_address
from regiongate.checks import CallerFacts, caller_facts
from regiongate.columnar import intervals
from regiongate.decision import Verdict
from regiongate.engine import MEMO_SIZE, Engine
from regiongate.errors import RegiongateError
from regiongate.geo import NOT_ROUTABLE, GeoResult
from regiongate.ids import DecisionIds, format_decision_id
from regiongate.policy import parse_instant
from regiongate.serialize import geo_facts
from regiongate.vocabulary import check_tier

Ints = npt.NDArray[np.int64]
Words = npt.NDArray[np.uint64]

# Account facts as flat columns (CSV's names): request field -> column.
FACT_COLUMNS = {
    "country": "account_country",
    "parent_country": "parent_country",
    "parent_ownership": "parent_ownership",
    "verification": "verification",
    "contract": "contract",
    END_USER_FIELD: END_USER_FIELD,
}
REQUEST_COLUMNS = (
    "ip",
    "provider",
    "account_id",
    "account_tier",
    "model",
    "time",
    *FACT_COLUMNS.values(),
)

# Columns with few distinct values are dictionary-encoded: built from one value per verdict or
# place without copying text per row, written as dictionaries to Parquet, encoded to JSON
# once per value.
_CODED = pa.dictionary(pa.int32(), pa.string())
DECISION_SCHEMA = pa.schema(
    [
        ("error", pa.string()),
        ("decision_id", pa.string()),
        ("decided_at", pa.timestamp("ms", tz="UTC")),
        ("evaluated_at", pa.timestamp("s", tz="UTC")),
        ("provider", _CODED),
        ("model", _CODED),
        ("account_id", pa.string()),
        ("account_tier", _CODED),
        ("account_facts", _CODED),  # the facts and their source, as JSON (or null)
        ("outcome", _CODED),
        ("reasons", pa.list_(pa.string())),
        ("rule", _CODED),
        ("alternatives", pa.list_(pa.string())),
        ("policy_version", _CODED),
        ("ip", pa.string()),
        ("network", pa.string()),
        ("status", _CODED),
        ("country", _CODED),
        ("subdivisions", pa.list_(pa.string())),
        ("subdivision_data", pa.bool_()),
        ("registered_country", _CODED),
        ("anonymizers", pa.list_(pa.string())),
        ("asn", pa.int64()),
        ("database", _CODED),
    ]
)

# JSON as the records write it (``serialize.decision_record`` through ``json``).
dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_OCTET = r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_V4_TEXT = rf"^({_OCTET}\.){{3}}{_OCTET}$"
# Timestamps the vectorised reader takes: a date, or a second-resolution UTC time.
_TIME_TEXT = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}(T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](Z|\+00:00)?)?$"
_MISSING_IP = "missing field 'ip'"
_MISSING_PROVIDER = "missing field 'provider' (or pass --provider)"
_MASK48 = (1 << 48) - 1
_MASK74 = (1 << 74) - 1
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
# Record fields that are the same for every row at one place (``serialize.geo_facts``).
GEO_COLUMNS = (
    "status",
    "country",
    "subdivisions",
    "subdivision_data",
    "registered_country",
    "anonymizers",
    "asn",
    "database",
)
_KIND_V4, _KIND_V6, _KIND_NOT_ROUTABLE, _KIND_ERROR = 0, 1, 2, 3


@dataclass(frozen=True, slots=True)
class _Places:
    """Where each row is: kind, lookup values, the leaf each database gave, and errors."""

    kind: npt.NDArray[np.int8]
    v4: Words
    hi: Words
    lo: Words
    special: dict[int, tuple[str, str]]  # row -> (category, network) for not-routable rows
    lookups: dict[int, Address]  # row -> parsed address, for rows the parser read
    errors: dict[int, str]


def _strings(column: pa.ChunkedArray | pa.Array | None, n: int) -> pa.Array:
    """A string column with empty strings as nulls (the row path treats them as absent)."""
    if column is None:
        return pa.nulls(n, pa.string())
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if not pa.types.is_string(array.type):
        array = array.cast(pa.string())
    return pc.if_else(pc.equal(array, ""), pa.scalar(None, pa.string()), array)


def _factorize(values: pa.Array) -> tuple[Ints, pa.Array]:
    """Small integer codes for a column (nulls get their own code, the last) and the
    distinct values in code order."""
    encoded = pc.dictionary_encode(values, null_encoding="encode")
    codes = encoded.indices.to_numpy(zero_copy_only=False)
    return codes.astype(np.int64), encoded.dictionary


def _combine(codes: list[Ints]) -> tuple[Ints, Ints]:
    """One code per distinct tuple of codes, and the first row holding each."""
    key = np.zeros(len(codes[0]), dtype=np.int64)
    span = 1  # key < span
    for column in codes:
        low = int(column.min(initial=0))
        width = int(column.max(initial=0)) - low + 1
        if span > (1 << 62) // width:  # mixed radix would overflow: renumber first
            key, _ = _factorize(pa.array(key))
            span = int(key.max(initial=-1)) + 1
        key = key * width + (column - low)
        span *= width
    key, _ = _factorize(pa.array(key))
    first = np.empty(int(key.max(initial=-1)) + 1, dtype=np.int64)
    rows = np.arange(len(key), dtype=np.int64)
    first[key[::-1]] = rows[::-1]
    return key, first


def _civil_days(year: Ints, month: Ints, day: Ints) -> Ints:
    """Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm)."""
    y = year - (month <= 2)
    era = np.floor_divide(y, 400)
    yoe = y - era * 400
    mp = (month + 9) % 12
    doy = (153 * mp + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    days: Ints = era * 146097 + doe - 719468
    return days


def _month_length(year: Ints, month: Ints) -> Ints:
    leap = ((year % 4 == 0) & (year % 100 != 0)) | (year % 400 == 0)
    lengths = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)
    result: Ints = lengths[np.clip(month, 1, 12) - 1] + ((month == 2) & leap)
    return result


def evaluation_times(
    column: pa.Array | pa.ChunkedArray | None, n: int, now: int
) -> tuple[Ints, dict[int, str]]:
    """Epoch seconds each row is evaluated as of (``now`` where the row gives no time) and the
    rows whose time cannot be read, with the message ``parse_instant`` gives.

    Strings take ``parse_instant``'s reading: dates and second-resolution UTC times are
    converted in bulk (checked field by field), anything else one distinct value at a time."""
    at = np.full(n, now, dtype=np.int64)
    errors: dict[int, str] = {}
    if column is None:
        return at, errors
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if pa.types.is_timestamp(array.type):
        unit = {"s": 1, "ms": 1000, "us": 1_000_000, "ns": 1_000_000_000}[array.type.unit]
        raw = array.cast(pa.int64()).to_numpy(zero_copy_only=False)
        valid = ~np.asarray(array.is_null().to_numpy(zero_copy_only=False), dtype=bool)
        values = np.nan_to_num(raw).astype(np.int64)
        seconds = np.where(values < 0, -((-values) // unit), values // unit)  # toward zero
        at[valid] = seconds[valid]
        return at, errors
    if pa.types.is_integer(array.type):
        valid = ~np.asarray(array.is_null().to_numpy(zero_copy_only=False), dtype=bool)
        at[valid] = np.nan_to_num(array.to_numpy(zero_copy_only=False)).astype(np.int64)[valid]
        return at, errors
    text = _strings(array, n)
    present = ~np.asarray(text.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    simple = pc.fill_null(pc.match_substring_regex(text, _TIME_TEXT), False).to_numpy(
        zero_copy_only=False
    )
    simple = np.asarray(simple, dtype=bool)
    rows = np.flatnonzero(simple)
    if rows.size:
        chosen = pc.take(text, pa.array(rows))
        padded = pc.utf8_slice_codeunits(
            pc.binary_join_element_wise(chosen, pa.scalar("T00:00:00"), ""), 0, 19
        )

        def part(start: int, stop: int) -> Ints:
            piece = pc.utf8_slice_codeunits(padded, start, stop).cast(pa.int64())
            return np.asarray(piece.to_numpy(zero_copy_only=False), dtype=np.int64)

        year, month, day = part(0, 4), part(5, 7), part(8, 10)
        good = (year >= 1) & (month >= 1) & (month <= 12) & (day >= 1)
        good &= day <= _month_length(year, month)
        seconds = _civil_days(year, month, day) * 86400 + part(11, 13) * 3600 + part(14, 16) * 60
        seconds += part(17, 19)
        at[rows[good]] = seconds[good]
        simple[rows[~good]] = False
    rest = np.flatnonzero(present & ~simple)
    if rest.size:
        parsed: dict[str, int | str] = {}
        for row, value in zip(
            rest.tolist(), pc.take(text, pa.array(rest)).to_pylist(), strict=True
        ):
            result = parsed.get(value)
            if result is None:
                try:
                    result = parse_instant(value)
                except ValueError as exc:
                    result = str(exc)
                parsed[value] = result
            if isinstance(result, str):
                errors[row] = result
            else:
                at[row] = result
    return at, errors


def _v6_general(hi: Words, lo: Words) -> npt.NDArray[np.bool_]:
    """Rows outside 2000::/3 or in a range that needs the full parser (special, embedded)."""
    general = (hi >> np.uint64(61)) != np.uint64(1)
    for start, end in V6_GENERAL_RANGES:
        s_hi, s_lo = np.uint64(start >> 64), np.uint64(start & (2**64 - 1))
        e_hi, e_lo = np.uint64(end >> 64), np.uint64(end & (2**64 - 1))
        above = (hi > s_hi) | ((hi == s_hi) & (lo >= s_lo))
        below = (hi < e_hi) | ((hi == e_hi) & (lo <= e_lo))
        general |= above & below
    result: npt.NDArray[np.bool_] = general
    return result


def parse_addresses(ips: pa.Array) -> _Places:
    """Every row's address as a look-up key, exactly as ``parse_address`` reads it.

    Dotted IPv4 outside the special ranges is parsed in bulk; text ``inet_pton`` reads as a
    plain global-unicast IPv6 address in a loop; every other form goes to ``parse_address``."""
    n = len(ips)
    kind = np.full(n, _KIND_ERROR, dtype=np.int8)
    v4 = np.zeros(n, dtype=np.uint64)
    hi = np.zeros(n, dtype=np.uint64)
    lo = np.zeros(n, dtype=np.uint64)
    special: dict[int, tuple[str, str]] = {}
    lookups: dict[int, Address] = {}
    errors: dict[int, str] = {}
    missing = np.asarray(ips.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    dotted = np.asarray(
        pc.fill_null(pc.match_substring_regex(ips, _V4_TEXT), False).to_numpy(zero_copy_only=False),
        dtype=bool,
    )
    rows = np.flatnonzero(dotted)
    if rows.size:
        octets = pc.list_flatten(pc.split_pattern(pc.take(ips, pa.array(rows)), "."))
        parts = np.asarray(octets.cast(pa.uint64()).to_numpy(zero_copy_only=False)).reshape(-1, 4)
        values = parts[:, 0] << np.uint64(24) | parts[:, 1] << np.uint64(16)
        values |= parts[:, 2] << np.uint64(8) | parts[:, 3]
        odd = np.zeros(rows.size, dtype=bool)
        for start, end in SPECIAL_V4_RANGES:
            odd |= (values >= np.uint64(start)) & (values <= np.uint64(end))
        v4[rows[~odd]] = values[~odd]
        kind[rows[~odd]] = _KIND_V4
        dotted[rows[odd]] = False
    colon = np.asarray(
        pc.fill_null(pc.match_substring(ips, ":"), False).to_numpy(zero_copy_only=False), dtype=bool
    )
    rows = np.flatnonzero(colon & ~dotted)
    slow: list[int] = np.flatnonzero(~dotted & ~colon & ~missing).tolist()
    if rows.size:
        pton, inet6 = socket.inet_pton, socket.AF_INET6
        texts = pc.take(ips, pa.array(rows)).to_pylist()
        packed = bytearray(16 * rows.size)
        readable = np.zeros(rows.size, dtype=bool)
        for i, text in enumerate(texts):
            try:
                packed[16 * i : 16 * i + 16] = pton(inet6, text)
            except (OSError, ValueError):
                continue
            readable[i] = True
        words = np.frombuffer(bytes(packed), dtype=">u8").astype(np.uint64).reshape(-1, 2)
        plain = readable & ~_v6_general(words[:, 0], words[:, 1])
        hi[rows[plain]], lo[rows[plain]] = words[plain, 0], words[plain, 1]
        kind[rows[plain]] = _KIND_V6
        slow.extend(rows[~plain].tolist())
    if slow:
        for row, text in zip(
            slow, pc.take(ips, pa.array(slow, pa.int64())).to_pylist(), strict=True
        ):
            try:
                address = parse_address(text)
            except RegiongateError as exc:
                errors[row] = exc.message
                continue
            lookups[row] = address
            if address.not_routable is not None:
                kind[row] = _KIND_NOT_ROUTABLE
                special[row] = (address.not_routable, str(address.special_network))
            elif address.version == 4:
                kind[row] = _KIND_V4
                v4[row] = int.from_bytes(socket.inet_pton(socket.AF_INET, address.lookup))
            else:
                value = int.from_bytes(socket.inet_pton(socket.AF_INET6, address.lookup))
                kind[row] = _KIND_V6
                hi[row], lo[row] = value >> 64, value & (2**64 - 1)
    for row in np.flatnonzero(missing).tolist():
        errors[row] = _MISSING_IP
    return _Places(kind, v4, hi, lo, special, lookups, errors)


def _decision_ids(first_sequence: int, n: int, now_ns: int) -> pa.Array:
    """``format_decision_id`` for sequences ``first_sequence ..`` at ``now_ns``, in bulk:
    the first 24 characters only change when the sequence's high bits do."""
    chunks: list[npt.NDArray[np.uint8]] = []
    done = 0
    while done < n:
        sequence = first_sequence + done
        low = sequence & _MASK48
        take = min(n - done, (1 << 48) - low)
        prefix = np.frombuffer(format_decision_id(sequence, now_ns)[:24].encode(), dtype=np.uint8)
        lows = np.uint64(low) + np.arange(take, dtype=np.uint64)
        shifts = np.arange(44, -1, -4, dtype=np.uint64)
        digits = _HEX[((lows[:, None] >> shifts) & np.uint64(0xF)).astype(np.intp)]
        chunk = np.empty((take, 36), dtype=np.uint8)
        chunk[:, :24] = prefix
        chunk[:, 24:] = digits
        chunks.append(chunk.reshape(-1))
        done += take
    data = np.concatenate(chunks) if chunks else np.zeros(0, np.uint8)
    offsets = np.arange(0, 36 * (n + 1), 36, dtype=np.int32)
    return pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(data)])


def _fact_column(requests: pa.Table | pa.RecordBatch, name: str, n: int) -> pa.Array:
    """A fact column as given; nulls and empty text are not stated (absent: all nulls)."""
    if name not in requests.schema.names:
        return pa.nulls(n, pa.string())
    column = requests.column(name)
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if pa.types.is_null(array.type):
        return pa.nulls(n, pa.string())
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    if pa.types.is_string(array.type) or pa.types.is_large_string(array.type):
        return _strings(array, n)  # empty text is not stated
    return array


def _account_facts(
    requests: pa.Table | pa.RecordBatch, n: int, source: str
) -> tuple[Ints, list[AccountFacts | None], dict[int, str]]:
    """Per row a code for its account facts, the facts per code (the last code: none
    stated) and the codes whose values ``account.account_facts`` refuses, with its message.
    Each distinct combination of values is read once, by ``account_facts`` itself."""
    names = [name for name in FACT_COLUMNS.values() if name in requests.schema.names]
    if not names:
        return np.zeros(n, dtype=np.int64), [None], {}
    columns = [_fact_column(requests, name, n) for name in names]
    encoded = [_factorize(column) for column in columns]
    key, first = _combine([codes for codes, _ in encoded])
    values = [[*dictionary.to_pylist(), None] for _, dictionary in encoded]
    facts: list[AccountFacts | None] = []
    errors: dict[int, str] = {}
    fields = {column: field for field, column in FACT_COLUMNS.items()}
    for code, row in enumerate(first.tolist()):
        stated = {fields[name]: values[i][encoded[i][0][row]] for i, name in enumerate(names)}
        end_user = stated.pop(END_USER_FIELD, None)
        try:
            facts.append(account_facts(stated, end_user, source))
        except RegiongateError as exc:
            facts.append(None)
            errors[code] = exc.message
    # Rows with nothing stated share one code: the last, as the engine's other codes do.
    none = len(facts)
    facts.append(None)
    nothing = np.array([f is None and c not in errors for c, f in enumerate(facts)])
    key = np.where(nothing[key], none, key)
    return key, facts, errors


@dataclass(frozen=True, slots=True)
class _PlaceAnswer:
    """What one distinct place contributes to a record (from the per-request geolocator)."""

    geo: GeoResult
    source: int | None  # database whose network the record cites


class ColumnarEngine:
    """Decides Arrow tables of requests with the same answers as ``engine``, row for row.

    Interval tables are read once per database (and cached on disk by checksum); network
    texts are kept per leaf as they are first needed."""

    def __init__(self, engine: Engine, cache_dir: Path | None = None) -> None:
        geolocator = engine.geolocator
        if geolocator is None:
            raise ValueError("the columnar engine needs an engine with a geolocator")
        self.engine = engine
        self.geolocator = geolocator
        self.tables = [intervals.load(db.path, cache_dir) for db in geolocator.databases]
        points: set[int] = set()
        for policy in (*engine.policies.providers.values(), *engine.policies.baselines):
            points |= policy.breakpoints()
        self._breakpoints = np.array(sorted(points), dtype=np.int64)
        # Where a rule can look at the account tier: an account condition's countries, a
        # tier rule's user countries (a tier rule with none looks everywhere).
        every = (*engine.policies.providers.values(), *engine.policies.baselines)
        tier_countries = {c for p in every for cond in p.account_conditions for c in cond.countries}
        self._tier_everywhere = False
        for policy in every:
            for rule in policy.account_rules:
                if rule.require == "fact" and rule.fact == "tier":
                    tier_countries |= rule.user_countries
                    self._tier_everywhere |= not rule.user_countries
        self._tier_countries = frozenset(tier_countries)
        # Subdivisions a rule can name: elsewhere a place's subdivisions change no verdict
        # (the subdivision step reads only these codes and these countries' exclusions).
        codes = {e.code for p in every if p.subdivisions for e in p.subdivisions.excluded}
        self._subdivision_codes = frozenset(codes)
        self._subdivision_countries = frozenset(code[:2] for code in codes)
        # Every leaf's network text, all databases end to end, then special ranges as met.
        self._offsets = np.cumsum([0, *(len(t.networks) for t in self.tables)])[:-1].tolist()
        self._pool: pa.Array = pa.concat_arrays([t.networks for t in self.tables])
        self._extra: dict[str, int] = {}
        self._sequence = DecisionIds().next_sequence()  # a random start, as engines have
        # Verdicts by key (caller facts, provider, tier, account facts, model signature,
        # segment): a file's chunks meet the same keys again. Emptied when full.
        self._verdicts: dict[tuple[Any, ...], tuple[Verdict | None, str | None]] = {}
        self._lock = threading.Lock()

    def _reserve(self, n: int) -> int:
        with self._lock:
            first = self._sequence
            self._sequence += n
        return first & _MASK74

    def classify(
        self,
        requests: pa.Table | pa.RecordBatch,
        *,
        default_provider: str | None = None,
        now_ns: int | None = None,
        facts_source: str = "batch-file",
    ) -> pa.Table:
        """Decide every row of ``requests`` (columns ``ip``, and any of ``provider``,
        ``account_id``, ``account_tier``, ``model``, ``time``: string, or for ``time`` also
        a timestamp or epoch seconds; and the account facts of ``FACT_COLUMNS``, as the
        caller stated them, recorded as stated by ``facts_source``). Rows without ``time``
        are evaluated as of ``now_ns`` (default: the clock), which is also every decision's
        ``decided_at``."""
        if now_ns is None:
            now_ns = self.engine.clock()
        now = now_ns // 1_000_000_000
        n = requests.num_rows
        names = set(requests.schema.names)
        if "ip" not in names:
            raise ValueError("requests need an 'ip' column")

        def column(name: str) -> Any:
            return requests.column(name) if name in names else None

        ips = _strings(column("ip"), n)
        provider = _strings(column("provider"), n)
        if default_provider:
            provider = pc.fill_null(provider, default_provider)
        account_id = _strings(column("account_id"), n)
        tier = _strings(column("account_tier"), n)
        model = _strings(column("model"), n)
        at, time_errors = evaluation_times(column("time"), n, now)
        fact_codes, facts, fact_errors = _account_facts(requests, n, facts_source)
        places = parse_addresses(ips)

        # Errors in the order the row path meets them: ip, provider, time, account facts,
        # tier, address (and, once decided, an unknown provider).
        error: dict[int, str] = {}
        for row in np.flatnonzero(
            np.asarray(provider.is_null().to_numpy(zero_copy_only=False), dtype=bool)
        ).tolist():
            error[row] = _MISSING_PROVIDER
        for row, message in time_errors.items():
            error.setdefault(row, message)
        for code, message in fact_errors.items():
            for row in np.flatnonzero(fact_codes == code).tolist():
                error.setdefault(row, message)
        tier_codes, tiers = _factorize(tier)
        for code, value in enumerate(tiers.to_pylist()):
            try:
                check_tier(value)
            except RegiongateError as exc:
                for row in np.flatnonzero(tier_codes == code).tolist():
                    error.setdefault(row, exc.message)
        for row, message in places.errors.items():
            if message == _MISSING_IP:
                error[row] = message
            else:
                error.setdefault(row, message)
        failed = np.zeros(n, dtype=bool)
        failed[list(error)] = True

        # Where: each database's leaf and record for every row, then distinct places.
        kind = places.kind.astype(np.int64)
        kind[failed] = _KIND_ERROR
        is_v4, is_v6 = kind == _KIND_V4, kind == _KIND_V6
        leaves: list[Ints] = []
        records: list[Ints] = []
        for table in self.tables:
            leaf = np.full(n, -1, dtype=np.int64)
            record = np.full(n, -1, dtype=np.int64)
            leaf[is_v4] = table.find_v4(places.v4[is_v4])
            record[is_v4] = table.v4.record[leaf[is_v4]]
            if table.v6 is not None:
                found = table.find_v6(places.hi[is_v6], places.lo[is_v6])
                leaf[is_v6] = found
                record[is_v6] = table.v6.record[found]
            leaves.append(leaf)
            records.append(record)
        place, place_first = _combine([kind, *records])
        answers = [self._answer(int(row), places, ips) for row in place_first.tolist()]

        # What: one verdict per distinct caller facts of a place, provider, tier, account
        # facts, model signature and time segment. A tier only counts where a rule can look
        # at it (the place's country or the end user's): elsewhere the verdict is the same
        # without it.
        segment = np.searchsorted(self._breakpoints, at, side="right").astype(np.int64)
        provider_codes, providers = _factorize(provider)
        model_codes, models = _factorize(model)
        provider_list = providers.to_pylist()
        tier_list, model_list = [*tiers.to_pylist(), None], [*models.to_pylist(), None]
        located: dict[CallerFacts, int] = {}
        place_facts = np.array(
            [
                -1 if a is None else located.setdefault(self._verdict_facts(a.geo), len(located))
                for a in answers
            ],
            dtype=np.int64,
        )
        where = list(located)
        if self._tier_everywhere:
            tier_matters = np.ones(n, dtype=bool)
        else:
            countries = self._tier_countries
            by_place = np.array(
                [a is not None and a.geo.country in countries for a in answers], dtype=bool
            )
            by_facts = np.array(
                [f is not None and f.end_user_country in countries for f in facts],
                dtype=bool,
            )
            tier_matters = by_place[place] | by_facts[fact_codes]
        given_tiers = (tier_codes, tiers)
        tier_codes = np.where(tier_matters, tier_codes, len(tier_list) - 1)
        signature, signatures = self._model_signatures(
            provider_codes, provider_list, model_codes, model_list
        )
        key, key_first = _combine(
            [
                place_facts[place],
                provider_codes,
                tier_codes,
                fact_codes,
                signature,
                np.where(failed, -1, segment) + 1,
            ]
        )
        verdicts: list[Verdict | None] = []
        key_error: list[str | None] = []
        located_key = np.where(failed, -1, place_facts[place])
        picked = [
            array[key_first].tolist()
            for array in (
                located_key, provider_codes, tier_codes, fact_codes, signature, segment,
                model_codes, at,
            )
        ]  # fmt: skip
        memo, verdict_of = self._verdicts, self.engine.verdict
        for where_code, p_code, t_code, f_code, s_code, seg, m_code, when in zip(
            *picked, strict=True
        ):
            if where_code < 0:
                verdicts.append(None)
                key_error.append(None)
                continue
            # Kept across calls (chunks of one file meet the same keys again).
            memo_key = (where[where_code], provider_list[p_code], tier_list[t_code],
                        facts[f_code], signatures[s_code], seg)  # fmt: skip
            hit = memo.get(memo_key)
            if hit is None:
                try:
                    hit = (
                        verdict_of(
                            provider_list[p_code],
                            where[where_code]._replace(
                                tier=tier_list[t_code], account=facts[f_code]
                            ),
                            when,
                            model_list[m_code],
                        ),
                        None,
                    )
                except RegiongateError as exc:
                    hit = (None, exc.message)
                if len(memo) >= MEMO_SIZE:
                    memo.clear()
                memo[memo_key] = hit
            verdicts.append(hit[0])
            key_error.append(hit[1])
        refused = np.array([m is not None for m in key_error], dtype=bool)[key] & ~failed
        for row in np.flatnonzero(refused).tolist():
            error[row] = str(key_error[key[row]])
        failed = np.zeros(n, dtype=bool)
        failed[list(error)] = True
        return self._assemble(
            n, now_ns, failed, error, at, ips, (provider_codes, providers),
            (model_codes, models), account_id, given_tiers, (fact_codes, facts), places,
            leaves, place, answers, key, verdicts,
        )  # fmt: skip

    def _verdict_facts(self, geo: GeoResult) -> CallerFacts:
        """A place's caller facts as far as any rule reads them: subdivisions (and whether
        the data has any, which no rule reads) only where a subdivision rule can name them."""
        facts = caller_facts(geo, None)
        if facts.country in self._subdivision_countries or not self._subdivision_codes.isdisjoint(
            facts.subdivisions
        ):
            return facts._replace(subdivision_data=False)
        return facts._replace(subdivisions=(), subdivision_data=False)

    def _model_signatures(
        self,
        provider_codes: Ints,
        provider_list: list[str | None],
        model_codes: Ints,
        model_list: list[str | None],
    ) -> tuple[Ints, list[tuple[Any, ...]]]:
        """Per row, a code for what its model selects of its provider's policy (the other
        policies, the deciding actions and the scoped account rules): ``Engine.verdict``
        answers alike for models with one signature. No model has its own code. Also the
        signatures, by code."""
        pair, pair_first = _combine([provider_codes, model_codes])
        codes: dict[tuple[Any, ...], int] = {}
        per_pair = np.empty(len(pair_first), dtype=np.int64)
        providers = self.engine.policies.providers
        for index, row in enumerate(pair_first.tolist()):
            name = provider_list[provider_codes[row]]
            chosen = model_list[model_codes[row]]
            policy = providers.get(name) if name is not None else None
            if chosen is None or policy is None:
                found: tuple[Any, ...] = ()
            else:
                found = (
                    "model",
                    policy.model_policies(chosen),
                    policy.model_actions(chosen),
                    policy.scoped_rules(chosen),
                )
            per_pair[index] = codes.setdefault(found, len(codes))
        result: Ints = per_pair[pair]
        return result, list(codes)

    def _answer(self, row: int, places: _Places, ips: pa.Array) -> _PlaceAnswer | None:
        """The per-request geolocator's answer for the place of ``row``."""
        kind = int(places.kind[row])
        if kind == _KIND_ERROR or row in places.errors:
            return None
        address = places.lookups.get(row)
        if address is None:
            raw = str(ips[row].as_py())
            if kind == _KIND_V4:
                address = Address(
                    raw, socket.inet_ntop(socket.AF_INET, int(places.v4[row]).to_bytes(4)), 4
                )
            else:
                value = int(places.hi[row]) << 64 | int(places.lo[row])
                address = Address(raw, socket.inet_ntop(socket.AF_INET6, value.to_bytes(16)), 6)
        if address.not_routable is not None:
            return _PlaceAnswer(GeoResult(address, NOT_ROUTABLE), None)
        geo = self.geolocator.locate_address(address)
        source = geo.country_evidence()
        index = next((i for i, e in enumerate(geo.evidence) if e is source), None)
        return _PlaceAnswer(geo, index)

    def _networks(self, n: int, failed: npt.NDArray[np.bool_], places: _Places, leaves: list[Ints],
                  place: Ints, answers: list[_PlaceAnswer | None]) -> pa.Array:  # fmt: skip
        """Each row's network: the leaf of the database that gave the country, or the special
        range of a not-routable address."""
        source = np.array([-1 if a is None or a.source is None else a.source for a in answers])
        row_source = source[place]
        index = np.full(n, -1, dtype=np.int64)
        kind = places.kind
        for db, table in enumerate(self.tables):
            base = self._offsets[db]
            mine = (row_source == db) & ~failed
            v4_rows = mine & (kind == _KIND_V4)
            index[v4_rows] = base + leaves[db][v4_rows]
            v6_rows = mine & (kind == _KIND_V6)
            if table.v6 is None:  # an IPv4-only database answers IPv6 with prefix 0: "::/0"
                index[v6_rows] = base + len(table.v4)
            else:
                index[v6_rows] = base + len(table.v4) + leaves[db][v6_rows]
        for row, (_, network) in places.special.items():
            if not failed[row]:
                found = self._extra.get(network)
                if found is None:
                    found = self._extra[network] = len(self._pool)
                    self._pool = pa.concat_arrays([self._pool, pa.array([network], pa.string())])
                index[row] = found
        return pc.take(self._pool, pa.array(index, mask=index < 0))

    def _assemble(
        self,
        n: int,
        now_ns: int,
        failed: npt.NDArray[np.bool_],
        error: dict[int, str],
        at: Ints,
        ips: pa.Array,
        provider: tuple[Ints, pa.Array],
        model: tuple[Ints, pa.Array],
        account_id: pa.Array,
        tier: tuple[Ints, pa.Array],
        stated: tuple[Ints, list[AccountFacts | None]],
        places: _Places,
        leaves: list[Ints],
        place: Ints,
        answers: list[_PlaceAnswer | None],
        key: Ints,
        verdicts: list[Verdict | None],
    ) -> pa.Table:
        good = ~failed
        mask = pa.array(failed)

        def hide(array: pa.Array) -> pa.Array:
            return pc.if_else(mask, pa.scalar(None, array.type), array) if failed.any() else array

        def per(values: list[Any], codes: Ints, kind: pa.DataType) -> pa.Array:
            if kind == _CODED:
                absent = np.array([v is None for v in values], dtype=bool)
                indices = pa.array(codes.astype(np.int32), mask=failed | absent[codes])
                text = pa.array(["" if v is None else v for v in values], pa.string())
                return pa.DictionaryArray.from_arrays(indices, text)
            return pc.take(pa.array(values, kind), pa.array(codes, mask=failed))

        def coded(factorized: tuple[Ints, pa.Array]) -> pa.Array:
            """A column the engine factorized already (``_factorize``: a null code)."""
            codes, values = factorized
            return per(values.to_pylist(), codes, _CODED)

        errors = [None] * n
        for row, message in error.items():
            errors[row] = message  # type: ignore[call-overload]
        ids = _decision_ids(self._reserve(n), n, now_ns)
        if failed.any():
            validity = pa.array(good).buffers()[1]
            ids = pa.Array.from_buffers(pa.string(), n, [validity, *ids.buffers()[1:]])
        facts = [geo_facts(a.geo) if a is not None else None for a in answers]
        version = self.engine.policies.version
        strings = pa.list_(pa.string())
        columns: dict[str, pa.Array] = {
            "error": pa.array(errors, pa.string()),
            "decision_id": ids,
            "decided_at": pa.array(
                np.full(n, now_ns // 1_000_000), pa.timestamp("ms", tz="UTC"), mask=failed
            ),
            "evaluated_at": pa.array(at, pa.timestamp("s", tz="UTC"), mask=failed),
            "provider": coded(provider),
            "model": coded(model),
            "account_id": hide(account_id),
            "account_tier": coded(tier),
            "account_facts": per(
                [None if f is None else dumps(f.to_dict()) for f in stated[1]],
                stated[0],
                _CODED,
            ),
            "outcome": per([v.outcome if v else None for v in verdicts], key, _CODED),
            "reasons": per([list(v.reason_codes) if v else None for v in verdicts], key, strings),
            "rule": per([v.rule.rule_id if v else None for v in verdicts], key, _CODED),
            "alternatives": per(
                [[a.provider for a in v.alternatives] if v else None for v in verdicts],
                key,
                strings,
            ),
            "policy_version": per([version], np.zeros(n, dtype=np.int64), _CODED),
            "ip": hide(ips),
            "network": self._networks(n, failed, places, leaves, place, answers),
            **{
                name: per(
                    [f[name] if f else None for f in facts], place, DECISION_SCHEMA.field(name).type
                )
                for name in GEO_COLUMNS
            },
        }
        return pa.Table.from_pydict(columns, schema=DECISION_SCHEMA)
