"""scripts/gate_variants.py: each gate variant of template.yaml, as the linters see it."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
from pathlib import Path
from types import ModuleType

import pytest
from regiongate.local.template import Template
from upstream import UPSTREAM_PARAMETERS

ROOT = Path(__file__).resolve().parents[2]


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "gate_variants", ROOT / "scripts" / "gate_variants.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("kind", ["REST", "HTTP"])
def test_each_variant_enables_every_providers_route_of_that_api(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "template.yaml"
    path.write_text(_script().variant((ROOT / "template.yaml").read_text(), kind))
    routes = [r for r in Template.load(path).routes() if r.path.startswith("/proxy/")]
    assert {r.path.split("/")[2] for r in routes} == set(UPSTREAM_PARAMETERS)
    assert {r.api for r in routes} == {kind}


def _cfn_lint() -> str | None:
    for candidate in (
        ROOT / ".venv-sam" / "bin" / "cfn-lint",
        Path(shutil.which("cfn-lint") or ""),
    ):
        if candidate.is_file():
            return str(candidate)
    return None


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["REST", "HTTP"])
def test_cfn_lint_passes_with_each_variant_enabled(tmp_path: Path, kind: str) -> None:
    lint = _cfn_lint()
    if lint is None:
        pytest.skip("cfn-lint is not installed (make sam-validate installs it)")
    path = ROOT / f"template-gate-test-{kind.lower()}.yaml"  # beside the code it names
    path.write_text(_script().variant((ROOT / "template.yaml").read_text(), kind))
    try:
        done = subprocess.run(
            [lint, str(path)], capture_output=True, text=True, check=False, env=dict(os.environ)
        )
    finally:
        path.unlink()
    assert done.returncode == 0, done.stdout + done.stderr
