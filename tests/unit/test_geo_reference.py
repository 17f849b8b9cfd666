"""MaxMind's published test databases (vendored in tests/data/maxmind with their licence):
read as maxminddb itself reads them, stacked in every order, and the corrupt ones refused or
flagged, never a crash."""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import maxminddb
import pytest
from geodb import write_mmdb
from regiongate.errors import GeoDatabaseError, InvalidAddressError
from regiongate.geo import (
    ANONYMIZER_KEYS,
    NOT_ROUTABLE,
    GeoDatabase,
    Geolocator,
    check_configuration,
)

DATA = Path(__file__).resolve().parent.parent / "data" / "maxmind"
TEST_DATA = DATA / "test-data"
CITY, COUNTRY = "GeoIP2-City-Test", "GeoIP2-Country-Test"
ANONYMOUS, ASN = "GeoIP2-Anonymous-IP-Test", "GeoLite2-ASN-Test"


def _path(name: str) -> Path:
    return TEST_DATA / f"{name}.mmdb"


def _first_addresses(name: str, limit: int = 400) -> Iterator[str]:
    """The first address of each network the database holds (IPv4 ones as dotted quads)."""
    with maxminddb.open_database(str(_path(name))) as reader:
        for network, _record in itertools.islice(iter(reader), limit):
            address = network.network_address
            if address.version == 6 and int(address) >> 32 == 0:
                yield str(maxminddb_v4(int(address)))
            else:
                yield str(address)


def maxminddb_v4(value: int) -> str:
    return ".".join(str(value >> shift & 255) for shift in (24, 16, 8, 0))


def test_licence_and_provenance_are_vendored_with_the_data() -> None:
    assert (DATA / "LICENSE-APACHE").is_file()
    assert (DATA / "LICENSE-MIT").is_file()
    assert "2f18851d11a77ca981975666b18680979a6759a5" in (DATA / "PROVENANCE.md").read_text()


@pytest.mark.parametrize(
    "name",
    [CITY, COUNTRY, "GeoLite2-City-Test", "GeoLite2-Country-Test", "GeoIP2-Enterprise-Test"],
)
def test_reference_databases_are_read_as_maxminddb_reads_them(name: str) -> None:
    geo = Geolocator([GeoDatabase(_path(name))])
    checked = 0
    with maxminddb.open_database(str(_path(name))) as reader:
        for ip in _first_addresses(name):
            result = geo.locate(ip)
            if result.status == NOT_ROUTABLE:
                continue
            record = reader.get(ip) or {}
            country = (record.get("country") or {}).get("iso_code")
            assert result.country == country, (ip, record)
            subdivisions = tuple(
                f"{country}-{s['iso_code']}" for s in record.get("subdivisions", [])
            )
            assert result.subdivisions == (subdivisions if country else ()), ip
            registered = (record.get("registered_country") or {}).get("iso_code")
            assert result.registered_country == (registered if country or registered else None)
            checked += 1
    assert checked > 25


def _expected(readers: dict[str, Any], order: tuple[str, ...], ip: str) -> dict[str, Any]:
    """An independent oracle: the owner is the first database whose raw record names a
    country (else any place field); place fields come from it alone, flags and ASN from
    whichever database has them."""
    raws = {name: readers[name].get(ip) or {} for name in order}
    owner = next((n for n in order if (raws[n].get("country") or {}).get("iso_code")), None)
    if owner is None:  # no country: the first database with any place field still owns it
        place_keys = ("registered_country", "represented_country", "continent")
        owner = next((n for n in order if any(raws[n].get(k) for k in place_keys)), None)
    place = raws[owner] if owner else {}
    country = (place.get("country") or {}).get("iso_code")
    flags = {flag for key, flag in ANONYMIZER_KEYS.items() if raws.get(ANONYMOUS, {}).get(key)}
    asn = raws.get(ASN, {}).get("autonomous_system_number")
    return {
        "country": country,
        "registered_country": (place.get("registered_country") or {}).get("iso_code"),
        "subdivisions": [f"{country}-{s['iso_code']}" for s in place.get("subdivisions", [])],
        "subdivision_data": owner == CITY,
        "anonymizers": sorted(flags),
        "asn": asn,
    }


def test_stacked_reference_databases_give_each_field_from_its_owner_in_every_order() -> None:
    names = (CITY, COUNTRY, ANONYMOUS, ASN)
    readers = {n: maxminddb.open_database(str(_path(n))) for n in names}
    databases = {n: GeoDatabase(_path(n)) for n in names}
    ips = sorted({ip for n in names for ip in _first_addresses(n, 150)})
    ips += ["81.2.69.160", "214.0.1.5", "89.160.20.112", "2.125.160.216", "67.43.156.1"]
    compared = 0
    for order in itertools.permutations(names):
        geo = Geolocator([databases[n] for n in order])
        for ip in ips:
            result = geo.locate(ip)
            if result.status == NOT_ROUTABLE:
                continue
            got = result.to_dict()
            expected = _expected(readers, order, ip)
            assert {k: got[k] for k in expected} == expected, (order, ip)
            compared += 1
    assert compared > 24 * 300
    for reader in readers.values():
        reader.close()


def test_a_country_database_first_keeps_a_city_database_from_mixing_in_its_place(
    tmp_path: Path,
) -> None:
    # The case: DB-IP says US for 214.0.1.5, the City test database says AU-VIC.
    flat = write_mmdb(tmp_path / "flat.mmdb", "ipdb", {"214.0.0.0/8": {"country_code": "US"}})
    geo = Geolocator([GeoDatabase(flat), GeoDatabase(_path(CITY)), GeoDatabase(_path(ASN))])
    result = geo.locate("214.0.1.5")
    assert (result.country, result.subdivisions, result.registered_country) == ("US", (), None)
    assert not result.has_subdivision_data  # the owner has none, whatever comes after it
    assert result.asn == 721  # later databases still add the ASN
    assert result.evidence[1].fields == ()  # the City record contributed nothing
    reversed_ = Geolocator([GeoDatabase(_path(CITY)), GeoDatabase(flat)]).locate("214.0.1.5")
    assert (reversed_.country, reversed_.subdivisions, reversed_.registered_country) == (
        "AU",
        ("AU-VIC",),
        "AU",
    )


def test_disagreeing_databases_never_lend_a_subdivision_to_the_other_country(
    tmp_path: Path,
) -> None:
    ua = write_mmdb(tmp_path / "ua.mmdb", "GeoIP2-City", {"5.0.0.0/24": _city("UA", "43")})
    ru = write_mmdb(tmp_path / "ru.mmdb", "ipdb", {"5.0.0.0/24": {"country_code": "RU"}})
    result = Geolocator([GeoDatabase(ru), GeoDatabase(ua)]).locate("5.0.0.1")
    assert (result.country, result.subdivisions) == ("RU", ())


def _city(country: str, subdivision: str) -> dict[str, Any]:
    return {"country": {"iso_code": country}, "subdivisions": [{"iso_code": subdivision}]}


def _bad_files() -> list[Path]:
    return [
        *sorted((DATA / "bad-data").rglob("*.mmdb")),
        _path("GeoIP2-City-Test-Broken-Double-Format"),
        _path("GeoIP2-City-Test-Invalid-Node-Count"),
        _path("MaxMind-DB-test-broken-pointers-24"),
        _path("MaxMind-DB-test-broken-search-tree-24"),
    ]


@pytest.mark.parametrize("path", _bad_files(), ids=lambda p: p.name)
def test_corrupt_databases_are_refused_or_flagged_never_a_crash(path: Path) -> None:
    try:
        db = GeoDatabase(path)
    except GeoDatabaseError as exc:
        assert exc.code == "geo_database_unavailable"
        assert str(path) not in exc.message  # API bodies show the message: no path
        return
    # It opened cleanly: it must say it is suspect, and alone it must be refused.
    assert db.suspect is not None
    with pytest.raises(GeoDatabaseError, match="no configured database answers a country"):
        check_configuration([db])
    geo = Geolocator([db])
    for ip in ("1.1.1.1", "81.2.69.160", "2001:218::1", "::1.1.1.1"):
        with contextlib.suppress(GeoDatabaseError, InvalidAddressError):
            geo.locate(ip)


def test_only_asn_and_anonymous_databases_are_refused_at_start_up() -> None:
    dbs = [GeoDatabase(_path(ANONYMOUS)), GeoDatabase(_path(ASN))]
    assert not any(db.answers_country for db in dbs)
    with pytest.raises(GeoDatabaseError) as info:
        check_configuration(dbs)
    assert "GeoLite2-ASN" in str(info.value)
    check_configuration([*dbs, GeoDatabase(_path(COUNTRY))])  # one country source is enough


def test_a_database_that_answers_no_well_known_address_is_flagged_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    db = GeoDatabase(_path(COUNTRY))
    assert db.suspect is not None and "well-known public addresses" in db.suspect
    with caplog.at_level("WARNING", logger="regiongate.geo"):
        check_configuration([db])
    assert "geo database looks wrong" in caplog.text
