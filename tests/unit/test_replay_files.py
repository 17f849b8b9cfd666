"""replay reads the Parquet and CSV records that classify writes, as it reads JSONL."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from regiongate.cli import main
from regiongate.policy import DEFAULT_POLICY_DIR

REQUESTS = [
    ("81.2.69.10", "anthropic"),
    ("8.8.4.4", "anthropic"),
    ("81.2.69.20", "anthropic"),
    ("1.2.4.9", "openai"),
    ("223.255.128.9", "anthropic"),
    ("81.2.69.30", "google_gemini"),
]


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_replay_of_parquet_and_csv_records_reports_what_jsonl_records_report(
    suffix: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "requests.jsonl"
    source.write_text("".join(json.dumps({"ip": i, "provider": p}) + "\n" for i, p in REQUESTS))
    reference, records = tmp_path / "records.jsonl", tmp_path / f"records{suffix}"
    assert main(["classify", "--quiet", "--input", str(source), "--output", str(reference)]) == 0
    capsys.readouterr()
    candidate = tmp_path / "candidate"
    shutil.copytree(DEFAULT_POLICY_DIR, candidate)
    policy = json.loads((candidate / "anthropic.json").read_text())
    policy["countries"]["entries"].remove("GB")
    (candidate / "anthropic.json").write_text(json.dumps(policy))

    def report(path: Path) -> dict[str, object]:
        assert main(["replay", "--policy", str(candidate), "--input", str(path), "--json"]) == 0
        out = json.loads(capsys.readouterr().out)
        for flip in out["flips"]:
            del flip["examples"]
        return out

    want = report(reference)
    assert (want["records"], want["changed"]) == (6, 2)
    main(["classify", "--quiet", "--input", str(source), "--output", str(records)])
    capsys.readouterr()
    assert report(records) == want


def test_replay_refuses_a_parquet_file_that_holds_no_records(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "requests.parquet"
    pq.write_table(pa.table({"ip": ["1.2.3.4"]}), path)
    assert main(["replay", "--policy", str(DEFAULT_POLICY_DIR), "--input", str(path)]) == 2
    assert "not decision records" in capsys.readouterr().err


def test_replay_reports_a_bad_csv_record_by_line_and_replays_the_others(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "requests.jsonl"
    source.write_text(
        json.dumps({"ip": "8.8.8.8", "provider": "anthropic", "account_country": "US"})
        + "\n"
        + json.dumps({"ip": "8.8.8.8", "provider": "openai"})
        + "\n"
    )
    records = tmp_path / "records.csv"
    assert main(["classify", "--quiet", "--input", str(source), "--output", str(records)]) == 0
    lines = records.read_text().splitlines()
    assert '"{""country"":""US"",""source"":""batch-file""}"' in lines[1]
    broken = lines[1].replace('"{""country"":""US"",""source"":""batch-file""}"', '"{oops"')
    records.write_text("\n".join([lines[0], broken, lines[2]]) + "\n")
    capsys.readouterr()
    main(["replay", "--policy", str(DEFAULT_POLICY_DIR), "--input", str(records), "--json"])
    out = json.loads(capsys.readouterr().out)
    assert out["records"] == 1
    assert out["skipped"] == 1
    assert out["skipped_examples"] == ["line 2: account_facts is not a JSON object"]
