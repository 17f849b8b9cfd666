"""Geolocation over MaxMind-format databases, with the evidence behind every answer.

One ``Geolocator`` combines any number of databases (country or city, anonymous-IP, ASN);
readers are opened once per process through ``open_geolocator`` and shared. The record
layouts understood are GeoIP2/GeoLite2 Country, City and Enterprise, DB-IP Lite (same
layout), the flat ``country_code`` layout of ip-location-db, GeoIP2 Anonymous IP (and
Anonymous Plus) and GeoLite2 ASN. Layouts are recognised per record, by their keys.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import maxminddb

from regiongate.addresses import (
    SPECIAL_V4_RANGES,
    V6_GENERAL_RANGES,
    Address,
    network_of,
    parse_address,
)
from regiongate.errors import GeoDatabaseError

DEFAULT_DATABASE = Path(__file__).parent / "data" / "dbip-country-lite.mmdb"

# Anonymous-IP keys (present only when true) and the flag names decisions use.
ANONYMIZER_KEYS: dict[str, str] = {
    "is_anonymous": "anonymous",
    "is_anonymous_vpn": "vpn",
    "is_hosting_provider": "hosting",
    "is_public_proxy": "public_proxy",
    "is_residential_proxy": "residential_proxy",
    "is_tor_exit_node": "tor",
}

LOCATED, UNKNOWN, NOT_ROUTABLE = "located", "unknown", "not_routable"
_NO_FLAGS: frozenset[str] = frozenset()
_FLAT_FIELDS = ("country_code",)
_AF_INET = socket.AF_INET
_AF_INET6 = socket.AF_INET6
_inet_pton = socket.inet_pton
_inet_ntop = socket.inet_ntop


@dataclass(frozen=True, slots=True)
class DatabaseInfo:
    """What a decision cites about a database: where it is, what it is, when it was built."""

    path: str
    database_type: str
    build_date: str
    ip_version: int
    node_count: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": os.path.basename(self.path),
            "type": self.database_type,
            "build_date": self.build_date,
            "ip_version": self.ip_version,
        }

    @property
    def summary(self) -> dict[str, Any]:
        """``to_dict()`` computed once; callers must not mutate it."""
        cached = _SUMMARIES.get(self)
        if cached is None:
            cached = _SUMMARIES[self] = self.to_dict()
        return cached


_SUMMARIES: dict[DatabaseInfo, dict[str, Any]] = {}


@dataclass(slots=True)
class SourceEvidence:
    """One database's contribution to a result: the network it matched and the fields used."""

    database: DatabaseInfo
    prefix_len: int
    lookup: str
    fields: tuple[str, ...]

    @property
    def network(self) -> str:
        return network_of(self.lookup, self.prefix_len)

    def to_dict(self, network: str | None = None) -> dict[str, Any]:
        return {
            "database": self.database.summary,
            "network": network or self.network,
            "fields": list(self.fields),
        }


@dataclass(slots=True)
class GeoResult:
    """Where an address is, as far as the configured databases say, and why we think so.

    Treat as immutable; not frozen only because frozen dataclasses are slow to build."""

    address: Address
    status: str
    country: str | None = None
    registered_country: str | None = None
    represented_country: str | None = None
    continent: str | None = None
    subdivisions: tuple[str, ...] = ()
    anonymizers: frozenset[str] = frozenset()
    asn: int | None = None
    as_organization: str | None = None
    evidence: tuple[SourceEvidence, ...] = ()
    has_subdivision_data: bool = False

    @property
    def network(self) -> str | None:
        """The network matched by the database that decided the country (else the first)."""
        source = self.country_evidence()
        return source.network if source is not None else None

    def country_evidence(self) -> SourceEvidence | None:
        for item in self.evidence:
            if any("country" in name for name in item.fields):
                return item
        return self.evidence[0] if self.evidence else None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "ip": self.address.original,
            "lookup_ip": self.address.lookup,
            "status": self.status,
            "country": self.country,
        }
        if self.address.embedded_via:
            out["embedded_via"] = self.address.embedded_via
        if self.status == NOT_ROUTABLE:
            out["not_routable"] = {
                "category": self.address.not_routable,
                "network": self.address.special_network,
            }
            return out
        out.update(
            registered_country=self.registered_country,
            represented_country=self.represented_country,
            continent=self.continent,
            subdivisions=list(self.subdivisions),
            subdivision_data=self.has_subdivision_data,
            anonymizers=sorted(self.anonymizers),
            asn=self.asn,
            as_organization=self.as_organization,
        )
        source = self.country_evidence()
        network = source.network if source is not None else None
        out["network"] = network
        out["evidence"] = [e.to_dict(network if e is source else None) for e in self.evidence]
        return out


@dataclass(slots=True)
class _Facts:
    country: str | None = None
    registered_country: str | None = None
    represented_country: str | None = None
    continent: str | None = None
    subdivisions: tuple[str, ...] = ()
    anonymizers: set[str] = field(default_factory=set)
    asn: int | None = None
    as_organization: str | None = None


def _iso(section: Any) -> str | None:
    if isinstance(section, dict):
        code = section.get("iso_code")
        if isinstance(code, str) and len(code) == 2:
            return code.upper()
    return None


def read_record(record: dict[str, Any], facts: _Facts) -> tuple[str, ...]:
    """Fold one database record into ``facts``; return the names of the fields it supplied."""
    used: list[str] = []
    flat = record.get("country_code")
    if isinstance(flat, str) and len(flat) == 2 and facts.country is None:
        facts.country = flat.upper()
        used.append("country_code")
    country = _iso(record.get("country"))
    if country and facts.country is None:
        facts.country = country
        used.append("country.iso_code")
    registered = _iso(record.get("registered_country"))
    if registered and facts.registered_country is None:
        facts.registered_country = registered
        used.append("registered_country.iso_code")
    represented = _iso(record.get("represented_country"))
    if represented and facts.represented_country is None:
        facts.represented_country = represented
        used.append("represented_country.iso_code")
    continent = record.get("continent")
    if isinstance(continent, dict) and facts.continent is None:
        code = continent.get("code")
        if isinstance(code, str):
            facts.continent = code
            used.append("continent.code")
    subdivisions = record.get("subdivisions")
    if isinstance(subdivisions, list) and subdivisions and not facts.subdivisions:
        owner = country or facts.country
        codes = tuple(
            f"{owner}-{s['iso_code']}".upper()
            for s in subdivisions
            if isinstance(s, dict) and isinstance(s.get("iso_code"), str) and owner
        )
        if codes:
            facts.subdivisions = codes
            used.append("subdivisions.iso_code")
    traits = record.get("traits")
    for source in (record, traits if isinstance(traits, dict) else {}):
        for key, flag in ANONYMIZER_KEYS.items():
            if source.get(key) is True:
                facts.anonymizers.add(flag)
                used.append(key)
        asn = source.get("autonomous_system_number")
        if isinstance(asn, int) and facts.asn is None:
            facts.asn = asn
            used.append("autonomous_system_number")
            org = source.get("autonomous_system_organization")
            if isinstance(org, str):
                facts.as_organization = org
    return tuple(used)


class GeoDatabase:
    """One opened MaxMind-format database, read with the C extension."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = str(path)
        if not os.path.exists(self.path):
            raise GeoDatabaseError(self.path, "file not found")
        try:
            self._reader = maxminddb.open_database(self.path, maxminddb.MODE_MMAP_EXT)
        except ValueError as exc:
            if "extension" in str(exc).lower() or "MODE_MMAP_EXT" in str(exc):
                raise GeoDatabaseError(
                    self.path,
                    "the maxminddb C extension is not available; the pure-Python reader is "
                    "18x slower and is refused (reinstall maxminddb from a binary wheel)",
                ) from exc
            raise GeoDatabaseError(self.path, f"not a valid MaxMind DB: {exc}") from exc
        except Exception as exc:  # corrupt files raise many types; report them as one
            raise GeoDatabaseError(self.path, f"not a valid MaxMind DB: {exc}") from exc
        meta = self._reader.metadata()
        try:
            built = dt.datetime.fromtimestamp(meta.build_epoch, dt.UTC).date().isoformat()
        except (OverflowError, OSError, ValueError):
            built = "invalid"  # seen in the wild: build_epoch = UINT64_MAX
        self.info = DatabaseInfo(
            path=self.path,
            database_type=str(meta.database_type),
            build_date=built,
            ip_version=int(meta.ip_version),
            node_count=int(meta.node_count),
        )
        self.has_subdivisions = "City" in self.info.database_type or (
            "Enterprise" in self.info.database_type
        )
        self.get_with_prefix_len = self._reader.get_with_prefix_len

    def lookup(self, text: str) -> tuple[Any, int]:
        """The raw record and prefix length; corrupt data surfaces as GeoDatabaseError."""
        if self.info.ip_version == 4 and ":" in text:
            return None, 0  # an IPv4-only database knows nothing of IPv6 addresses
        try:
            return self.get_with_prefix_len(text)
        except Exception as exc:  # corrupt trees raise many types; report them as one
            raise GeoDatabaseError(self.path, f"corrupt data: {type(exc).__name__}: {exc}") from exc

    def close(self) -> None:
        self._reader.close()


@dataclass(frozen=True, slots=True, eq=False)
class Place:
    """What the databases say about an address, apart from the address itself: interned per
    facts and matched prefix lengths, so few exist and identity is a cheap memo key.

    ``template`` is the result for the first address seen; for another address with the same
    answer only the address (and so each evidence item's ``lookup``) differs. ``span`` is the
    longest prefix any database matched: the answer holds for the whole network that long."""

    template: GeoResult
    span: int
    network_prefix: int | None  # prefix matched by the database that gave the country
    facts: object  # shared by every Place with the same facts and country source (any prefixes)
    version: int = 4  # of the addresses it answers for
    networks: dict[int, str] = field(default_factory=dict, repr=False)  # wide ones, as text

    def network_for(self, ip: str) -> str | None:
        """The network the country came from for ``ip``, a plain address with this answer."""
        prefix = self.network_prefix
        if prefix is None:
            return None
        if self.version == 6:
            return network_of(_canonical_v6(ip), prefix)
        if prefix > 32:
            prefix -= 96
        shift = 32 - prefix
        value = int.from_bytes(_inet_pton(_AF_INET, ip)) >> shift
        text = self.networks.get(value)
        if text is None:
            text = f"{_inet_ntop(_AF_INET, (value << shift).to_bytes(4))}/{prefix}"
            if prefix <= 16:  # at most 65,536 of them, and each serves many callers
                self.networks[value] = text
        return text

    def geo_for(self, ip: str) -> GeoResult:
        """The full result for ``ip``, a plain routable address with this answer."""
        t = self.template
        address = Address(ip, ip, 4) if self.version == 4 else Address(ip, _canonical_v6(ip), 6)
        lookup = address.lookup
        return GeoResult(
            address,
            t.status,
            t.country,
            t.registered_country,
            t.represented_country,
            t.continent,
            t.subdivisions,
            t.anonymizers,
            t.asn,
            t.as_organization,
            tuple(SourceEvidence(e.database, e.prefix_len, lookup, e.fields) for e in t.evidence),
            t.has_subdivision_data,
        )


def _canonical_v6(text: str) -> str:
    return _inet_ntop(_AF_INET6, _inet_pton(_AF_INET6, text))


def _v6_general_keys() -> tuple[frozenset[int], frozenset[int]]:
    """First 16 and first 32 bits of global-unicast IPv6 space that the shortcut leaves to
    ``parse_address`` (special-purpose ranges, 6to4, Teredo)."""
    tops: set[int] = set()
    thirty_twos: set[int] = set()
    for start, end in V6_GENERAL_RANGES:
        if start >> 125 != 1:
            continue  # outside 2000::/3: never taken by the shortcut anyway
        if end - start + 1 >= 1 << 112:
            tops.update(range(start >> 112, (end >> 112) + 1))
        else:
            thirty_twos.update(range(start >> 96, (end >> 96) + 1))
    return frozenset(tops), frozenset(thirty_twos)


_V6_GENERAL_16, _V6_GENERAL_32 = _v6_general_keys()


def _flat_country(record: Any) -> Any:
    """The country of a flat ip-location-db record (``{"country_code": ...}`` alone), else
    None: the common record, read without the general layout walk."""
    if type(record) is dict and len(record) == 1:
        return record.get("country_code")
    return None


_SPLIT = object()  # in the /16 table: this /16 holds networks longer than /16
_GENERAL = object()  # in the /16 table: this /16 holds special-purpose ranges


def _blank_sixteens() -> list[object]:
    """The empty /16 table, with the /16s that hold special-purpose ranges marked."""
    table: list[object] = [None] * 65536
    for start, end in SPECIAL_V4_RANGES:
        for index in range(start >> 16, (end >> 16) + 1):
            table[index] = _GENERAL
    return table


_BLANK_SIXTEENS = _blank_sixteens()


class Geolocator:
    """Answers "where is this address?" from one or more databases, first answer wins."""

    def __init__(self, databases: list[GeoDatabase], cache_size: int = 65536) -> None:
        if not databases:
            raise GeoDatabaseError("(none)", "no geo database configured")
        self.databases = tuple(databases)
        self._has_subdivisions = any(db.has_subdivisions for db in databases)
        self._single = databases[0] if len(databases) == 1 else None
        self.cache_size = cache_size
        self._by16 = list(_BLANK_SIXTEENS)
        self._by24: dict[int, Place] = {}
        self._by48: dict[int, Place] = {}
        self._places: dict[tuple[Any, ...], Place] = {}
        self._flat_places: dict[tuple[str, int], Place] = {}
        self._facts: dict[tuple[Any, ...], object] = {}

    @property
    def infos(self) -> tuple[DatabaseInfo, ...]:
        return tuple(db.info for db in self.databases)

    def locate(self, raw_ip: str) -> GeoResult:
        """Locate an address string; raises InvalidAddressError for garbage."""
        place = self.place_of(raw_ip)
        if place is not None:
            return place.geo_for(raw_ip)
        return self.locate_address(parse_address(raw_ip))

    def place_of(self, raw_ip: str) -> Place | None:
        """The shared answer for a plain routable address (dotted IPv4, or global-unicast IPv6
        text); None for any other form (the caller then takes the general path through
        ``parse_address`` and ``locate_address``).

        Database answers hold for whole networks, and most of the IPv4 space sits in networks
        of /16 or wider, so answers are cached per matched network: a table of every /16 and
        bounded tables of /24s and of IPv6 /48s. A hit costs one ``inet_pton`` and a list or
        dictionary read instead of a tree walk and a record decode. Longer networks are not
        cached. ``cache_size`` bounds each bounded table (0 turns caching off); a table is
        emptied when full, which costs less than LRU upkeep.
        """
        try:
            if ":" in raw_ip:  # failing inet_pton(AF_INET) first would cost a raise
                return self._place_of_v6(raw_ip)
            value = int.from_bytes(_inet_pton(_AF_INET, raw_ip))
        except (OSError, TypeError, ValueError):
            return None
        entry = self._by16[value >> 16]
        if entry.__class__ is Place:
            return entry
        if entry is _SPLIT:
            found = self._by24.get(value >> 8)
            if found is not None:
                return found
        elif entry is _GENERAL:
            return None  # special-purpose ranges nearby: the general path decides
        return self._fill(raw_ip, value)

    def _place_of_v6(self, raw_ip: str) -> Place | None:
        """Plain global-unicast IPv6 text: answers cached per /48, bounded like the /24s."""
        try:
            packed = _inet_pton(_AF_INET6, raw_ip)
        except (OSError, TypeError, ValueError):
            return None
        value = int.from_bytes(packed)
        if value >> 125 != 1 or value >> 112 in _V6_GENERAL_16 or value >> 96 in _V6_GENERAL_32:
            return None
        place = self._by48.get(value >> 80)
        if place is None:
            place = self._intern(Address(raw_ip, _inet_ntop(_AF_INET6, packed), 6))
            if self.cache_size and place.span <= 48:
                if len(self._by48) >= self.cache_size:
                    self._by48.clear()
                self._by48[value >> 80] = place
        return place

    def _fill(self, raw_ip: str, value: int) -> Place:
        place = None
        single = self._single
        if single is not None:
            record, prefix = single.lookup(raw_ip)
            flat = _flat_country(record)
            if flat is not None:
                place = self._flat_places.get((flat, prefix))
                if place is None:
                    place = self._flat_places[flat, prefix] = self._intern(
                        Address(raw_ip, raw_ip, 4)
                    )
        if place is None:
            place = self._intern(Address(raw_ip, raw_ip, 4))
        if self.cache_size:
            if place.span <= 16:
                self._by16[value >> 16] = place
            else:
                self._by16[value >> 16] = _SPLIT
                if place.span <= 24:
                    if len(self._by24) >= self.cache_size:
                        self._by24.clear()
                    self._by24[value >> 8] = place
        return place

    def _intern(self, address: Address) -> Place:
        """The shared Place for a plain routable address, found the general way."""
        result = self.locate_address(address)
        version = address.version
        source = result.country_evidence()
        facts = (
            result.status,
            result.country,
            result.registered_country,
            result.represented_country,
            result.continent,
            result.subdivisions,
            result.anonymizers,
            result.asn,
            result.as_organization,
            # Which database answered the country: records cite it.
            next((i for i, e in enumerate(result.evidence) if e is source), None),
        )
        key = (version, *facts, tuple((e.prefix_len, e.fields) for e in result.evidence))
        place = self._places.get(key)
        if place is None:
            if len(self._places) >= 100_000:
                self._places.clear()
                self._flat_places.clear()
                self._facts.clear()
            spans = [
                e.prefix_len - 96 if version == 4 and e.prefix_len > 32 else e.prefix_len
                for e in result.evidence
            ]
            place = self._places[key] = Place(
                result,
                max(spans, default=0),
                source.prefix_len if source is not None else None,
                self._facts.setdefault(facts, object()),
                version,
            )
        return place

    def locate_address(self, address: Address) -> GeoResult:
        if address.not_routable is not None:
            return GeoResult(address, NOT_ROUTABLE)
        lookup = address.lookup
        single = self._single
        if single is not None:
            # Fast path for the common case: one flat country database.
            record, prefix = single.lookup(lookup)
            flat = _flat_country(record)
            if flat is not None:
                return GeoResult(
                    address,
                    LOCATED,
                    flat,
                    None,
                    None,
                    None,
                    (),
                    _NO_FLAGS,
                    None,
                    None,
                    (SourceEvidence(single.info, prefix, lookup, _FLAT_FIELDS),),
                    False,
                )
            answers = [(single, record, prefix)]
        else:
            answers = [(db, *db.lookup(lookup)) for db in self.databases]
        facts = _Facts()
        evidence: list[SourceEvidence] = []
        for db, record, prefix in answers:
            fields = read_record(record, facts) if isinstance(record, dict) else ()
            evidence.append(SourceEvidence(db.info, prefix, lookup, fields))
        return GeoResult(
            address,
            LOCATED if facts.country else UNKNOWN,
            country=facts.country,
            registered_country=facts.registered_country,
            represented_country=facts.represented_country,
            continent=facts.continent,
            subdivisions=facts.subdivisions,
            anonymizers=frozenset(facts.anonymizers),
            asn=facts.asn,
            as_organization=facts.as_organization,
            evidence=tuple(evidence),
            has_subdivision_data=self._has_subdivisions,
        )

    def close(self) -> None:
        for db in self.databases:
            db.close()


_OPENED: dict[tuple[str, ...], Geolocator] = {}


def configured_database_paths(explicit: list[str] | None = None) -> list[str]:
    """Explicit paths, else ``REGIONGATE_GEO_DATABASES`` (os.pathsep or comma separated),
    else the bundled DB-IP country database."""
    if explicit:
        return list(explicit)
    env = os.environ.get("REGIONGATE_GEO_DATABASES", "").strip()
    if env:
        return [p for p in env.replace(",", os.pathsep).split(os.pathsep) if p]
    return [str(DEFAULT_DATABASE)]


def open_geolocator(paths: list[str] | None = None) -> Geolocator:
    """The process-wide Geolocator for these paths; opened on first use, then shared."""
    resolved = tuple(os.path.abspath(p) for p in configured_database_paths(paths))
    geolocator = _OPENED.get(resolved)
    if geolocator is None:
        cache_size = int(os.environ.get("REGIONGATE_GEO_CACHE", "65536") or 0)
        geolocator = Geolocator([GeoDatabase(p) for p in resolved], cache_size=cache_size)
        _OPENED[resolved] = geolocator
    return geolocator
