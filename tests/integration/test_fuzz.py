"""schemathesis against a real ``regiongate serve``: every phase, every check, no failure.

Marked slow (about a minute): the default run leaves it out and CI's ``make test`` runs the
slow tests as a step of their own. The run is bounded (examples per operation and a seed),
and its summary is printed whatever the outcome.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from serving import Server

ROOT = Path(__file__).resolve().parents[2]
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")


@pytest.mark.slow
def test_schemathesis_finds_nothing_against_a_real_serve(
    server: Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    command = [
        str(SCHEMATHESIS),
        "--config-file",
        str(ROOT / "tests" / "schemathesis.toml"),
        "run",
        str(ROOT / "openapi.json"),
        "--url",
        server.url,
        "--phases",
        "examples,coverage,fuzzing,stateful",
        "--checks",
        "all",
        # A method no route declares is API Gateway's 404 before any function (see the toml).
        "--exclude-checks",
        "unsupported_method",
        "--max-examples",
        "25",
        "--seed",
        "20261123",
        "--workers",
        "2",
        "--generation-database",
        "none",
        "--request-timeout",
        "30",
        "--no-color",
        "--report",
        "junit",
        "--report-dir",
        str(tmp_path / "report"),
    ]
    run = subprocess.run(
        command, capture_output=True, text=True, timeout=300, cwd=tmp_path, check=False
    )
    summary = run.stdout[run.stdout.rfind("SUMMARY") - 40 :] if "SUMMARY" in run.stdout else ""
    with capsys.disabled():
        print("\n" + (summary or run.stdout[-3000:] + run.stderr[-2000:]))
    assert run.returncode == 0, run.stdout[-8000:]
    server.stop()  # and after all that, it still stops cleanly
