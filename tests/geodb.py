"""Build small MaxMind-format databases for tests, in every record layout regiongate reads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mmdb_writer import MMDBWriter
from netaddr import IPSet


def write_mmdb(path: Path, database_type: str, networks: dict[str, Any]) -> Path:
    """Write an IPv6 database (IPv4 networks reachable, as in MaxMind's own files)."""
    writer = MMDBWriter(
        ip_version=6,
        database_type=database_type,
        ipv4_compatible=True,
        languages=["en"],
        description="regiongate test database",
    )
    for cidr, record in networks.items():
        writer.insert_network(IPSet([cidr]), record)
    writer.to_db_file(str(path))
    return path


def geoip2(
    country: str | None,
    *,
    registered: str | None = None,
    represented: str | None = None,
    subdivisions: tuple[str, ...] = (),
    continent: str | None = None,
    traits: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A record in the GeoIP2/GeoLite2 Country/City (and DB-IP Lite) layout."""
    record: dict[str, Any] = {}
    if country:
        record["country"] = {"iso_code": country, "names": {"en": country}}
    if registered:
        record["registered_country"] = {"iso_code": registered}
    if represented:
        record["represented_country"] = {"iso_code": represented, "type": "military"}
    if continent:
        record["continent"] = {"code": continent}
    if subdivisions:
        record["subdivisions"] = [{"iso_code": s} for s in subdivisions]
    if traits:
        record["traits"] = traits
    return record


CITY = {
    "81.2.69.0/24": geoip2("GB", registered="GB", subdivisions=("ENG", "WBK"), continent="EU"),
    "5.0.0.0/24": geoip2("UA", subdivisions=("43",), continent="EU"),
    "5.0.1.0/24": geoip2("UA", subdivisions=("30",), continent="EU"),
    "5.0.2.0/24": geoip2("UA", continent="EU"),
    "2.0.0.0/24": geoip2("US", registered="CN", continent="NA"),
    "3.0.0.0/24": geoip2("DE", represented="US", continent="EU"),
    "2400:cb00::/32": geoip2("HK", registered="HK", continent="AS"),
    "4.0.0.0/24": geoip2("IR", continent="AS"),
    "6.0.0.0/24": geoip2("CN", continent="AS"),
    "7.0.0.0/24": geoip2("US", continent="NA"),
    "8.0.0.0/24": {"continent": {"code": "EU"}},  # a record with no country at all
}

COUNTRY = {
    "6.0.0.0/24": geoip2("CN", registered="CN", continent="AS"),
    "7.0.0.0/24": geoip2("US", registered="US", continent="NA"),
    "2400:cb00::/32": geoip2("HK", continent="AS"),
}

FLAT = {
    "6.0.0.0/24": {"country_code": "CN"},
    "7.0.0.0/24": {"country_code": "US"},
    "9.0.0.0/8": {"country_code": "HK"},
    "2400:cb00::/32": {"country_code": "HK"},
}

ANONYMOUS = {
    "5.0.1.0/24": {"is_anonymous": True, "is_anonymous_vpn": True},
    "81.2.69.0/24": {"is_anonymous": True, "is_hosting_provider": True},
    "2.0.0.0/24": {"is_anonymous": True, "is_tor_exit_node": True},
    "3.0.0.0/24": {"is_anonymous": True, "is_public_proxy": True, "is_residential_proxy": True},
    "7.0.0.0/24": {},
}

ASN = {
    "7.0.0.0/24": {
        "autonomous_system_number": 64500,
        "autonomous_system_organization": "Example Net",
    },
    "81.2.69.0/24": {
        "autonomous_system_number": 20712,
        "autonomous_system_organization": "Andrews",
    },
}


def build_all(directory: Path) -> dict[str, Path]:
    """Every layout, written once into ``directory``."""
    return {
        "city": write_mmdb(directory / "city.mmdb", "GeoIP2-City", CITY),
        "geolite_city": write_mmdb(directory / "geolite-city.mmdb", "GeoLite2-City", CITY),
        "country": write_mmdb(directory / "country.mmdb", "GeoIP2-Country", COUNTRY),
        "dbip": write_mmdb(directory / "dbip.mmdb", "DBIP-Country-Lite", COUNTRY),
        "flat": write_mmdb(directory / "flat.mmdb", "ipdb", FLAT),
        "anonymous": write_mmdb(directory / "anonymous.mmdb", "GeoIP2-Anonymous-IP", ANONYMOUS),
        "asn": write_mmdb(directory / "asn.mmdb", "GeoLite2-ASN", ASN),
    }
