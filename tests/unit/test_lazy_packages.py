"""Powertools' packages made lazy give the same names as their own ``__init__``, and the
functions' cold start does not import the resolvers and event classes they never use."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from regiongate.api.lazy_packages import PACKAGES, reexports

ROOT = Path(__file__).resolve().parents[2]
LAYER = ROOT / "layers" / "regiongate"

# In a fresh interpreter: regiongate.api makes the package lazy; read every name through it,
# then run the real __init__ on a second module object and compare name by name and __all__.
DIFFERENTIAL = """
import importlib.util, json, sys
from regiongate.api.lazy_packages import reexports  # regiongate.api installs them
package = sys.argv[1]
lazy = sys.modules[package]
assert "__getattr__" in vars(lazy), "not made lazy"
spec = importlib.util.find_spec(package)
names, _ = reexports(package, spec.loader.get_source(package))
got = {name: getattr(lazy, name) for name in names}
real = importlib.util.module_from_spec(spec)
spec.loader.exec_module(real)
print(json.dumps({
    "names": sorted(names),
    "real_all": sorted(real.__all__),
    "lazy_all": sorted(lazy.__all__),
    "different": sorted(n for n, v in got.items() if getattr(real, n) is not v),
    "missing": sorted(n for n in real.__all__ if n not in names),
}))
"""


def run_python(code: str, *args: str) -> str:
    out = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
        env={"PYTHONPATH": str(LAYER), "PATH": "/usr/bin:/bin"},
    )
    return out.stdout


@pytest.mark.parametrize("package", PACKAGES)
def test_a_lazy_package_gives_every_name_its_init_gives(package: str) -> None:
    result = json.loads(run_python(DIFFERENTIAL, package))
    assert result["different"] == []
    assert result["missing"] == []
    assert result["lazy_all"] == result["real_all"]
    assert len(result["names"]) >= len(result["real_all"]) > 0


def test_an_init_that_does_more_than_reexport_is_left_alone() -> None:
    assert reexports("pkg", "from pkg.a import A\nsetup()\n") is None
    assert reexports("pkg", "from pkg.a import *\n") is None
    names, exported = reexports("pkg", '"""doc"""\nfrom .a import A as B\n__all__ = ["B"]\n') or (
        {},
        [],
    )
    assert names == {"B": ("pkg.a", "A")}
    assert exported == ["B"]


def test_an_unknown_name_is_still_an_import_error() -> None:
    code = (
        "import regiongate.api\n"
        "try:\n"
        "    from aws_lambda_powertools.event_handler import NoSuchResolver\n"
        "except ImportError:\n"
        "    print('ImportError')\n"
    )
    assert run_python(code).split() == ["ImportError"]


@pytest.mark.parametrize("function", ["geolocate", "rules", "classify"])
def test_an_http_function_imports_neither_other_resolvers_nor_builds_response_models(
    function: str,
) -> None:
    """What the cold-start savings rest on: no AppSync/Bedrock resolver, no SQS or Kinesis
    event classes, and response models (OpenAPI only) not built at import."""
    app = str(ROOT / "functions" / function / "app.py")
    code = (
        "import importlib.util, json, sys\n"
        f"spec = importlib.util.spec_from_file_location('app', {app!r})\n"
        "module = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(module)\n"
        "from regiongate.api import models\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('aws_lambda_powertools.') and\n"
        "    any(w in m for w in ('handler.appsync', 'handler.bedrock', 'kinesis', 'sqs_event')))\n"
        "built = models.DecisionResponse.__pydantic_complete__\n"
        "print(json.dumps({'loaded': loaded, 'built': built, 'boto3': 'boto3' in sys.modules}))\n"
    )
    result = json.loads(run_python(code))
    assert result == {"loaded": [], "built": False, "boto3": False}
