"""Geolocation over MaxMind-format databases, with the evidence behind every answer.

One ``Geolocator`` combines any number of databases (country or city, anonymous-IP, ASN);
readers are opened once per process through ``open_geolocator`` and shared. The record
layouts understood are GeoIP2/GeoLite2 Country, City and Enterprise, DB-IP Lite (same
layout), the flat ``country_code`` layout of ip-location-db (with the bundled database's
``subdivision_code``), GeoIP2 Anonymous IP (and Anonymous Plus) and GeoLite2 ASN. Layouts
are recognised per record, by their keys.

The database that gives the country owns the place: subdivisions, registered, represented
country and continent come from its record only, so two databases that disagree never mix
into one place. Every database adds anonymizer flags and the ASN.
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import maxminddb

from regiongate.addresses import Address, parse_address
from regiongate.caches import register
from regiongate.errors import GeoDatabaseError
from regiongate.geocache import NetworkCache, Place, flat_country
from regiongate.georesult import (
    ANONYMIZER_KEYS,
    LOCATED,
    NOT_ROUTABLE,
    UNAVAILABLE,
    UNKNOWN,
    DatabaseInfo,
    GeoResult,
    SourceEvidence,
)
from regiongate.settings import settings

__all__ = [
    "ANONYMIZER_KEYS",
    "DEFAULT_DATABASE",
    "LOCATED",
    "NOT_ROUTABLE",
    "UNAVAILABLE",
    "UNKNOWN",
    "DatabaseInfo",
    "GeoDatabase",
    "GeoResult",
    "Geolocator",
    "Place",
    "SourceEvidence",
    "open_geolocator",
]

logger = logging.getLogger(__name__)

DEFAULT_DATABASE = Path(__file__).parent / "data" / "dbip-city-lite-regiongate.mmdb"

# Well-known public addresses (resolvers, root servers): a database that answers none of them
# is suspect (a test file, a wrong layout, or a corrupt tree that opens cleanly).
PROBE_ADDRESSES = (
    "8.8.8.8",
    "1.1.1.1",
    "9.9.9.9",
    "208.67.222.222",
    "193.0.14.129",
    "202.12.27.33",
    "2001:4860:4860::8888",
    "2606:4700:4700::1111",
    "2001:7fd::1",
)
PROBE_RECORDS = 256  # records read at open to learn whether a database answers countries
_NO_FLAGS: frozenset[str] = frozenset()
_FLAT_FIELDS = ("country_code",)
_SUBDIVISION_CODE = re.compile(r"^[A-Z]{2}-[A-Z0-9]{1,3}$")
_PLACE_KEYS = ("registered_country", "represented_country", "continent")


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


def record_country(record: dict[str, Any]) -> str | None:
    """The country a record gives, in either layout (flat ``country_code`` or GeoIP2)."""
    flat = record.get("country_code")
    if isinstance(flat, str) and len(flat) == 2:
        return flat.upper()
    return _iso(record.get("country"))


def owner_of(records: Sequence[Any]) -> int | None:
    """Which database owns the place: the first whose record gives a country, else the first
    that gives any place field (registered or represented country, continent)."""
    fallback = None
    for index, record in enumerate(records):
        if not isinstance(record, dict):
            continue
        if record_country(record) is not None:
            return index
        if fallback is None and any(record.get(key) for key in _PLACE_KEYS):
            fallback = index
    return fallback


def read_place(record: dict[str, Any], facts: _Facts) -> list[str]:
    """Fold the owning database's record into ``facts``: country, registered and represented
    country, continent, subdivisions. Return the names of the fields it supplied."""
    used: list[str] = []
    flat = record.get("country_code")
    country = _iso(record.get("country"))
    if isinstance(flat, str) and len(flat) == 2:
        facts.country = flat.upper()
        used.append("country_code")
    elif country:
        facts.country = country
        used.append("country.iso_code")
    registered = _iso(record.get("registered_country"))
    if registered:
        facts.registered_country = registered
        used.append("registered_country.iso_code")
    represented = _iso(record.get("represented_country"))
    if represented:
        facts.represented_country = represented
        used.append("represented_country.iso_code")
    continent = record.get("continent")
    if isinstance(continent, dict):
        code = continent.get("code")
        if isinstance(code, str):
            facts.continent = code
            used.append("continent.code")
    full = record.get("subdivision_code")  # the bundled layout: a whole ISO 3166-2 code
    if isinstance(full, str) and _SUBDIVISION_CODE.match(full):
        facts.subdivisions = (full,)
        used.append("subdivision_code")
    subdivisions = record.get("subdivisions")
    if isinstance(subdivisions, list) and subdivisions and country and not facts.subdivisions:
        codes = tuple(
            f"{country}-{s['iso_code']}".upper()
            for s in subdivisions
            if isinstance(s, dict) and isinstance(s.get("iso_code"), str)
        )
        if codes:
            facts.subdivisions = codes
            used.append("subdivisions.iso_code")
    return used


def read_extras(record: dict[str, Any], facts: _Facts) -> list[str]:
    """Fold what any database may add into ``facts``: anonymizer flags and the ASN."""
    used: list[str] = []
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
    return used


def _has_c_extension() -> bool:
    """Whether maxminddb's C extension imports; the pure-Python reader is refused."""
    try:
        import maxminddb.extension  # noqa: F401, PLC0415 - probing for the module
    except ImportError:
        return False
    return True


class GeoDatabase:
    """One opened MaxMind-format database, read with the C extension.

    At open it reads a few records to learn whether it can answer countries at all
    (``answers_country``), and looks up well-known public addresses: a database that answers
    none of them is ``suspect`` (said in ``geo info`` and logged at start-up)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = str(path)
        if not os.path.exists(self.path):
            raise GeoDatabaseError(self.path, "file not found")
        if not _has_c_extension():
            raise GeoDatabaseError(
                self.path,
                "the maxminddb C extension is not available; the pure-Python reader is "
                "18x slower and is refused (reinstall maxminddb from a binary wheel)",
            )
        try:
            self._reader = maxminddb.open_database(self.path, maxminddb.MODE_MMAP_EXT)
        except Exception as exc:  # corrupt files raise many types; report them as one
            raise GeoDatabaseError(self.path, f"not a valid MaxMind DB: {exc}") from exc
        meta = self._reader.metadata()
        self.build_epoch = int(meta.build_epoch)
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
        self.answers_country, records, readable = self._probe_records()
        self.suspect: str | None = None
        if not records:
            self.suspect = "holds no records"
        elif not readable:
            self.suspect = "holds no field regiongate reads (country, flags or ASN)"
        elif not self._answers_probes():
            self.suspect = (
                f"answers none of {len(PROBE_ADDRESSES)} well-known public addresses "
                "(a test file, or a corrupt search tree)"
            )

    def _probe_records(self) -> tuple[bool, int, bool]:
        """From the first records: whether any gives a country, how many were read, and
        whether any holds a field regiongate reads at all."""
        count, readable = 0, False
        try:
            for _network, record in itertools.islice(iter(self._reader), PROBE_RECORDS):
                count += 1
                if not isinstance(record, dict):
                    continue
                if record_country(record) is not None:
                    return True, count, True
                readable = readable or bool(read_place(record, _Facts()))
                readable = readable or bool(read_extras(record, _Facts()))
        except Exception as exc:  # corrupt trees raise many types; report them as one
            self._reader.close()
            raise GeoDatabaseError(self.path, f"corrupt data: {type(exc).__name__}") from exc
        return False, count, readable

    def _answers_probes(self) -> bool:
        for ip in PROBE_ADDRESSES:
            try:
                record, _prefix = self.lookup(ip)
            except GeoDatabaseError:
                return False
            if record:
                return True
        return False

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
    """Answers "where is this address?" from one or more databases; the first database that
    gives a country owns the place, every database adds anonymizer flags and ASN.

    ``locate`` answers plain addresses from the network cache (``geocache``), which is filled
    from ``locate_address``, the reference path."""

    def __init__(self, databases: list[GeoDatabase], cache_size: int = 65536) -> None:
        if not databases:
            raise GeoDatabaseError("(none)", "no geo database configured")
        self._setup(tuple(databases), cache_size)

    def _setup(self, databases: tuple[GeoDatabase, ...], cache_size: int) -> None:
        self.databases = databases
        self._single = databases[0] if len(databases) == 1 else None
        self.cache_size = cache_size
        self.cache = NetworkCache(self.locate_address, self._single, cache_size)
        self.place_of = self.cache.place_of

    @classmethod
    def unavailable(cls) -> Geolocator:
        """A geolocator with no data: every routable address is UNAVAILABLE. The authorizer
        decides with it when the databases cannot be read, so callers are refused on the
        record instead of by an exception."""
        geolocator = cls.__new__(cls)
        geolocator._setup((), 0)
        return geolocator

    @property
    def infos(self) -> tuple[DatabaseInfo, ...]:
        return tuple(db.info for db in self.databases)

    def locate(self, raw_ip: str) -> GeoResult:
        """Locate an address string; raises InvalidAddressError for garbage."""
        place = self.place_of(raw_ip)
        if place is not None:
            return place.geo_for(raw_ip)
        return self.locate_address(parse_address(raw_ip))

    def locate_address(self, address: Address) -> GeoResult:
        """The reference path: every database read, every field from its owner."""
        if address.not_routable is not None:
            return GeoResult(address, NOT_ROUTABLE)
        lookup = address.lookup
        single = self._single
        if single is not None:
            # Fast path for the common case: one flat country database.
            record, prefix = single.lookup(lookup)
            flat = flat_country(record)
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
                    single.has_subdivisions,
                )
            answers = [(single, record, prefix)]
        else:
            answers = [(db, *db.lookup(lookup)) for db in self.databases]
        owner = owner_of([record for _db, record, _prefix in answers])
        facts = _Facts()
        evidence: list[SourceEvidence] = []
        for index, (db, record, prefix) in enumerate(answers):
            fields: list[str] = []
            if isinstance(record, dict):
                if index == owner:
                    fields = read_place(record, facts)
                fields += read_extras(record, facts)
            evidence.append(SourceEvidence(db.info, prefix, lookup, tuple(fields)))
        return GeoResult(
            address,
            LOCATED if facts.country else UNKNOWN if answers else UNAVAILABLE,
            country=facts.country,
            registered_country=facts.registered_country,
            represented_country=facts.represented_country,
            continent=facts.continent,
            subdivisions=facts.subdivisions,
            anonymizers=frozenset(facts.anonymizers),
            asn=facts.asn,
            as_organization=facts.as_organization,
            evidence=tuple(evidence),
            has_subdivision_data=owner is not None and answers[owner][0].has_subdivisions,
        )

    def close(self) -> None:
        for db in self.databases:
            db.close()


def check_configuration(databases: Sequence[GeoDatabase]) -> None:
    """Refuse a set of databases in which none can answer a country (every caller would go
    to review, and behind the authorizer be refused, with no alarm); log the suspect ones."""
    for db in databases:
        if db.suspect:
            logger.warning(
                "geo database looks wrong",
                extra={"path": db.path, "type": db.info.database_type, "problem": db.suspect},
            )
    if not any(db.answers_country for db in databases):
        kinds = ", ".join(
            f"{os.path.basename(db.path)} ({db.info.database_type})" for db in databases
        )
        raise GeoDatabaseError(
            kinds,
            "no configured database answers a country; add a Country or City database "
            "(ASN and Anonymous-IP databases only add to one)",
        )


_OPENED: dict[tuple[str, ...], Geolocator] = {}
register(_OPENED.clear)  # opened with settings().geo_cache


def configured_database_paths(explicit: list[str] | None = None) -> list[str]:
    """Explicit paths, else ``REGIONGATE_GEO_DATABASES`` (os.pathsep or comma separated),
    else the bundled database (DB-IP City Lite, reduced)."""
    if explicit:
        return list(explicit)
    return list(settings().geo_databases) or [str(DEFAULT_DATABASE)]


def open_geolocator(paths: list[str] | None = None) -> Geolocator:
    """The process-wide Geolocator for these paths; opened on first use, then shared."""
    resolved = tuple(os.path.abspath(p) for p in configured_database_paths(paths))
    geolocator = _OPENED.get(resolved)
    if geolocator is None:
        cache_size = settings().geo_cache
        databases = [GeoDatabase(p) for p in resolved]
        try:
            check_configuration(databases)
        except GeoDatabaseError:
            for db in databases:
                db.close()
            raise
        geolocator = Geolocator(databases, cache_size=cache_size)
        _OPENED[resolved] = geolocator
    return geolocator
