"""The regiongate command line, run in-process through ``main``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
from regiongate.cli import main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_classify_json_for_china_and_openai(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "classify", "--ip", "1.2.4.8", "--provider", "openai", "--json")
    data = json.loads(out)
    assert code == 0
    assert data["outcome"] in ("deny", "reroute")
    assert data["reasons"][0]["code"] == "COUNTRY_NOT_SUPPORTED"
    assert data["rule"]["source"]["source_url"].startswith("https://help.openai.com")


def test_classify_at_a_date_before_enforcement(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys,
        "classify",
        "--ip",
        "1.2.4.8",
        "--provider",
        "openai",
        "--at",
        "2024-07-01",
        "--json",
    )
    assert (code, json.loads(out)["outcome"]) == (0, "review")


def test_classify_human_output_names_outcome_reason_rule_and_source(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(capsys, "classify", "--ip", "223.255.128.1", "--provider", "anthropic")
    assert code == 0
    assert out.startswith("REROUTE  anthropic  for 223.255.128.1 (HK)")
    assert "COUNTRY_NOT_SUPPORTED" in out
    assert "rule      anthropic/countries" in out
    assert "source    https://platform.claude.com" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["classify", "--ip", "1.2.3.999", "--provider", "openai"], "invalid IP address"),
        (["classify", "--ip", "8.8.8.8", "--provider", "skynet"], "unknown provider"),
        (["classify", "--ip", "8.8.8.8"], "needs --ip and --provider"),
        (["classify", "--ip", "8.8.8.8", "--provider", "openai", "--at", "soon"], "--at"),
        (["classify", "--input", "/nonexistent/file.jsonl"], "cannot read"),
        (["--geo-db", "/nonexistent.mmdb", "geo", "8.8.8.8"], "file not found"),
        (["--policy-dir", "/nonexistent", "providers"], "does not exist"),
    ],
)
def test_bad_arguments_exit_non_zero_with_a_clear_message(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, _, err = run(capsys, *argv)
    assert code in (2, 3)
    assert message in err
    assert err.startswith("regiongate: error")


def test_geo_prints_country_network_and_unroutable(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "geo", "1.2.4.8", "10.0.0.1", "::ffff:8.8.8.8")
    lines = out.splitlines()
    assert code == 0
    assert lines[0] == "1.2.4.8  CN  network 1.2.4.0/22"
    assert lines[1] == "10.0.0.1  not routable (private-use, 10.0.0.0/8)"
    assert lines[2].startswith("::ffff:8.8.8.8  US")


def test_geo_with_combined_databases_and_json(
    capsys: pytest.CaptureFixture[str], geo_dbs: dict[str, Path]
) -> None:
    code, out, _ = run(
        capsys,
        "--geo-db",
        str(geo_dbs["city"]),
        "--geo-db",
        str(geo_dbs["anonymous"]),
        "geo",
        "--json",
        "81.2.69.9",
        "bogus",
    )
    first, second = json.loads(out)
    assert code == 1  # one bad address
    assert first["subdivisions"] == ["GB-ENG", "GB-WBK"]
    assert first["anonymizers"] == ["anonymous", "hosting"]
    assert second["error"]["code"] == "invalid_ip"


def test_providers_list_and_show(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "providers")
    assert code == 0 and "openai" in out and "us_ofac_comprehensive" in out
    code, out, _ = run(capsys, "providers", "show", "azure_openai")
    assert "condition  azure-openai-mainland-china-eligible-customers" in out
    code, out, _ = run(capsys, "providers", "show", "openai", "--json")
    assert json.loads(out)["provider"] == "openai"
    code, _, err = run(capsys, "providers", "show", "nobody")
    assert code == 2 and "unknown provider" in err


def test_policy_validate_accepts_the_bundle_and_rejects_a_broken_dir(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, _ = run(capsys, "policy", "validate")
    assert code == 0 and out.startswith("ok: 11 policies")
    (tmp_path / "openai.json").write_text('{"provider": "openai", "schema_version": 1}')
    code, _, err = run(capsys, "policy", "validate", str(tmp_path))
    assert code == 3
    assert "file openai.json, provider openai" in err


def test_help_describes_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for command in ("classify", "geo", "providers", "policy"):
        assert command in out


# --- options anywhere, every option described, honest output names, one time wording ------


@pytest.mark.parametrize("where", ["before", "after"])
def test_global_options_work_before_or_after_the_command(
    capsys: pytest.CaptureFixture[str], geo_dbs: dict[str, Path], where: str
) -> None:
    option = ["--geo-db", str(geo_dbs["flat"])]  # the flat test database: 9.0.0.0/8 is HK
    argv = [*option, "geo", "9.1.2.3"] if where == "before" else ["geo", "9.1.2.3", *option]
    code, out, _ = run(capsys, *argv)
    assert (code, out.split()[:2]) == (0, ["9.1.2.3", "HK"])


def test_an_option_before_the_command_is_not_reset_by_the_command(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = run(capsys, "--policy-dir", str(tmp_path / "missing"), "providers", "list")
    assert code == 3 and "does not exist" in err


def test_every_option_of_every_command_is_described_in_its_help() -> None:
    from regiongate.cli import _commands, build_parser

    parser = build_parser()
    for command in (parser, *_commands(parser)):
        for action in command._actions:
            if isinstance(action, argparse._SubParsersAction):  # described command by command
                for choice in action._choices_actions:
                    assert choice.help, f"{command.prog} {choice.dest}"
            elif action.dest != "help":
                assert action.help, f"{command.prog}: {action.option_strings or action.dest}"


def test_providers_show_help_is_its_own(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["providers", "show", "--help"])
    out = capsys.readouterr().out
    assert out.startswith("usage: regiongate providers show")
    assert "provider id" in out and "--json" in out and "--geo-db" in out


@pytest.mark.parametrize("name", ["x.txt", "decisions.tsv", "out.xlsx"])
def test_an_output_name_promising_an_unwritten_format_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, name: str
) -> None:
    rows = tmp_path / "rows.jsonl"
    rows.write_text('{"ip": "1.2.4.8", "provider": "openai"}\n')
    code, _, err = run(capsys, "classify", "--input", str(rows), "--output", str(tmp_path / name))
    assert code == 2 and "cannot tell the output format" in err
    assert not (tmp_path / name).exists()


@pytest.mark.parametrize("name", ["x.jsonl", "x.ndjson", "x.json", "decisions"])
def test_json_lines_output_names_are_written(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, name: str
) -> None:
    rows = tmp_path / "rows.jsonl"
    rows.write_text('{"ip": "1.2.4.8", "provider": "openai"}\n')
    code, _, _ = run(capsys, "classify", "--input", str(rows), "--output", str(tmp_path / name))
    assert code == 0
    assert json.loads((tmp_path / name).read_text())["provider"] == "openai"


def test_time_errors_read_alike_for_at_and_a_batch_rows_time(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, at_error = run(
        capsys, "classify", "--ip", "1.2.4.8", "--provider", "openai", "--at", "yesterday"
    )
    assert code == 2
    assert at_error.strip() == "regiongate: error: --at: not a date or ISO 8601 time: 'yesterday'"
    rows = tmp_path / "rows.jsonl"
    rows.write_text('{"ip": "1.2.4.8", "provider": "openai", "time": "yesterday"}\n')
    code, _, row_error = run(capsys, "classify", "--input", str(rows), "--quiet")
    assert code == 1
    assert "line 1: not a date or ISO 8601 time: 'yesterday'" in row_error
