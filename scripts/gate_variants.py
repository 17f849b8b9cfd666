"""Validate template.yaml with each gate variant enabled (REST and HTTP, every upstream set).

The template's defaults leave the gate out (no upstream), so linting template.yaml alone never
sees the gate's resources. This writes one copy per variant with the parameters' defaults
changed (template-gate-<kind>.yaml beside it, removed afterwards) and runs
``sam validate --lint``, plain ``sam validate`` and ``cfn-lint`` on each. Usage:
``python scripts/gate_variants.py [--sam BIN] [--cfn-lint BIN] [--write-only]``.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KINDS = ("REST", "HTTP")


def variant(text: str, kind: str) -> str:
    """template.yaml with the gate enabled: ``GateApiType`` = kind, every upstream set."""
    text, count = re.subn(
        r"(\n  GateApiType:\n    Type: String\n    Default: )\w+", rf"\g<1>{kind}", text
    )
    if count != 1:
        raise SystemExit("template.yaml: GateApiType parameter not found")
    text, count = re.subn(
        r"(\n  (\w+)UpstreamUrl:\n    Type: String\n    Default: )\"\"",
        lambda m: f'{m.group(1)}"https://{m.group(2).lower()}.example.com"',
        text,
    )
    if count == 0:
        raise SystemExit("template.yaml: no *UpstreamUrl parameters found")
    return text


def write_variants() -> list[Path]:
    text = (ROOT / "template.yaml").read_text()
    paths = []
    for kind in KINDS:
        # Beside template.yaml's folder layout: CodeUri/ContentUri stay relative to ROOT.
        path = ROOT / f"template-gate-{kind.lower()}.yaml"
        path.write_text(variant(text, kind))
        paths.append(path)
    return paths


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sam", default=str(ROOT / ".venv-sam" / "bin" / "sam"))
    parser.add_argument("--cfn-lint", default=str(ROOT / ".venv-sam" / "bin" / "cfn-lint"))
    parser.add_argument("--write-only", action="store_true")
    args = parser.parse_args()
    env = {**os.environ, "SAM_CLI_TELEMETRY": "0"}
    failed = 0
    paths = write_variants()
    try:
        if args.write_only:
            return 0
        for path in paths:
            for command in (
                [args.sam, "validate", "--lint", "-t", str(path)],
                [args.sam, "validate", "--region", "us-east-1", "-t", str(path)],
                [args.cfn_lint, str(path)],
            ):
                result = subprocess.run(command, cwd=ROOT, env=env, check=False)
                print(f"{'ok  ' if result.returncode == 0 else 'FAIL'} {' '.join(command[1:])}")
                failed |= result.returncode != 0
    finally:
        if not args.write_only:
            for path in paths:
                path.unlink(missing_ok=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
