"""Write (or check) openapi.json: every function's routes merged into one document.

Usage: python scripts/openapi.py [--check]
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path
from typing import Any

from aws_lambda_powertools.event_handler.openapi.merge import OpenAPIMerge
from regiongate import __version__
from regiongate.local.runtime import load_handler_module
from regiongate.local.template import Template

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "openapi.json"


def generate() -> str:
    merge = OpenAPIMerge(
        title="regiongate",
        version=__version__,
        description="Decide whether a request to an AI model API may go through, given where "
        "it comes from and what each provider allows; every decision is recorded.",
        on_conflict="error",
    )
    # Each function builds its resolver through a factory, which discovery does not
    # recognise; load every function named in template.yaml and hand its schema over.
    template = Template.load(ROOT / "template.yaml")
    for logical_id in sorted(template.of_type("AWS::Serverless::Function")):
        app = getattr(load_handler_module(template.handler_file(logical_id)), "app", None)
        if app is not None:
            merge.add_schema(json.loads(app.get_openapi_json_schema()))
    schema = copy.deepcopy(merge.get_openapi_schema())
    return json.dumps(declared_only(schema), indent=2, sort_keys=True) + "\n"


# Powertools adds these to every route whatever it answers; our routes answer 422 with the
# shared error body, and only where they declare it (routes without validated input cannot).
_POWERTOOLS_ONLY = ("HTTPValidationError", "ResponseValidationError", "ValidationError")


def declared_only(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` without the responses and schemas the routes never produce."""
    refs = tuple(f"#/components/schemas/{name}" for name in _POWERTOOLS_ONLY)
    for operations in schema["paths"].values():
        for operation in operations.values():
            responses = operation["responses"]
            for status, response in list(responses.items()):
                body = response.get("content", {}).get("application/json", {}).get("schema", {})
                if body.get("$ref") in refs:
                    del responses[status]
    for name in _POWERTOOLS_ONLY:
        schema["components"]["schemas"].pop(name, None)
    return schema


def main(argv: list[str]) -> int:
    text = generate()
    if "--check" in argv:
        if not TARGET.exists() or TARGET.read_text() != text:
            print("openapi.json is out of date: run 'make openapi'", file=sys.stderr)
            return 1
        print("openapi.json is up to date")
        return 0
    TARGET.write_text(text)
    print(f"wrote {TARGET.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
