"""Every file in events/ through its function's handler, on moto, with asserted answers."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from helpers import Stack, load_event
from regiongate.policy import PolicySet


def call(stack: Stack, function: str, event_name: str) -> tuple[int, dict[str, Any]]:
    response = stack.invoke(function, load_event(event_name))
    return response["statusCode"], json.loads(response["body"])


# --- geolocate -----------------------------------------------------------------------------


def test_geolocate_reports_country_and_evidence(stack: Stack) -> None:
    status, body = call(stack, "GeolocateFunction", "geolocate-ip-cn")
    assert status == 200
    assert (body["country"], body["network"]) == ("CN", "1.2.4.0/22")
    assert body["evidence"][0]["database"]["path"] == "dbip-city-lite-regiongate.mmdb"


def test_geolocate_ipv6_private_and_malformed(stack: Stack) -> None:
    assert call(stack, "GeolocateFunction", "geolocate-ip-ipv6")[1]["country"] == "CN"
    status, body = call(stack, "GeolocateFunction", "geolocate-ip-private")
    assert (status, body["status"]) == (200, "not_routable")
    status, body = call(stack, "GeolocateFunction", "geolocate-ip-malformed")
    assert status == 400
    assert body["error"]["code"] == "invalid_ip"
    assert body["error"]["details"]["value"] == "999.1.1.1"


def test_geolocate_caller_uses_the_source_ip_and_says_so(stack: Stack) -> None:
    status, body = call(stack, "GeolocateFunction", "geolocate-caller-hk")
    assert (status, body["country"]) == (200, "HK")
    assert body["client"] == {
        "ip": "223.255.128.1",
        "method": "source-ip",
        "source_ip": "223.255.128.1",
    }


def test_geo_info_lists_the_databases_in_use_with_their_age(stack: Stack) -> None:
    status, body = call(stack, "GeolocateFunction", "geolocate-geo-info")
    assert status == 200
    [db] = body["databases"]
    assert (db["file"], db["type"]) == (
        "dbip-city-lite-regiongate.mmdb",
        "DBIP-City-Lite-regiongate",
    )
    assert db["answers_country"] and db["subdivisions"]
    assert db["age_days"] > 0 and body["max_age_days"] == 45


# --- rules ---------------------------------------------------------------------------------


def test_rules_list_show_and_unknown(stack: Stack) -> None:
    status, body = call(stack, "RulesFunction", "rules-list")
    assert status == 200
    assert "openai" in {p["provider"] for p in body["providers"]}
    status, body = call(stack, "RulesFunction", "rules-show-openai")
    assert status == 200
    assert body["policy"]["countries"]["provenance"]["as_of"] == "2026-05-27"
    assert body["policy"]["enforcement"][1]["effective_from"] == "2024-07-09"
    status, body = call(stack, "RulesFunction", "rules-show-unknown-provider")
    assert (status, body["error"]["code"]) == (404, "unknown_provider")


def test_rules_eligibility(stack: Stack) -> None:
    status, body = call(stack, "RulesFunction", "rules-eligibility-cn-openai")
    assert status == 200
    assert (body["allowed"], body["outcome"]) == (False, "reroute")
    assert body["alternatives"]
    # An "enterprise" tier no longer unlocks Azure OpenAI in China: no source names one.
    status, body = call(stack, "RulesFunction", "rules-eligibility-cn-azure-enterprise")
    assert (status, body["allowed"], body["outcome"]) == (200, False, "review")
    status, body = call(stack, "RulesFunction", "rules-eligibility-bad-country")
    assert (status, body["error"]["code"]) == (422, "validation_error")


# --- classify ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "outcome", "country"),
    [
        ("classify-cn-openai", "reroute", "CN"),
        ("classify-hk-anthropic", "reroute", "HK"),
        # Anthropic's ownership rule needs account facts this caller did not state.
        ("classify-us-anthropic", "review", "US"),
        ("classify-ipv6-cn-openai", "reroute", "CN"),
        ("classify-private-ip", "review", None),
        ("classify-sam-sample-cidr-source", "review", None),
    ],
)
def test_classify_decides_and_publishes_before_answering(
    stack: Stack, event: str, outcome: str, country: str | None
) -> None:
    status, body = call(stack, "ClassifyFunction", event)
    assert status == 200
    assert (body["outcome"], body["geo"]["country"]) == (outcome, country)
    messages = stack.drain("AuditQueue")
    assert len(messages) == 1
    recorded = json.loads(messages[0]["Body"])
    assert recorded["detail-type"] == "DecisionRecorded"
    record = recorded["detail"]["record"]
    assert record["decision_id"] == body["decision_id"]
    assert "ip" not in record and len(record["ip_hash"]) == 32
    review = stack.drain("ReviewQueue")
    assert len(review) == (1 if outcome == "review" else 0)


def test_classify_openai_denial_carries_openais_error_shape(stack: Stack) -> None:
    _, body = call(stack, "ClassifyFunction", "classify-cn-openai")
    assert body["provider_error"]["status"] == 403
    assert body["provider_error"]["body"]["error"]["code"] == "unsupported_country_region_territory"
    assert body["client"]["method"] == "source-ip"


def test_spoofed_forwarded_for_is_ignored_without_configured_trust(stack: Stack) -> None:
    status, body = call(stack, "ClassifyFunction", "classify-spoofed-xff")
    assert status == 200
    assert body["geo"]["country"] == "CN"  # the header claimed 8.8.8.8
    assert body["client"]["method"] == "source-ip"


@pytest.mark.parametrize(
    ("event", "status", "code"),
    [
        ("classify-malformed-json", 400, "malformed_json"),
        ("classify-unknown-provider", 404, "unknown_provider"),
        ("classify-invalid-field", 422, "validation_error"),
        ("classify-oversized-body", 413, "payload_too_large"),
        ("classify-ip-override-untrusted", 403, "ip_override_forbidden"),
    ],
)
def test_classify_bad_requests_get_precise_errors_and_record_nothing(
    stack: Stack, event: str, status: int, code: str
) -> None:
    got_status, body = call(stack, "ClassifyFunction", event)
    assert (got_status, body["error"]["code"]) == (status, code)
    assert body["error"]["message"]
    assert stack.drain("AuditQueue") == []


# --- authorize -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "outcome"),
    [
        ("authorize-cn-anthropic", "reroute"),
        ("authorize-hk-anthropic", "reroute"),
        # No account facts: Anthropic's ownership rule reviews (so the gate refuses).
        ("authorize-us-anthropic", "review"),
    ],
)
def test_authorizer_gates_anthropic_by_country_and_records_it(
    stack: Stack, event: str, outcome: str
) -> None:
    result = stack.invoke("AuthorizeFunction", load_event(event))
    assert result["isAuthorized"] is (outcome == "allow")
    context = result["context"]
    assert context["provider"] == "anthropic"
    assert context["outcome"] == outcome
    records = [json.loads(m["Body"])["detail"]["record"] for m in stack.drain("AuditQueue")]
    assert [r["decision_id"] for r in records] == [context["decision_id"]]
    if outcome == "reroute":  # a refusal: the provider's own error body
        assert json.loads(context["refusal_body"])["error"]["type"] == "forbidden"
    elif outcome == "review":  # not a provider refusal: the gate's own envelope
        assert json.loads(context["refusal_body"])["error"]["code"] == "request_refused"
    else:
        assert "refusal_body" not in context


def test_authorizer_refuses_a_route_bound_to_an_unknown_provider(stack: Stack) -> None:
    result = stack.invoke("AuthorizeFunction", load_event("authorize-unknown-provider"))
    assert result["isAuthorized"] is False
    assert result["context"]["error"] == "unknown_provider"
    body = json.loads(result["context"]["refusal_body"])
    assert body["error"]["code"] == "request_refused"


def test_authorizer_never_judges_a_provider_named_by_a_path_parameter(stack: Stack) -> None:
    """The old walk-around: a free {provider} route judged whatever the caller named."""
    result = stack.invoke("AuthorizeFunction", load_event("authorize-free-provider-parameter"))
    assert result["isAuthorized"] is False
    assert result["context"]["error"] == "not_a_gate_route"
    assert stack.drain("AuditQueue") == []


@pytest.mark.parametrize(
    ("event", "effect"),
    [("authorize-rest-cn-openai", "Deny"), ("authorize-rest-us-openai", "Allow")],
)
def test_rest_authorizer_answers_a_policy_document_with_the_providers_refusal(
    stack: Stack, event: str, effect: str, policies: PolicySet
) -> None:
    request = load_event(event)
    result = stack.invoke("AuthorizeFunction", request)
    assert result["policyDocument"]["Statement"] == [
        {"Action": "execute-api:Invoke", "Effect": effect, "Resource": request["methodArn"]}
    ]
    context = result["context"]
    assert result["principalId"] == context["decision_id"]
    assert context["provider"] == "openai"
    assert all(isinstance(v, str | int | bool) for v in context.values())
    if effect == "Deny":
        openai = policies.providers["openai"].error_response
        assert json.loads(context["refusal_body"]) == openai["body"]
        assert json.loads(context["refusal_body"])["error"]["code"] == (
            "unsupported_country_region_territory"
        )


def test_rest_authorizer_refuses_the_sam_sample_without_an_address(stack: Stack) -> None:
    result = stack.invoke("AuthorizeFunction", load_event("authorize-rest-sam-sample"))
    assert result["policyDocument"]["Statement"][0]["Effect"] == "Deny"
    assert result["context"]["error"] == "invalid_ip"


# --- audit ---------------------------------------------------------------------------------


def test_audit_batch_stores_once_and_reports_only_the_poison_message(stack: Stack) -> None:
    result = stack.invoke("AuditFunction", load_event("audit-sqs-batch"))
    assert result == {
        "batchItemFailures": [{"itemIdentifier": "44444444-4444-4444-8444-444444444444"}]
    }
    status, body = call(stack, "AuditFunction", "audit-get-decision")
    assert status == 200
    assert body["sequence"] == 1 and body["outcome"] == "reroute"
    status, body = call(stack, "AuditFunction", "audit-list-decisions")
    assert status == 200
    assert [d["decision_id"] for d in body["decisions"]] == ["01934a7b-0000-7000-8000-000000000001"]


def test_audit_get_of_an_unknown_decision_is_404(stack: Stack) -> None:
    status, body = call(stack, "AuditFunction", "audit-get-decision")
    assert (status, body["error"]["code"]) == (404, "not_found")


def test_the_audit_queue_path_loads_no_http_stack() -> None:
    """Queue batches are most of the audit function's work: importing it must not pull in the
    resolver and pydantic, which only its HTTP routes need (they cost ~200 ms of cold start)."""
    app = Path(__file__).resolve().parents[2] / "functions" / "audit" / "app.py"
    probe = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('audit_app', {str(app)!r})\n"
        "module = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(module)\n"
        "resolver = 'aws_lambda_powertools.event_handler.api_gateway'\n"
        "print('pydantic' in sys.modules, resolver in sys.modules)\n"
        "module.app\n"
        "print('pydantic' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.split() == ["False", "False", "True"]
