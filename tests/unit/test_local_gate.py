"""The local gate answers for API Gateway itself exactly as the template's variant would."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest
from regiongate.local.events import HttpRequest
from regiongate.local.httpd import Answer
from regiongate.local.server import LocalService
from regiongate.local.template import Template

ROOT = Path(__file__).resolve().parents[2]


def service(kind: str, tmp_path: Path, answer: Any) -> LocalService:
    """A LocalService with the gate's routes, its authorizer replaced by ``answer``."""
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    parameters = {"GateApiType": kind, "OpenAiUpstreamUrl": f"http://127.0.0.1:{port}/openai"}
    local = LocalService(ROOT / "template.yaml", tmp_path, parameters=parameters)
    local.template = Template.load(ROOT / "template.yaml", parameters)
    local.routes = local.template.routes()

    def invoke(logical_id: str, event: dict[str, Any]) -> Any:
        if isinstance(answer, Exception):
            raise answer
        return answer

    local.invoke = invoke  # type: ignore[method-assign]
    return local


def ask(local: LocalService) -> tuple[int, Any]:
    request = HttpRequest("POST", "/proxy/openai/v1/chat/completions", [], b"{}", "127.0.0.1")
    answer = local.dispatch(request)
    assert isinstance(answer, Answer)
    return answer.status, json.loads(answer.body)


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("REST", (503, "audit_unavailable")),
        ("HTTP", (500, None)),
    ],
)
def test_a_failing_authorizer_forwards_nothing(tmp_path: Path, kind: str, expected: Any) -> None:
    status, body = ask(service(kind, tmp_path, RuntimeError("boom")))
    assert (status, (body.get("error") or {}).get("code")) == expected


def test_the_rest_gate_renders_the_refusal_body_the_http_api_cannot(tmp_path: Path) -> None:
    refusal = {"error": {"code": "unsupported_country_region_territory"}}
    denied = {
        "policyDocument": {"Statement": [{"Effect": "Deny"}]},
        "context": {"refusal_body": json.dumps(refusal)},
    }
    assert ask(service("REST", tmp_path, denied)) == (403, refusal)
    simple = {"isAuthorized": False, "context": {"refusal_body": json.dumps(refusal)}}
    assert ask(service("HTTP", tmp_path, simple)) == (403, {"message": "Forbidden"})


@pytest.mark.parametrize("kind", ["REST", "HTTP"])
def test_an_unreachable_upstream_is_502_with_the_envelope_in_both_variants(
    tmp_path: Path, kind: str
) -> None:
    allowed = {"isAuthorized": True, "context": {"decision_id": "d"}}
    status, body = ask(service(kind, tmp_path, allowed))
    assert (status, body["error"]["code"]) == (502, "upstream_unreachable")


@pytest.mark.parametrize("target", ["/proxy/openai/v1/\xff", "/proxy/openai/v1?x=\xff"])
def test_a_raw_non_ascii_target_is_400_before_judging_never_a_500(
    tmp_path: Path, target: str
) -> None:
    judged: list[str] = []
    local = service("REST", tmp_path, {"isAuthorized": True, "context": {"decision_id": "d"}})
    local.invoke = lambda logical_id, event: judged.append(logical_id)  # type: ignore[method-assign]
    answer = local.dispatch(HttpRequest("POST", target, [], b"{}", "127.0.0.1"))
    assert isinstance(answer, Answer)
    assert (answer.status, json.loads(answer.body)["error"]["code"]) == (400, "invalid_path")
    assert judged == []
