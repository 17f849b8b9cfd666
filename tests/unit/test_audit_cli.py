"""``regiongate audit``: reaches a table, a journal or a running serve's data directory, and
fails in one line (exit 2) when it cannot, never with a traceback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import Stack
from regiongate.aws import clients
from regiongate.cli import main

from tests.functions.test_audit_trail import classify_event, consume


@pytest.fixture
def no_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    for name in (
        "AWS_DEFAULT_REGION",
        "AWS_REGION",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_ENDPOINT_URL",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "")  # restored afterwards, whatever sets it
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    clients.reset()
    yield
    clients.reset()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["verify", "--table", "t"], "no AWS region"),
        (["export", "--table", "t", "--region", "eu-west-1"], "no AWS credentials"),
        (["query", "--table", "t", "--region", "eu-west-1", "--account", "a"], "credentials"),
        (["verify", "--table", "t", "--endpoint", "http://127.0.0.1:9"], "unreachable"),
        (["verify", "--data-dir", "/nonexistent"], "no data directory"),
        (["verify", "--journal", "/nonexistent.jsonl"], "no journal"),
    ],
)
@pytest.mark.usefixtures("no_aws")
def test_without_aws_or_a_trail_it_fails_in_one_line(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert main(["audit", *argv]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert message in err and "Traceback" not in err


def test_query_lists_by_account_and_by_provider_day_and_refuses_bad_dates(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    for ip in ("1.2.4.8", "8.8.8.8"):
        stack.invoke("ClassifyFunction", classify_event(ip, "anthropic", "acct-q"))
    consume(stack, "AuditQueue")
    table = stack.template.names["AuditTable"]
    assert main(["audit", "query", "--table", table, "--account", "acct-q"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(rows) == 2
    day = rows[0]["decided_at"][:10]
    argv = ["audit", "query", "--table", table, "--provider", "anthropic", "--day", day]
    assert main(argv) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2
    assert main([*argv[:-1], "2026-02-30"]) == 2
    assert "not a calendar date" in capsys.readouterr().err
