"""Check sam build output: the layer holds maxminddb's C extension for the Lambda platform
(CPython 3.13 on arm64), bytecode for that Python, the package and the policies; the data
layer holds the database."""

from __future__ import annotations

import sys
from pathlib import Path


def main(build: Path) -> int:
    layer = build / "RegiongateLayer" / "python"
    problems = []
    extensions = sorted(layer.glob("maxminddb/extension.cpython-313-aarch64-linux-gnu*.so"))
    if not extensions:
        problems.append("no maxminddb/extension.cpython-313-aarch64-linux-gnu*.so in the layer")
    if not sorted(layer.glob("pydantic_core/_pydantic_core.cpython-313-aarch64-linux-gnu*.so")):
        problems.append("no pydantic_core extension for cpython-313 aarch64 in the layer")
    for module in ("regiongate/decision", "aws_lambda_powertools/__init__", "pydantic/main"):
        package, name = module.rsplit("/", 1)
        if not (layer / package / "__pycache__" / f"{name}.cpython-313.pyc").is_file():
            problems.append(f"no compiled {module}.py for CPython 3.13 in the layer")
    if len(list((layer / "regiongate" / "policies").glob("*.json"))) < 10:
        problems.append("policies missing from the layer")
    if (layer / "regiongate" / "data" / "dbip-city-lite-regiongate.mmdb").exists():
        problems.append("the database belongs in the data layer, not the code layer")
    if (layer / "botocore").exists():
        problems.append("botocore is in the layer; the runtime provides it")
    if not (build / "GeoDataLayer" / "geo" / "dbip-city-lite-regiongate.mmdb").is_file():
        problems.append("GeoDataLayer lacks geo/dbip-city-lite-regiongate.mmdb")
    for function in ("Geolocate", "Rules", "Classify", "Authorize", "Audit"):
        if not (build / f"{function}Function" / "app.py").is_file():
            problems.append(f"{function}Function has no app.py")
    for problem in problems:
        print(f"build check: {problem}", file=sys.stderr)
    if not problems:
        size = sum(f.stat().st_size for f in layer.rglob("*") if f.is_file()) / 2**20
        print(f"build check: ok ({extensions[0].name}, code layer {size:.1f} MiB)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else ".aws-sam/build")))
