"""scripts/geo_db.py (``make geo-db``) on small DB-IP City Lite look-alikes built here."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import maxminddb
import pytest
from mmdb_writer import MMDBWriter
from netaddr import IPSet

ROOT = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import geo_db  # noqa: E402


def _city(country: str, state: str = "", city: str = "") -> dict[str, Any]:
    return {"country_code": country, "state1": state, "city": city, "state2": "", "postcode": ""}


def _source(path: Path, version: int, networks: dict[str, dict[str, Any]]) -> Path:
    writer = MMDBWriter(ip_version=version, database_type="city", description="test")
    for cidr, record in networks.items():
        writer.insert_network(IPSet([cidr]), record)
    writer.to_db_file(str(path))
    return path


def _run(tmp_path: Path, v4: Path, v6: Path, name: str = "out") -> tuple[int, Path, Path]:
    out, prov = tmp_path / f"{name}.mmdb", tmp_path / f"{name}.json"
    argv = ["--ipv4", str(v4), "--ipv6", str(v6), "--package", "test@1"]
    code = geo_db.main([*argv, "--output", str(out), "--provenance", str(prov)])
    return code, out, prov


def _build(tmp_path: Path, v4: dict[str, Any], v6: dict[str, Any]) -> tuple[int, Path, Path]:
    v4_path = _source(tmp_path / "v4.mmdb", 4, v4)
    return _run(tmp_path, v4_path, _source(tmp_path / "v6.mmdb", 6, v6))


V4 = {
    "10.0.0.0/25": _city("UA", "Kyiv City", "Kyiv"),
    "10.0.0.128/25": _city("UA", "Kyiv City", "Kyiv (Obolon)"),  # merges with the one above
    "10.0.1.0/24": _city("UA", "Kharkivs\u2019ka Oblast\u2019"),
    "10.0.2.0/24": _city("UA", "Kharkiv"),
    "10.0.3.0/24": _city("RU", "Crimea", "Simferopol"),
    "10.0.4.0/24": _city("RU", "Moscow"),
    "10.0.8.0/24": _city("GB", "England", "London"),
    "10.0.9.0/24": _city("GB", "Scotland", "Glasgow"),  # merges with England: country only
    "10.0.7.0/24": _city("UA"),
}
V6 = {"2a02:2378::/32": _city("UA", "Odessa"), "2a00::/32": _city("DE", "Berlin")}


def test_the_build_keeps_country_everywhere_and_subdivisions_where_policies_need_them(
    tmp_path: Path,
) -> None:
    code, out, prov = _build(tmp_path, V4, V6)
    assert code == 0
    with maxminddb.open_database(str(out)) as reader:
        assert reader.metadata().database_type == "DBIP-City-Lite-regiongate"
        assert reader.get_with_prefix_len("10.0.0.200") == (
            {"country_code": "UA", "subdivision_code": "UA-30"},
            24,  # the two /25s of Kyiv City merged into one /24
        )
        assert reader.get("10.0.1.1") == reader.get("10.0.2.1")  # two spellings, one code
        assert reader.get("10.0.3.1") == {"country_code": "RU", "subdivision_code": "UA-43"}
        assert reader.get("10.0.4.1") == {"country_code": "RU"}  # only occupied areas mapped
        assert reader.get_with_prefix_len("10.0.9.1") == ({"country_code": "GB"}, 23)
        assert reader.get("10.0.7.1") == {"country_code": "UA"}  # no region: review later
        assert reader.get("2a02:2378::1") == {"country_code": "UA", "subdivision_code": "UA-51"}
        assert reader.get("2a00::1") == {"country_code": "DE"}
    provenance = json.loads(prov.read_text())
    assert provenance["subdivision_countries"] == ["UA"]
    assert provenance["state_names"]["RU"] == {"Crimea": "UA-43"}
    assert provenance["state_names"]["UA"]["Odessa"] == "UA-51"
    assert provenance["output"]["sha256"] and provenance["source"]["package"] == "test@1"


def test_the_same_input_gives_the_same_bytes(tmp_path: Path) -> None:
    code, first, _ = _build(tmp_path, V4, V6)
    again = _run(tmp_path, tmp_path / "v4.mmdb", tmp_path / "v6.mmdb", "again")[1]
    assert code == 0 and first.read_bytes() == again.read_bytes()


def test_a_state_name_the_mapping_does_not_know_fails_the_build(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _build(tmp_path, {"10.0.0.0/24": _city("UA", "Kyivska Oblast Nova")}, {})
    assert code == 1
    assert "unmapped state name: UA 'Kyivska Oblast Nova'" in capsys.readouterr().err
    assert not out.exists()
