"""The network cache in front of the geolocator: answers held per matched network.

Database answers hold for whole networks, and most of the IPv4 space sits in networks of /16
or wider, so answers are cached per matched network: a table of every /16 and bounded tables
of /24s and of IPv6 /48s, pointing at shared, interned ``Place`` answers. A hit costs one
``inet_pton`` and a list or dictionary read instead of a tree walk and a record decode.

The cache sits behind ``Geolocator.locate``: every entry is filled from the reference path
(``Geolocator.locate_address``), and a differential test holds the two to the same answers.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from regiongate.addresses import SPECIAL_V4_RANGES, V6_GENERAL_RANGES, Address, network_of
from regiongate.georesult import GeoResult, SourceEvidence

_AF_INET = socket.AF_INET
_AF_INET6 = socket.AF_INET6
_inet_pton = socket.inet_pton
_inet_ntop = socket.inet_ntop


class RecordSource(Protocol):
    """A database as the cache sees it: a raw record and the prefix length it matched."""

    def lookup(self, text: str) -> tuple[Any, int]: ...


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


def flat_country(record: Any) -> Any:
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


class NetworkCache:
    """Per-network tables of shared answers; see the module docstring.

    ``resolve`` is the reference path (an ``Address`` to its full result); ``single`` is the
    database when only one is configured (its flat country records are interned by country
    and prefix without a full resolve). ``cache_size`` bounds each bounded table (0 turns
    caching off); a table is emptied when full, which costs less than LRU upkeep."""

    def __init__(
        self,
        resolve: Callable[[Address], GeoResult],
        single: RecordSource | None,
        cache_size: int,
    ) -> None:
        self.locate_address = resolve
        self._single = single
        self.cache_size = cache_size
        self._by16 = list(_BLANK_SIXTEENS)
        self._by24: dict[int, Place] = {}
        self._by48: dict[int, Place] = {}
        self._places: dict[tuple[Any, ...], Place] = {}
        self._flat_places: dict[tuple[str, int], Place] = {}
        self._facts: dict[tuple[Any, ...], object] = {}

    def place_of(self, raw_ip: str) -> Place | None:
        """The shared answer for a plain routable address (dotted IPv4, or global-unicast IPv6
        text); None for any other form (the caller then takes the general path through
        ``parse_address`` and ``locate_address``). Networks longer than /24 (IPv4) or /48
        (IPv6) are not cached."""
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
            flat = flat_country(record)
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
