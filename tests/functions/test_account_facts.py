"""Account facts through every entry point: HTTP and the authorizer accept them from trusted
gateways only (403 otherwise, as for a body 'ip'); the CLI and batch files (the operator)
are trusted sources. Each decision records the facts and who stated them (issue 11)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from helpers import Stack, load_event
from regiongate.cli import main

GATEWAY = "1.2.4.8"  # the classify event's direct caller; trusted only where a test says so
US_GATEWAY = "8.8.4.4"  # the authorizer's direct caller (it judges that address itself)
OWNED_BY_CN = {"country": "SG", "parent_country": "CN", "parent_ownership": 60}


def _trust(stack: Stack, monkeypatch: pytest.MonkeyPatch, cidrs: str) -> None:
    real = stack.template.environment

    def environment(logical_id: str) -> dict[str, str]:
        return {**real(logical_id), "REGIONGATE_TRUSTED_GATEWAY_CIDRS": cidrs}

    monkeypatch.setattr(stack.template, "environment", environment)


def _classify(stack: Stack, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    event = copy.deepcopy(load_event("classify-ip-override-untrusted"))
    event["body"] = json.dumps(body)
    response = stack.invoke("ClassifyFunction", event)
    return response["statusCode"], json.loads(response["body"])


def _authorize(stack: Stack, headers: dict[str, str]) -> dict[str, Any]:
    event = copy.deepcopy(load_event("authorize-us-anthropic"))
    event["headers"].update(headers)
    event["requestContext"]["http"]["sourceIp"] = US_GATEWAY
    event["headers"]["x-forwarded-for"] = US_GATEWAY
    result: dict[str, Any] = stack.invoke("AuthorizeFunction", event)
    return result


def test_http_facts_from_an_untrusted_caller_are_refused_with_403(stack: Stack) -> None:
    status, body = _classify(stack, {"provider": "anthropic", "account": OWNED_BY_CN})
    assert (status, body["error"]["code"]) == (403, "account_facts_forbidden")
    status, body = _classify(stack, {"provider": "google_gemini", "end_user": {"country": "DE"}})
    assert (status, body["error"]["code"]) == (403, "account_facts_forbidden")


def test_http_facts_from_a_trusted_gateway_decide_and_are_recorded(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    _trust(stack, monkeypatch, f"{GATEWAY}/32")
    status, body = _classify(
        stack, {"provider": "anthropic", "ip": "8.8.8.8", "account": {"id": "a1", **OWNED_BY_CN}}
    )
    assert status == 200
    assert body["outcome"] in ("deny", "reroute")
    assert "OWNERSHIP_IN_UNSUPPORTED_REGION" in [r["code"] for r in body["reasons"]]
    assert body["account"]["facts"] == {
        **OWNED_BY_CN,
        "parent_ownership": 60.0,
        "source": "trusted-gateway",
    }
    status, body = _classify(
        stack, {"provider": "anthropic", "ip": "8.8.8.8", "account": {"id": "a1", "country": "QQ"}}
    )
    assert (status, body["error"]["code"]) == (400, "invalid_request")


def test_authorizer_refuses_fact_headers_from_an_untrusted_caller(stack: Stack) -> None:
    result = _authorize(stack, {"x-regiongate-account-country": "US"})
    assert result["isAuthorized"] is False
    assert result["context"]["error"] == "account_facts_forbidden"


def test_authorizer_decides_on_fact_headers_from_a_trusted_gateway(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    _trust(stack, monkeypatch, f"{US_GATEWAY}/32")
    missing = _authorize(stack, {})
    assert missing["isAuthorized"] is False
    assert missing["context"]["reasons"] == "MISSING_ACCOUNT_COUNTRY"
    independent = {
        "x-regiongate-account-country": "US",
        "x-regiongate-account-parent-ownership": "0",
    }
    allowed = _authorize(stack, independent)
    assert allowed["isAuthorized"] is True, allowed["context"]
    owned = _authorize(
        stack,
        {
            "x-regiongate-account-country": "SG",
            "x-regiongate-account-parent-country": "CN",
            "x-regiongate-account-parent-ownership": "60",
        },
    )
    assert owned["isAuthorized"] is False
    assert "OWNERSHIP_IN_UNSUPPORTED_REGION" in owned["context"]["reasons"]


def test_cli_takes_account_facts_as_a_trusted_source(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["classify", "--ip", "8.8.8.8", "--provider", "anthropic", "--json"]
    assert (
        main(
            [*args, "--account-country", "SG", "--parent-country", "CN", "--parent-ownership", "60"]
        )
        == 0
    )
    decision = json.loads(capsys.readouterr().out)
    assert decision["outcome"] in ("deny", "reroute")
    assert decision["account"]["facts"]["source"] == "cli"
    assert main([*args, "--account-country", "US", "--parent-ownership", "0"]) == 0
    assert json.loads(capsys.readouterr().out)["outcome"] == "allow"
    assert main(args) == 0
    reviewed = json.loads(capsys.readouterr().out)
    assert [r["code"] for r in reviewed["reasons"]] == ["MISSING_ACCOUNT_COUNTRY"]


def test_batch_rows_carry_account_facts_into_their_records(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    jsonl = tmp_path / "rows.jsonl"
    jsonl.write_text(
        json.dumps(
            {"ip": "8.8.8.8", "provider": "anthropic", "account": {"id": "a", **OWNED_BY_CN}}
        )
        + "\n"
        + json.dumps({"ip": "8.8.8.8", "provider": "google_gemini", "end_user_country": "CN"})
        + "\n"
    )
    csv = tmp_path / "rows.csv"
    csv.write_text("ip,provider,account_country,parent_ownership\n8.8.8.8,anthropic,US,0\n")
    out = tmp_path / "out.jsonl"
    assert main(["classify", "--input", str(jsonl), "--output", str(out), "--quiet"]) == 0
    owned, end_user = [json.loads(line) for line in out.read_text().splitlines()]
    assert owned["outcome"] in ("deny", "reroute")
    assert owned["account"]["facts"]["source"] == "batch-file"
    assert end_user["outcome"] in ("deny", "reroute")
    assert "END_USER_COUNTRY_NOT_SUPPORTED" in end_user["reasons"]
    assert main(["classify", "--input", str(csv), "--output", str(out), "--quiet"]) == 0
    [row] = [json.loads(line) for line in out.read_text().splitlines()]
    assert row["outcome"] == "allow"
    assert row["account"]["facts"] == {
        "country": "US",
        "parent_ownership": 0.0,
        "source": "batch-file",
    }
    capsys.readouterr()


def test_providers_show_and_the_rules_route_print_the_account_rules(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["providers", "show", "anthropic"]) == 0
    out = capsys.readouterr().out
    assert "account    ownership-in-unsupported-regions: HQ country served" in out
    assert "updating-restrictions-of-sales-to-unsupported-regions (as of 2025-09-04" in out
    response = stack.invoke("RulesFunction", load_event("rules-show-openai"))
    body = json.loads(response["body"])
    assert response["statusCode"] == 200
    assert any(line.startswith("  account    verified-organization-o3:") for line in body["rules"])
    assert any(
        "added_between" not in line and "GL?2026-05-27..2026-11-23" in line
        for line in body["rules"]
    )
