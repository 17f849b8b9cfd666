"""geo info (databases in use, age, warnings) and geo drift (what a new database changes)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from geodb import write_mmdb
from regiongate.account import AccountFacts
from regiongate.audit import audit_record
from regiongate.cli import main
from regiongate.engine import Engine
from regiongate.geo import GeoDatabase, Geolocator
from regiongate.geodata import geo_drift, geo_info, info_text
from regiongate.policy import PolicySet
from regiongate.replay import read_records
from regiongate.request import Request

KEY = b"k" * 32


def _ua(subdivision: str) -> dict[str, Any]:
    return {"country_code": "UA", "subdivision_code": subdivision}


def _pair(tmp_path: Path) -> tuple[Path, Path]:
    """Two builds of one database: 5.0.0.0/24 moves from Kyiv (UA-30) to Crimea (UA-43);
    5.0.1.0/24 (Lviv) and 6.0.0.0/24 (US) stay put."""
    same = {"5.0.1.0/24": _ua("UA-46"), "6.0.0.0/24": {"country_code": "US"}}
    current = write_mmdb(
        tmp_path / "current.mmdb", "DBIP-City-Lite-regiongate", same | {"5.0.0.0/24": _ua("UA-30")}
    )
    new = write_mmdb(
        tmp_path / "new.mmdb", "DBIP-City-Lite-regiongate", same | {"5.0.0.0/24": _ua("UA-43")}
    )
    return current, new


US_COMPANY = AccountFacts(
    country="US", parent_ownership=0, source="test"
)  # passes the ownership rule


def _journal(engine: Engine, path: Path, requests: list[tuple[str, str]]) -> list[str]:
    """Decisions recorded as the audit trail keeps them (address masked to its network)."""
    ids = []
    with path.open("w") as out:
        for ip, provider in requests:
            decision = engine.decide(Request(ip, provider, account_facts=US_COMPANY))
            out.write(json.dumps(audit_record(decision, KEY)) + "\n")
            ids.append(decision.decision_id)
    return ids


def test_geo_drift_reports_exactly_the_decisions_a_new_database_flips(
    tmp_path: Path, policies: PolicySet
) -> None:
    current_path, new_path = _pair(tmp_path)
    current = Geolocator([GeoDatabase(current_path)])
    new = Geolocator([GeoDatabase(new_path)])
    journal = tmp_path / "journal.jsonl"
    ids = _journal(
        Engine(policies, current),
        journal,
        [("5.0.0.7", "anthropic"), ("5.0.1.7", "anthropic"), ("6.0.0.7", "openai")],
    )
    with journal.open() as stream:
        report = geo_drift(policies, current, new, read_records(stream))
    assert (report.records, report.unchanged, report.skipped) == (3, 2, [])
    assert report.to_dict()["flips"] == [
        {
            "provider": "anthropic",
            "country": "UA",
            "old": "allow",
            "new": "deny",
            "count": 1,
            "examples": [ids[0]],
        }
    ]
    assert report.current.startswith("current.mmdb@") and report.candidate.startswith("new.mmdb@")
    assert "anthropic" in report.to_text().splitlines()[2]


def test_geo_drift_from_the_command_line(
    tmp_path: Path, policies: PolicySet, capsys: pytest.CaptureFixture[str]
) -> None:
    current_path, new_path = _pair(tmp_path)
    journal = tmp_path / "journal.jsonl"
    _journal(
        Engine(policies, Geolocator([GeoDatabase(current_path)])), journal, [("5.0.0.7", "openai")]
    )
    argv = ["--geo-db", str(current_path), "geo", "drift", "--new", str(new_path)]
    code = main([*argv, "--input", str(journal), "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0
    assert [(f["provider"], f["old"], f["new"]) for f in report["flips"]] == [
        ("openai", "allow", "deny")
    ]
    assert main([*argv]) == 2  # no --input


def test_geo_info_gives_type_build_date_age_and_warns_past_the_limit(tmp_path: Path) -> None:
    current_path, _ = _pair(tmp_path)
    geolocator = Geolocator([GeoDatabase(current_path)])
    built = dt.date.fromisoformat(geolocator.databases[0].info.build_date)
    fresh = geo_info(geolocator, built + dt.timedelta(days=10), max_age_days=30)
    [db] = fresh["databases"]
    assert (db["file"], db["type"], db["age_days"]) == (
        "current.mmdb",
        "DBIP-City-Lite-regiongate",
        10,
    )
    assert db["answers_country"] and db["subdivisions"]
    assert "answers none of" in db["warnings"][0]  # a test file: no well-known address
    stale = geo_info(geolocator, built + dt.timedelta(days=31), max_age_days=30)
    assert stale["databases"][0]["warnings"][0] == "built 31 days ago, more than 30"
    assert str(tmp_path) not in json.dumps(stale)  # file names only, never paths
    assert "warning: built 31 days ago" in info_text(stale)


def test_geo_info_from_the_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["geo", "info", "--json", "--max-age-days", "100000"]) == 0
    info = json.loads(capsys.readouterr().out)
    [db] = info["databases"]
    assert db["file"] == "dbip-city-lite-regiongate.mmdb"
    assert db["warnings"] == []
    assert main(["geo", "info", "--max-age-days", "1"]) == 0
    assert "more than 1" in capsys.readouterr().out


def test_cli_refuses_databases_that_answer_no_country_with_exit_3(
    geo_dbs: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        ["--geo-db", str(geo_dbs["asn"]), "--geo-db", str(geo_dbs["anonymous"]), "geo", "8.8.8.8"]
    )
    err = capsys.readouterr().err
    assert code == 3
    assert "no configured database answers a country" in err
