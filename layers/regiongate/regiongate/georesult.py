"""What a geolocation answer is: the result, the evidence behind it, the database cited.

Kept apart from the reader (``geo``) and the network cache (``geocache``) so both can build
results without importing each other.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from regiongate.addresses import Address, network_of

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
# No database could be read: only the authorizer builds such a result, to record a refusal.
UNAVAILABLE = "unavailable"


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
