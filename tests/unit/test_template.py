"""template.yaml's wiring, asserted: routes, permissions, queues, logs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from regiongate.events import AUDIT_SOURCE, DECISIONS_SOURCE, SOURCES
from regiongate.local.runtime import load_handler_module
from regiongate.local.template import Template
from regiongate.policy import PolicySet
from upstream import UPSTREAM_PARAMETERS

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS = (
    "GeolocateFunction",
    "RulesFunction",
    "ClassifyFunction",
    "AuthorizeFunction",
    "AuditFunction",
)


def gate_template(kind: str, providers: tuple[str, ...] = tuple(UPSTREAM_PARAMETERS)) -> Template:
    parameters = {UPSTREAM_PARAMETERS[p]: f"https://{p}.example.com" for p in providers}
    return Template.load(ROOT / "template.yaml", {"GateApiType": kind, **parameters})


@pytest.fixture(scope="module")
def template() -> Template:
    return gate_template("HTTP")


def test_each_route_maps_to_the_right_function(template: Template) -> None:
    routes = {(r.method, r.path): r for r in template.routes()}
    expected = {
        ("GET", "/v1/geo/info"): "GeolocateFunction",
        ("GET", "/v1/geo/{ip}"): "GeolocateFunction",
        ("GET", "/v1/geo"): "GeolocateFunction",
        ("GET", "/v1/providers"): "RulesFunction",
        ("GET", "/v1/providers/{provider}"): "RulesFunction",
        ("GET", "/v1/providers/{provider}/eligibility"): "RulesFunction",
        ("POST", "/v1/classify"): "ClassifyFunction",
        ("GET", "/v1/decisions/{decision_id}"): "AuditFunction",
        ("GET", "/v1/decisions"): "AuditFunction",
    }
    assert {k: v.function for k, v in routes.items() if v.function} == expected
    assert routes[("GET", "/v1/decisions")].auth == "AWS_IAM"


@pytest.mark.parametrize("kind", ["HTTP", "REST"])
def test_each_provider_has_its_own_gate_route_bound_to_its_own_upstream(kind: str) -> None:
    """No route takes the provider from a path parameter, and none forwards elsewhere."""
    gate = [r for r in gate_template(kind).routes() if r.path.startswith("/proxy")]
    assert {r.path: r.upstream for r in gate} == {
        f"/proxy/{p}/{{proxy+}}": f"https://{p}.example.com/{{proxy}}" for p in UPSTREAM_PARAMETERS
    }
    assert {(r.method, r.authorizer, r.api) for r in gate} == {("ANY", "AuthorizeFunction", kind)}


def test_only_configured_providers_get_a_gate_route() -> None:
    routes = gate_template("REST", ("anthropic",)).routes()
    assert [r.path for r in routes if r.path.startswith("/proxy")] == ["/proxy/anthropic/{proxy+}"]


def test_every_gate_provider_has_a_policy(policies: PolicySet) -> None:
    assert set(UPSTREAM_PARAMETERS) <= set(policies.providers)


def test_the_rest_gate_renders_the_authorizers_refusal_and_json_errors() -> None:
    answers = gate_template("REST").gateway_responses()
    assert answers["ACCESS_DENIED"] == (403, "$context.authorizer.refusal_body")
    assert answers["MISSING_AUTHENTICATION_TOKEN"][0] == 404
    assert (answers["INTEGRATION_FAILURE"][0], answers["INTEGRATION_TIMEOUT"][0]) == (502, 504)
    for status, text in answers.values():
        if "$context" not in text:
            assert json.loads(text)["error"]["code"], status
    assert gate_template("HTTP").gateway_responses() == {}


def test_the_rest_gate_streams_upstream_answers() -> None:
    template = gate_template("REST")
    for method in template.of_type("AWS::ApiGateway::Method").values():
        assert method["Properties"]["Integration"]["ResponseTransferMode"] == "STREAM"


def test_management_routes_switch_to_jwt_by_parameter() -> None:
    jwt = Template.load(ROOT / "template.yaml", {"ManagementAuth": "JWT"})
    assert {r.auth for r in jwt.routes() if r.path.startswith("/v1/decisions")} == {"JWT"}


@pytest.mark.parametrize("kind", ["HTTP", "REST"])
def test_the_gate_is_left_out_without_an_upstream(kind: str) -> None:
    plain = Template.load(ROOT / "template.yaml", {"GateApiType": kind})
    assert not [r for r in plain.routes() if r.path.startswith("/proxy")]
    gate = [k for k in plain.resources if k.startswith("Gate")]
    assert not [k for k in gate if plain._present(plain.resources[k])]


def test_template_routes_and_function_resolvers_agree(template: Template) -> None:
    """Routes live in template.yaml; each function must serve exactly its own."""
    for logical_id in FUNCTIONS:
        module = load_handler_module(template.handler_file(logical_id))
        app = getattr(module, "app", None)
        declared = {(r.method, r.path) for r in template.routes() if r.function == logical_id}
        if app is None:
            assert not declared, logical_id
            continue
        served = {
            (route.method, route.path.replace("<", "{").replace(">", "}"))
            for route in app._static_routes + app._dynamic_routes
        }
        assert served == declared, logical_id


def test_every_function_has_its_own_log_group_with_retention(template: Template) -> None:
    for logical_id in FUNCTIONS:
        group = template.function(logical_id)["LoggingConfig"]["LogGroup"]["Ref"]
        assert template.resources[group]["Type"] == "AWS::Logs::LogGroup"
        assert "RetentionInDays" in template.resources[group]["Properties"]


def test_functions_run_python_313_on_arm64_traced_with_powertools_settings(
    template: Template,
) -> None:
    for logical_id in FUNCTIONS:
        fn = template.function(logical_id)
        assert (fn["Runtime"], fn["Architectures"], fn["Tracing"]) == (
            "python3.13",
            ["arm64"],
            "Active",
        )
        env = template.environment(logical_id)
        assert env["POWERTOOLS_SERVICE_NAME"] == "regiongate"
        assert env["POWERTOOLS_METRICS_NAMESPACE"] == "regiongate"
        assert env["POWERTOOLS_LOG_LEVEL"] in ("DEBUG", "INFO")
        assert env["REGIONGATE_GEO_DATABASES"] == "/opt/geo/dbip-city-lite-regiongate.mmdb"


def _statements(template: Template) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for logical_id in FUNCTIONS:
        for policy in template.function(logical_id).get("Policies", []):
            out += [(logical_id, s) for s in policy.get("Statement", [])]
    return out


def test_no_policy_grants_wildcard_actions(template: Template) -> None:
    for logical_id, statement in _statements(template):
        actions = (
            statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        )
        assert all("*" not in a for a in actions), (logical_id, actions)
        assert statement["Resource"] != "*", logical_id


def test_put_events_is_limited_to_the_bus_and_each_producers_source(template: Template) -> None:
    grants = {
        (fn, s["Condition"]["StringEquals"]["events:source"])
        for fn, s in _statements(template)
        if s["Action"] == "events:PutEvents"
    }
    assert grants == {
        ("ClassifyFunction", DECISIONS_SOURCE),
        ("AuthorizeFunction", DECISIONS_SOURCE),
        ("AuditFunction", AUDIT_SOURCE),
    }
    # Every source the events module defines is granted to its producers, and no other.
    assert {source for _, source in grants} == set(SOURCES)
    for _, statement in _statements(template):
        if statement["Action"] == "events:PutEvents":
            assert statement["Resource"] == {"Fn::GetAtt": ["DecisionBus", "Arn"]}


def test_dynamodb_rights_are_limited_to_the_audit_table(template: Template) -> None:
    for fn, statement in _statements(template):
        actions = (
            statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        )
        if any(a.startswith("dynamodb:") for a in actions):
            assert fn == "AuditFunction"
            resolved = template.resolve(statement["Resource"])
            assert all("table/regiongate-AuditTable" in r or "AuditTable" in r for r in resolved)


def test_every_rule_target_queue_lets_eventbridge_send_only_for_that_rule(
    template: Template,
) -> None:
    """moto delivers without a queue policy; AWS does not. The policy must exist and match."""
    policy = template.of_type("AWS::SQS::QueuePolicy")["EventBridgeToQueuesPolicy"]
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    covered_queues = {q["Ref"] for q in policy["Properties"]["Queues"]}
    for rule_id, rule in template.of_type("AWS::Events::Rule").items():
        for target in rule["Properties"]["Targets"]:
            for queue_ref in (target["Arn"], target["DeadLetterConfig"]["Arn"]):
                queue = queue_ref["Fn::GetAtt"][0]
                assert queue in covered_queues, (rule_id, queue)
                allowed = [
                    s
                    for s in statements
                    if s["Resource"] == queue_ref
                    and s["Principal"] == {"Service": "events.amazonaws.com"}
                    and s["Action"] == "sqs:SendMessage"
                ]
                sources = []
                for s in allowed:
                    arns = s["Condition"]["ArnEquals"]["aws:SourceArn"]
                    sources += arns if isinstance(arns, list) else [arns]
                assert {"Fn::GetAtt": [rule_id, "Arn"]} in sources, (rule_id, queue)


def test_every_queue_has_a_dead_letter_queue_and_every_target_one_too(template: Template) -> None:
    queues = template.of_type("AWS::SQS::Queue")
    for logical_id, queue in queues.items():
        if logical_id == "AuditDeadLetterQueue":
            continue
        redrive = queue["Properties"]["RedrivePolicy"]
        assert redrive["deadLetterTargetArn"] == {"Fn::GetAtt": ["AuditDeadLetterQueue", "Arn"]}
    for rule in template.of_type("AWS::Events::Rule").values():
        assert all("DeadLetterConfig" in t for t in rule["Properties"]["Targets"])


def test_audit_consumer_reports_partial_batch_failures(template: Template) -> None:
    events = template.function("AuditFunction")["Events"]
    for name in ("AuditQueue", "FallbackQueue"):
        assert events[name]["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_table_has_ttl_point_in_time_recovery_and_the_indexes_the_store_queries(
    template: Template,
) -> None:
    table = template.resources["AuditTable"]["Properties"]
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert {i["IndexName"] for i in table["GlobalSecondaryIndexes"]} == {
        "by_account",
        "by_provider_day",
    }


def test_alarms_watch_the_dead_letter_queue_and_every_function(template: Template) -> None:
    alarms = template.of_type("AWS::CloudWatch::Alarm").values()
    watched = {
        a["Properties"]["Dimensions"][0]["Value"].get("Ref")
        or a["Properties"]["Dimensions"][0]["Value"]["Fn::GetAtt"][0]
        for a in alarms
    }
    assert watched == {*FUNCTIONS, "AuditDeadLetterQueue"}


def test_outputs_and_archive(template: Template) -> None:
    assert {"ApiUrl", "EventBusName", "AuditTableName"} <= set(template.document["Outputs"])
    assert template.of_type("AWS::Events::Archive")


def test_http_api_logs_access_and_keeps_cors_off_by_default(template: Template) -> None:
    api = template.resources["ServiceApi"]["Properties"]
    assert api["AccessLogSettings"]["DestinationArn"] == {
        "Fn::GetAtt": ["ApiAccessLogGroup", "Arn"]
    }
    assert template.resolve(api["CorsConfiguration"]) is None


def test_the_http_gate_overwrites_the_decision_headers_a_caller_could_send() -> None:
    """``append:`` would keep a caller's own ``x-regiongate-country: US`` in front of the
    gate's value on its way to the provider; ``overwrite:`` replaces it, as the README says."""
    template = gate_template("HTTP")
    integrations = [
        i["Properties"]
        for i in template.of_type("AWS::ApiGatewayV2::Integration").values()
        if i["Properties"]["IntegrationType"] == "HTTP_PROXY"
    ]
    assert len(integrations) == len(UPSTREAM_PARAMETERS)
    for props in integrations:
        mapped = props["RequestParameters"]
        assert {k for k in mapped if "x-regiongate-" in k} == {
            "overwrite:header.x-regiongate-decision-id",
            "overwrite:header.x-regiongate-country",
        }
