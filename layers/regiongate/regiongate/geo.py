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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import maxminddb

from regiongate.addresses import Address, network_of, parse_address
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
ANONYMIZER_FLAGS: tuple[str, ...] = tuple(ANONYMIZER_KEYS.values())

LOCATED, UNKNOWN, NOT_ROUTABLE = "located", "unknown", "not_routable"
_NO_FLAGS: frozenset[str] = frozenset()
_FLAT_FIELDS = ("country_code",)


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


class Geolocator:
    """Answers "where is this address?" from one or more databases, first answer wins."""

    def __init__(self, databases: list[GeoDatabase], cache_size: int = 4096) -> None:
        if not databases:
            raise GeoDatabaseError("(none)", "no geo database configured")
        self.databases = tuple(databases)
        self._has_subdivisions = any(db.has_subdivisions for db in databases)
        self._single = databases[0] if len(databases) == 1 else None
        self.cache_size = cache_size
        self._cache: dict[str, GeoResult] = {}
        self._seen: set[str] = set()

    @property
    def infos(self) -> tuple[DatabaseInfo, ...]:
        return tuple(db.info for db in self.databases)

    def locate(self, raw_ip: str) -> GeoResult:
        """Locate an address string; raises InvalidAddressError for garbage.

        Callers repeat (a gateway sees the same clients all day), so results for addresses
        seen at least twice are cached per process: a hit skips parsing and every database
        read. One-off addresses are only remembered as strings (which the garbage collector
        does not track), so a stream of new callers does not fill the heap with results.
        Both are emptied when full, which costs less than LRU upkeep.
        """
        cached = self._cache.get(raw_ip)
        if cached is not None:
            return cached
        result = self.locate_address(parse_address(raw_ip))
        if self.cache_size:
            if raw_ip in self._seen:
                if len(self._cache) >= self.cache_size:
                    self._cache.clear()
                self._cache[raw_ip] = result
            else:
                if len(self._seen) >= 4 * self.cache_size:
                    self._seen.clear()
                self._seen.add(raw_ip)
        return result

    def locate_address(self, address: Address) -> GeoResult:
        if address.not_routable is not None:
            return GeoResult(address, NOT_ROUTABLE)
        lookup = address.lookup
        single = self._single
        if single is not None:
            # Fast path for the common case: one flat country database.
            record, prefix = single.lookup(lookup)
            if type(record) is dict and len(record) == 1:
                flat = record.get("country_code")
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
        cache_size = int(os.environ.get("REGIONGATE_GEO_CACHE", "4096") or 0)
        geolocator = Geolocator([GeoDatabase(p) for p in resolved], cache_size=cache_size)
        _OPENED[resolved] = geolocator
    return geolocator
