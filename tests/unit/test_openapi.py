"""The committed OpenAPI document matches the code, and covers every route in template.yaml."""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

import openapi  # noqa: E402
from regiongate.local.template import Template  # noqa: E402


def test_committed_openapi_document_matches_the_code() -> None:
    assert openapi.TARGET.read_text() == openapi.generate(), "run 'make openapi'"


def test_openapi_covers_every_http_route_in_the_template() -> None:
    document = json.loads(openapi.TARGET.read_text())
    documented = {(m.upper(), p) for p, ops in document["paths"].items() for m in ops}
    routes = {(r.method, r.path) for r in Template.load(ROOT / "template.yaml").routes()}
    assert documented == routes


def test_errors_share_one_documented_body() -> None:
    document = json.loads(openapi.TARGET.read_text())
    classify = document["paths"]["/v1/classify"]["post"]["responses"]
    for status in ("400", "404", "413", "422", "503"):
        schema = classify[status]["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/ErrorResponse"}
