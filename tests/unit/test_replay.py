"""Replay: recorded decisions re-decided under a candidate policy; exactly the flips counted."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from regiongate.account import AccountFacts
from regiongate.cli import main
from regiongate.engine import Engine
from regiongate.policy import DEFAULT_POLICY_DIR
from regiongate.request import Request
from regiongate.serialize import decision_record

US_COMPANY = AccountFacts(
    country="US", parent_ownership=0, source="test"
)  # passes the ownership rule
REQUESTS = [
    ("8.8.8.8", "anthropic"),
    ("81.2.69.1", "anthropic"),
    ("81.2.69.2", "anthropic"),
    ("1.2.4.8", "anthropic"),
    ("81.2.69.3", "openai"),
    ("223.255.128.1", "anthropic"),
]


def test_replay_under_a_policy_that_drops_a_country_counts_exactly_the_flips(
    tmp_path: Path, engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    records = [
        decision_record(engine.decide(Request(ip, provider, account_facts=US_COMPANY)))
        for ip, provider in REQUESTS
    ]
    gb = [r for r in records if r["geo"]["country"] == "GB" and r["provider"] == "anthropic"]
    assert len(gb) == 2 and all(r["outcome"] == "allow" for r in gb)
    source = tmp_path / "decisions.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in records) + "{not json\n")
    candidate = tmp_path / "candidate"
    shutil.copytree(DEFAULT_POLICY_DIR, candidate)
    policy = json.loads((candidate / "anthropic.json").read_text())
    policy["countries"]["entries"].remove("GB")
    (candidate / "anthropic.json").write_text(json.dumps(policy))

    code = main(["replay", "--policy", str(candidate), "--input", str(source), "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 1  # one unreadable line, reported
    assert (report["records"], report["changed"], report["unchanged"]) == (6, 2, 4)
    assert report["skipped_examples"][0].startswith("line 7: invalid JSON")
    [flip] = report["flips"]
    assert (flip["provider"], flip["country"], flip["old"], flip["new"], flip["count"]) == (
        "anthropic",
        "GB",
        "allow",
        "reroute",
        2,
    )
    assert sorted(flip["examples"]) == sorted(r["decision_id"] for r in gb)

    main(["replay", "--policy", str(DEFAULT_POLICY_DIR), "--input", str(source)])
    text = capsys.readouterr().out
    assert "0 would change, 6 unchanged, 1 skipped" in text


def test_replay_evaluates_each_record_as_of_its_own_time(
    tmp_path: Path, engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    from regiongate.policy import parse_instant

    before = decision_record(
        engine.decide(Request("1.2.4.8", "openai", at=parse_instant("2024-07-01")))
    )
    after = decision_record(engine.decide(Request("1.2.4.8", "openai")))
    source = tmp_path / "d.jsonl"
    source.write_text(json.dumps(before) + "\n" + json.dumps(after) + "\n")
    main(["replay", "--policy", str(DEFAULT_POLICY_DIR), "--input", str(source), "--json"])
    assert json.loads(capsys.readouterr().out)["unchanged"] == 2
