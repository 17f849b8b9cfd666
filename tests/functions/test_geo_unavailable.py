"""Geo data that cannot be read: the authorizer refuses on the record, handlers answer 503
without paths or reader messages, and start-up refuses data that can answer no country."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from helpers import Stack, load_event

MAXMIND = Path(__file__).resolve().parent.parent / "data" / "maxmind" / "test-data"


def _broken(tmp_path: Path, kind: str) -> str:
    if kind == "missing":
        return str(tmp_path / "absent.mmdb")
    if kind == "corrupt":
        return str(shutil.copy(MAXMIND / "GeoIP2-City-Test-Invalid-Node-Count.mmdb", tmp_path))
    # Opens cleanly, but can answer no country: every caller would silently go to review.
    return str(shutil.copy(MAXMIND / "GeoLite2-ASN-Test.mmdb", tmp_path))


def _configure(monkeypatch: pytest.MonkeyPatch, path: str) -> None:
    """Point the functions at ``path`` (the local runtime otherwise picks the bundled data)."""
    from regiongate.local import runtime

    overrides = runtime.local_overrides

    def with_path(data_dir: Path) -> dict[str, str]:
        return {**overrides(data_dir), "REGIONGATE_GEO_DATABASES": path}

    monkeypatch.setattr(runtime, "local_overrides", with_path)


@pytest.mark.parametrize("kind", ["missing", "corrupt", "no-country"])
def test_authorizer_refuses_with_a_recorded_decision_when_geo_data_is_unavailable(
    stack: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    _configure(monkeypatch, _broken(tmp_path, kind))
    result = stack.invoke("AuthorizeFunction", load_event("authorize-us-anthropic"))
    assert result["isAuthorized"] is False
    context = result["context"]
    assert (context["outcome"], context["reasons"]) == ("review", "GEO_DATA_UNAVAILABLE")
    assert context["rule"] == "geo/unavailable"
    records = [json.loads(m["Body"])["detail"]["record"] for m in stack.drain("AuditQueue")]
    assert [r["decision_id"] for r in records] == [context["decision_id"]]
    assert records[0]["reasons"] == ["GEO_DATA_UNAVAILABLE"]
    assert records[0]["geo"]["status"] == "unavailable"
    assert tmp_path.name not in json.dumps(result)


@pytest.mark.parametrize(
    ("kind", "function", "event"),
    [
        ("missing", "ClassifyFunction", "classify-us-anthropic"),
        ("corrupt", "GeolocateFunction", "geolocate-ip-cn"),
        ("no-country", "ClassifyFunction", "classify-us-anthropic"),
    ],
)
def test_handlers_answer_503_without_paths_or_reader_messages(
    stack: Stack,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    kind: str,
    function: str,
    event: str,
) -> None:
    _configure(monkeypatch, _broken(tmp_path, kind))
    response = stack.invoke(function, load_event(event))
    assert response["statusCode"] == 503
    body = json.loads(response["body"])
    assert body == {
        "error": {"code": "geo_database_unavailable", "message": "geo data is unavailable"}
    }
