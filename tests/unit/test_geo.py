"""Geolocation: every supported record layout, combined databases, and broken databases."""

from __future__ import annotations

import functools
import ipaddress
from pathlib import Path

import pytest
from geodb import write_mmdb
from hypothesis import given, settings
from hypothesis import strategies as st
from regiongate import geo
from regiongate.addresses import parse_address
from regiongate.errors import GeoDatabaseError, InvalidAddressError
from regiongate.geo import (
    DEFAULT_DATABASE,
    LOCATED,
    NOT_ROUTABLE,
    UNKNOWN,
    GeoDatabase,
    Geolocator,
    configured_database_paths,
    open_geolocator,
)


def _single(path: Path) -> Geolocator:
    return Geolocator([GeoDatabase(path)])


@pytest.mark.parametrize("layout", ["city", "geolite_city", "country", "dbip", "flat"])
def test_every_country_layout_places_the_same_networks(
    geo_dbs: dict[str, Path], layout: str
) -> None:
    geo = _single(geo_dbs[layout])
    assert geo.locate("6.0.0.9").country == "CN"
    assert geo.locate("7.0.0.9").country == "US"
    assert geo.locate("2400:cb00::5").country == "HK"
    result = geo.locate("6.0.0.9")
    assert result.status == LOCATED
    assert result.network == "6.0.0.0/24"
    assert result.evidence[0].database.path.endswith(".mmdb")


def test_flat_layout_names_the_country_code_field(geo_dbs: dict[str, Path]) -> None:
    result = _single(geo_dbs["flat"]).locate("9.1.2.3")
    assert (result.country, result.network) == ("HK", "9.0.0.0/8")
    assert result.evidence[0].fields == ("country_code",)
    assert result.evidence[0].database.database_type == "ipdb"


def test_city_layout_reads_subdivisions_registered_and_represented_country(
    geo_dbs: dict[str, Path],
) -> None:
    geo = _single(geo_dbs["city"])
    london = geo.locate("81.2.69.10")
    assert london.subdivisions == ("GB-ENG", "GB-WBK")
    assert london.continent == "EU"
    assert london.has_subdivision_data
    assert "subdivisions.iso_code" in london.evidence[0].fields
    assert geo.locate("5.0.0.1").subdivisions == ("UA-43",)
    mismatch = geo.locate("2.0.0.1")
    assert (mismatch.country, mismatch.registered_country) == ("US", "CN")
    base = geo.locate("3.0.0.1")
    assert (base.country, base.represented_country) == ("DE", "US")


def test_country_layout_has_no_subdivision_data(geo_dbs: dict[str, Path]) -> None:
    assert not _single(geo_dbs["country"]).locate("6.0.0.1").has_subdivision_data
    assert _single(geo_dbs["country"]).locate("6.0.0.1").registered_country == "CN"


def test_combined_city_anonymous_and_asn_databases_merge_with_evidence_per_database(
    geo_dbs: dict[str, Path],
) -> None:
    geo = Geolocator([GeoDatabase(geo_dbs[k]) for k in ("city", "anonymous", "asn")])
    result = geo.locate("81.2.69.10")
    assert result.country == "GB"
    assert result.anonymizers == {"anonymous", "hosting"}
    assert (result.asn, result.as_organization) == (20712, "Andrews")
    fields = {e.database.database_type: e.fields for e in result.evidence}
    assert fields["GeoIP2-Anonymous-IP"] == ("is_anonymous", "is_hosting_provider")
    assert fields["GeoLite2-ASN"] == ("autonomous_system_number",)
    assert geo.locate("2.0.0.1").anonymizers == {"anonymous", "tor"}
    assert geo.locate("3.0.0.1").anonymizers == {"anonymous", "public_proxy", "residential_proxy"}
    assert geo.locate("5.0.1.1").anonymizers == {"anonymous", "vpn"}
    # The anonymous database answers {} for a network it lists without flags.
    assert geo.locate("7.0.0.1").anonymizers == frozenset()


def test_first_database_with_a_country_wins(geo_dbs: dict[str, Path]) -> None:
    geo = Geolocator([GeoDatabase(geo_dbs["flat"]), GeoDatabase(geo_dbs["city"])])
    result = geo.locate("2.0.0.1")  # not in flat; city says US
    assert result.country == "US"
    assert result.evidence[1].fields[0] == "country.iso_code"


def test_miss_record_without_country_and_unroutable_are_typed(geo_dbs: dict[str, Path]) -> None:
    geo = _single(geo_dbs["city"])
    assert geo.locate("1.1.1.1").status == UNKNOWN
    no_country = geo.locate("8.0.0.1")
    assert (no_country.status, no_country.continent) == (UNKNOWN, "EU")
    private = geo.locate("10.0.0.1")
    assert private.status == NOT_ROUTABLE
    assert private.evidence == ()
    assert private.to_dict()["not_routable"] == {"category": "private-use", "network": "10.0.0.0/8"}
    with pytest.raises(InvalidAddressError):
        geo.locate("not-an-ip")


def test_mapped_and_6to4_forms_agree_with_plain_ipv4_on_the_bundled_database() -> None:
    geo = open_geolocator()
    for ip in ("1.2.4.8", "::ffff:1.2.4.8", "2002:102:408::1", "[::ffff:1.2.4.8]:443"):
        assert geo.locate(ip).country == "CN", ip
    assert geo.locate("::ffff:1.2.4.8").to_dict()["embedded_via"] == "ipv4-mapped"


def test_bundled_database_covers_ipv4_and_ipv6_and_is_cited() -> None:
    geo = open_geolocator()
    assert geo.locate("8.8.8.8").country == "US"
    assert geo.locate("2001:da8::1").country == "CN"  # CERNET
    info = geo.databases[0].info
    assert info.ip_version == 6
    assert info.build_date >= "2026-01-01"
    assert (DEFAULT_DATABASE.parent / "DBIP-LICENSE").is_file()


def test_readers_are_opened_once_per_process() -> None:
    assert open_geolocator() is open_geolocator()
    assert open_geolocator([str(DEFAULT_DATABASE)]) is open_geolocator()


def test_database_paths_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, geo_dbs: dict[str, Path]
) -> None:
    from regiongate.caches import reset_process_caches

    monkeypatch.setenv("REGIONGATE_GEO_DATABASES", f"{geo_dbs['city']},{geo_dbs['asn']}")
    reset_process_caches()  # settings are read once per process
    assert configured_database_paths() == [str(geo_dbs["city"]), str(geo_dbs["asn"])]
    monkeypatch.delenv("REGIONGATE_GEO_DATABASES")
    reset_process_caches()
    assert configured_database_paths() == [str(DEFAULT_DATABASE)]


def test_missing_corrupt_and_empty_configuration_fail_loudly(tmp_path: Path) -> None:
    with pytest.raises(GeoDatabaseError, match="file not found"):
        GeoDatabase(tmp_path / "absent.mmdb")
    corrupt = tmp_path / "corrupt.mmdb"
    corrupt.write_bytes(b"this is not a maxmind database" * 10)
    with pytest.raises(GeoDatabaseError, match="not a valid MaxMind DB") as info:
        GeoDatabase(corrupt)
    assert info.value.code == "geo_database_unavailable"
    assert info.value.http_status == 503
    with pytest.raises(GeoDatabaseError, match="no geo database"):
        Geolocator([])


def test_pure_python_reader_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(geo, "_has_c_extension", lambda: False)
    with pytest.raises(GeoDatabaseError, match="C extension"):
        GeoDatabase(DEFAULT_DATABASE)


def test_reader_is_the_c_extension() -> None:
    reader = open_geolocator().databases[0]._reader
    assert type(reader).__module__ == "maxminddb.extension"


def _nested_networks(directory: Path) -> Path:
    """A /8, a /20 and a /28 inside it, and a /24 next to them: one of each cache level."""
    return write_mmdb(
        directory / "nested.mmdb",
        "ipdb",
        {
            "9.0.0.0/8": {"country_code": "HK"},
            "11.0.0.0/20": {"country_code": "US"},
            "11.0.0.16/28": {"country_code": "CA"},
            "11.1.0.0/24": {"country_code": "MX"},
        },
    )


def _counting(path: Path, cache_size: int = 65536) -> tuple[Geolocator, list[str]]:
    """A geolocator over one database, and the list of addresses it read from the database."""
    database = GeoDatabase(path)
    reads: list[str] = []
    read = database.lookup

    def lookup(text: str) -> tuple[object, int]:
        reads.append(text)
        return read(text)

    database.lookup = lookup  # type: ignore[method-assign]
    return Geolocator([database], cache_size=cache_size), reads


def test_addresses_of_one_network_share_its_answer_at_every_cache_level(tmp_path: Path) -> None:
    geo, reads = _counting(_nested_networks(tmp_path))

    def read_database(ip: str) -> bool:
        before = len(reads)
        geo.place_of(ip)
        return len(reads) > before

    wide = geo.place_of("9.1.2.3")
    assert wide is not None and wide.network_for("9.1.2.3") == "9.0.0.0/8"
    assert geo.place_of("9.77.0.1") is wide  # another /16 row, the same (interned) answer
    assert not read_database("9.1.200.7")  # same /16 row
    mid = geo.place_of("11.0.8.1")  # the /28 splits the /20: this is its /21 half
    assert mid is not None and mid.network_for("11.0.8.1") == "11.0.8.0/21"
    assert geo.place_of("11.0.9.1") is mid
    assert not read_database("11.0.8.200")  # same /24 row
    narrow = geo.place_of("11.0.0.17")
    assert narrow is not None and narrow.template.country == "CA"
    assert narrow.network_for("11.0.0.18") == "11.0.0.16/28"
    assert read_database("11.0.0.18")  # networks longer than /24 are not cached
    assert geo.place_of("11.0.0.1").template.country == "US"  # type: ignore[union-attr]
    assert geo.place_of("11.1.0.9").template.country == "MX"  # type: ignore[union-attr]


def test_only_plain_routable_addresses_take_the_network_cache(
    geo_dbs: dict[str, Path], tmp_path: Path
) -> None:
    geo = _single(_nested_networks(tmp_path))
    general = ["::ffff:9.1.2.3", "9.1.2.3/32", "9.1.2.3:443", "192.168.0.1", "[2400:cb00::1]"]
    general += ["2001:db8::1", "2002:901:203::1", "2001:0:4136:e378:8000:63bf:f6fe:fdfc"]
    general += ["3fff::1", "fe80::1", "ff02::1", "fc00::1", "2400:cb00::1%eth0", "2001:20::1"]
    for other in general:
        assert geo.place_of(other) is None, other
    with pytest.raises(InvalidAddressError):
        geo.locate("9.1.2")
    assert geo.locate("192.0.2.1").status == NOT_ROUTABLE  # special ranges: the general path
    flat, reads = _counting(geo_dbs["flat"])
    hong_kong = flat.place_of("2400:cb00::1")
    assert hong_kong is not None and hong_kong.template.country == "HK"
    assert hong_kong.network_for("2400:CB00:0:0::7") == "2400:cb00::/32"
    count = len(reads)
    assert flat.place_of("2400:cb00:0:1::1") is hong_kong and len(reads) == count  # same /48
    geo6 = flat.locate("2400:CB00::0001")
    assert (geo6.address.original, geo6.address.lookup) == ("2400:CB00::0001", "2400:cb00::1")
    assert geo6.evidence[0].lookup == "2400:cb00::1"


def test_cached_answers_equal_uncached_ones_in_every_layout_and_combination(
    geo_dbs: dict[str, Path], tmp_path: Path
) -> None:
    combos = [[geo_dbs[name]] for name in geo_dbs] + [
        [geo_dbs["city"], geo_dbs["anonymous"], geo_dbs["asn"]],
        [geo_dbs["flat"], geo_dbs["city"]],
        [_nested_networks(tmp_path)],
    ]
    ips = ["81.2.69.160", "5.0.1.9", "2.0.0.3", "3.0.0.4", "6.0.0.9", "7.0.0.9", "8.0.0.1"]
    ips += ["9.4.5.6", "11.0.0.17", "11.0.1.1", "11.1.0.200", "12.0.0.1", "4.0.0.1"]
    ips += ["2400:cb00::5", "2400:CB00:0:9::1", "2a03:2880::1", "2400:cb01::1"]
    for paths in combos:
        cached = Geolocator([GeoDatabase(p) for p in paths])
        uncached = Geolocator([GeoDatabase(p) for p in paths], cache_size=0)
        for _ in range(2):  # the second round is served from the tables
            for ip in ips:
                expected = uncached.locate_address(parse_address(ip)).to_dict()
                assert cached.locate(ip).to_dict() == expected, (paths, ip)
                assert uncached.locate(ip).to_dict() == expected


def test_the_24_table_is_bounded_and_size_zero_turns_the_cache_off(tmp_path: Path) -> None:
    path = _nested_networks(tmp_path)
    geo, reads = _counting(path, cache_size=2)
    for ip in ("11.0.8.1", "11.0.9.1", "11.1.0.1", "11.0.9.2"):
        geo.place_of(ip)  # the third /24 row emptied the table: 11.0.9.x is read again
    assert [ip for ip in reads if ip.startswith("11.0.9.")] == ["11.0.9.1", "11.0.9.2"]
    geo.place_of("11.0.9.3")
    assert reads[-1] == "11.0.9.2"
    off, off_reads = _counting(path, cache_size=0)
    off.place_of("9.1.2.3")
    count = len(off_reads)
    off.place_of("9.1.2.3")
    assert len(off_reads) > count


_MAXMIND = Path(__file__).resolve().parent.parent / "data" / "maxmind" / "test-data"


@functools.cache
def _cached_and_uncached() -> list[tuple[Geolocator, Geolocator]]:
    """The bundled database, and MaxMind's City + Anonymous IP + ASN test databases stacked."""
    stacks = [
        [DEFAULT_DATABASE],
        [_MAXMIND / f"{n}.mmdb" for n in ("GeoIP2-City-Test", "GeoIP2-Anonymous-IP-Test")]
        + [_MAXMIND / "GeoLite2-ASN-Test.mmdb"],
    ]
    return [
        (
            Geolocator([GeoDatabase(p) for p in paths]),
            Geolocator([GeoDatabase(p) for p in paths], cache_size=0),
        )
        for paths in stacks
    ]


_NEAR = ["81.2.69.160", "2.17.19.1", "5.3.41.9", "89.160.20.112", "2001:218::1", "2a02:cf40::1"]


@settings(max_examples=400, deadline=None)
@given(
    st.one_of(
        st.ip_addresses().map(str),
        st.tuples(st.sampled_from(_NEAR), st.integers(0, 4095)).map(
            lambda t: str(ipaddress.ip_address(t[0]) + t[1])
        ),
    )
)
def test_network_cache_agrees_with_the_reference_path_on_any_address(ip: str) -> None:
    for cached, uncached in _cached_and_uncached():
        expected = uncached.locate_address(parse_address(ip)).to_dict()
        assert cached.locate(ip).to_dict() == expected
        assert cached.locate(ip).to_dict() == expected  # now from the tables
