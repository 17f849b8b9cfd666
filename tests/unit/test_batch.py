"""Batch classification of JSONL and CSV files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from regiongate.cli import main


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def test_jsonl_file_is_classified_with_a_summary_and_bad_rows_reported_by_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _write(
        tmp_path / "requests.jsonl",
        [
            json.dumps({"ip": "1.2.4.8", "provider": "openai"}),
            json.dumps(
                {"ip": "8.8.8.8", "provider": "openai", "account": {"id": "a1", "tier": "pro"}}
            ),
            "{broken json",
            json.dumps({"ip": "8.8.8.8", "provider": "skynet"}),
            "",
            json.dumps(
                {
                    "ip": "1.2.4.8",
                    "provider": "azure_openai",
                    "account": {"tier": "enterprise"},
                    "time": "2025-01-01",
                }
            ),
            json.dumps(["not", "an", "object"]),
            json.dumps({"provider": "openai"}),
        ],
    )
    output = tmp_path / "decisions.jsonl"
    code = main(["classify", "--input", str(source), "--output", str(output)])
    out, err = capsys.readouterr()
    decisions = [json.loads(line) for line in output.read_text().splitlines()]
    assert code == 1
    assert [d["outcome"] for d in decisions] == ["reroute", "allow", "review"]
    assert decisions[1]["account"] == {"id": "a1", "tier": "pro"}
    assert decisions[2]["evaluated_at"] == "2025-01-01T00:00:00.000Z"
    assert "line 3: invalid JSON" in err
    assert "line 4: unknown provider 'skynet'" in err
    assert "line 7: each line must be a JSON object" in err
    assert "line 8: missing field 'ip'" in err
    assert out.splitlines()[0].startswith("3 decisions, 4 bad rows")
    assert any(line.split() == ["openai", "reroute", "CN", "1"] for line in out.splitlines())


def test_csv_with_default_provider_to_stdout(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _write(
        tmp_path / "requests.csv",
        [
            "ip,provider,account_id,account_tier,time",
            "223.255.128.1,,acct-9,,",
            "8.8.8.8,anthropic,,,2024-01-01T12:00:00Z",
        ],
    )
    code = main(["classify", "--input", str(source), "--provider", "anthropic"])
    out, err = capsys.readouterr()
    lines = [json.loads(line) for line in out.splitlines()]
    assert code == 0
    assert [(d["geo"]["country"], d["outcome"]) for d in lines] == [
        ("HK", "reroute"),
        ("US", "allow"),
    ]
    assert lines[0]["account"]["id"] == "acct-9"
    assert "2 decisions, 0 bad rows" in err


def test_csv_without_an_ip_column_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _write(tmp_path / "r.csv", ["address,provider", "1.2.3.4,openai"])
    assert main(["classify", "--input", str(source)]) == 2
    assert "'ip' column" in capsys.readouterr().err


def test_non_utf8_input_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "r.jsonl"
    source.write_bytes(b'{"ip": "\xff\xfe"}\n')
    assert main(["classify", "--input", str(source), "--output", str(tmp_path / "o.jsonl")]) == 2
    assert "not UTF-8" in capsys.readouterr().err
