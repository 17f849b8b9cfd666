"""classify --input through the columnar engine: Parquet, CSV and JSONL in and out."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from regiongate.cli import main
from regiongate.columnar.records import record_of

ROWS: list[dict[str, Any]] = [
    {"ip": "1.2.4.8", "provider": "openai", "time": "2025-01-01"},
    {"ip": "8.8.8.8", "provider": "anthropic", "account_id": "a1", "account_tier": "pro"},
    {"ip": "2001:da8::1", "provider": "openai", "time": "2024-07-01T00:00:00Z"},
    {"ip": "not an ip", "provider": "openai"},
    {"ip": "::ffff:223.255.128.1", "provider": "anthropic", "model": "claude-sonnet-4-5"},
    {"ip": "10.0.0.1", "provider": "skynet"},
    {"ip": "1.2.4.8", "provider": "aws_bedrock", "model": "anthropic.claude-3"},
    {"ip": "1.2.4.8", "provider": "azure_openai", "account_tier": "enterprise"},
]
TEXT = pa.schema(
    [
        (name, pa.string())
        for name in ("ip", "provider", "account_id", "account_tier", "model", "time")
    ]
)
STABLE = ("decision_id", "decided_at", "evaluated_at")  # differ between two runs


def _jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _comparable(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k not in STABLE}


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["classify", "--quiet", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_jsonl_columnar_and_row_by_row_write_the_same_records_and_report_the_same_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text(
        "".join(json.dumps(r) + "\n" for r in ROWS[:4])
        + "{broken\n\n"
        + json.dumps({"ip": 5, "provider": "openai"})
        + "\n"
        + "".join(json.dumps(r) + "\n" for r in ROWS[4:])
    )
    fast, slow = tmp_path / "fast.jsonl", tmp_path / "slow.jsonl"
    code_fast, out_fast, err_fast = _run(capsys, "--input", str(source), "--output", str(fast))
    code_slow, _, err_slow = _run(
        capsys, "--input", str(source), "--output", str(slow), "--row-by-row"
    )
    assert code_fast == code_slow == 1
    assert err_fast == err_slow
    assert "line 4: invalid IP address 'not an ip'" in err_fast
    assert "line 5: invalid JSON" in err_fast
    assert "line 7: missing field 'ip'" in err_fast
    assert "line 9: unknown provider 'skynet'" in err_fast
    assert [_comparable(r) for r in _records(fast)] == [_comparable(r) for r in _records(slow)]
    assert out_fast.splitlines()[0].startswith("6 decisions, 4 bad rows")


@pytest.mark.parametrize("suffix", [".parquet", ".csv", ".jsonl"])
def test_parquet_input_to_every_output_format_gives_the_row_by_row_decisions(
    suffix: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "in.parquet"
    pq.write_table(pa.Table.from_pylist(ROWS, schema=TEXT), source)
    reference = tmp_path / "ref.jsonl"
    _run(capsys, "--input", str(_jsonl(tmp_path / "in.jsonl", ROWS)), "--output", str(reference))
    _run(capsys, "--input", str(_jsonl(tmp_path / "in2.jsonl", ROWS)), "--row-by-row",
         "--output", str(reference))  # fmt: skip
    want = [_comparable(r) for r in _records(reference)]
    target = tmp_path / f"out{suffix}"
    code, out, err = _run(capsys, "--input", str(source), "--output", str(target))
    assert code == 1
    assert "row 4: invalid IP address 'not an ip'" in err
    assert "row 6: unknown provider 'skynet'" in err
    assert "6 decisions, 2 bad rows" in out
    if suffix == ".jsonl":
        got = [_comparable(r) for r in _records(target)]
    elif suffix == ".parquet":
        table = pq.read_table(target)
        assert table.schema.field("reasons").type == pa.list_(pa.string())
        assert pa.types.is_timestamp(table.schema.field("evaluated_at").type)
        got = [_flat_to_record(r) for r in table.to_pylist()]
    else:
        with target.open(newline="") as handle:
            got = [_flat_to_record(_csv_row(r)) for r in csv.DictReader(handle)]
    assert got == want


def _csv_row(row: dict[str, str]) -> dict[str, Any]:
    lists = ("reasons", "alternatives", "subdivisions", "anonymizers")
    out: dict[str, Any] = {k: (None if v == "" else v) for k, v in row.items()}
    for name in lists:
        out[name] = row[name].split(";") if row[name] else []
    out["subdivision_data"] = row["subdivision_data"] == "true"
    out["asn"] = int(row["asn"]) if row["asn"] else None
    return out


def _flat_to_record(row: dict[str, Any]) -> dict[str, Any]:
    return _comparable(record_of({**row, **dict.fromkeys(STABLE)}))


def test_csv_input_reports_bad_rows_by_line_and_writes_the_good_ones(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "in.csv"
    source.write_text(
        "ip,provider,account_id,account_tier,time\n"
        "223.255.128.1,,acct-9,,\n"
        "8.8.8.8,anthropic,,,2024-01-01T12:00:00Z\n"
        "8.8.8.8,anthropic,,,not-a-time\n"
        ",anthropic,,,\n"
    )
    target = tmp_path / "out.jsonl"
    code, _, err = _run(
        capsys, "--input", str(source), "--provider", "anthropic", "--output", str(target)
    )
    records = _records(target)
    assert code == 1
    assert [(r["geo"]["country"], r["outcome"]) for r in records] == [
        ("HK", "reroute"),
        ("US", "allow"),
    ]
    assert records[1]["evaluated_at"] == "2024-01-01T12:00:00.000Z"
    assert "line 4: not a date or ISO 8601 time: 'not-a-time'" in err
    assert "line 5: missing field 'ip'" in err


def test_a_parquet_account_struct_names_the_account(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "in.parquet"
    pq.write_table(
        pa.Table.from_pylist(
            [
                {
                    "ip": "5.9.0.1",
                    "provider": "google_gemini",
                    "account": {"id": "e1", "tier": "paid"},
                },
                {"ip": "5.9.0.1", "provider": "google_gemini", "account": None},
            ]
        ),
        source,
    )  # fmt: skip
    target = tmp_path / "out.jsonl"
    _run(capsys, "--input", str(source), "--output", str(target))
    records = _records(target)
    assert records[0]["account"] == {"id": "e1", "tier": "paid"}
    assert records[1]["account"] == {"id": None, "tier": None}
    # Gemini's paid-only rule in the EEA: a paid tier is allowed, no tier reviewed.
    assert [r["outcome"] for r in records] == ["allow", "review"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--input", "{dir}/in.txt"], "cannot tell the input format of"),
        (["--input", "{dir}/in.jsonl", "--output", "{dir}/out.xlsx"], "cannot tell the output"),
        (["--input", "{dir}/in.jsonl", "--output-format", "parquet"], "needs a file"),
        (["--input", "{dir}/in.parquet", "--row-by-row"], "reads JSONL or CSV and writes JSONL"),
        (["--input", "{dir}/in.jsonl", "--full", "--output", "{dir}/o.csv"], "writes JSONL"),
        (["--input", "{dir}/bad.parquet"], "not a readable Parquet file"),
        (["--input", "{dir}/typed.parquet"], "column 'ip' must be text"),
    ],
)  # fmt: skip
def test_unknown_formats_and_unusable_files_are_refused_clearly(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("in.txt", "in.jsonl"):
        _jsonl(tmp_path / name, ROWS[:1])
    pq.write_table(pa.Table.from_pylist(ROWS[:1]), tmp_path / "in.parquet")
    pq.write_table(pa.table({"ip": [1]}), tmp_path / "typed.parquet")
    (tmp_path / "bad.parquet").write_text("not parquet")
    code, _, err = _run(capsys, *[a.format(dir=tmp_path) for a in argv])
    assert code == 2
    assert message in err
    assert "Traceback" not in err


FACT_ROWS: list[dict[str, Any]] = [
    {"ip": "8.8.8.8", "provider": "anthropic", "account_country": "SG",
     "parent_country": "CN", "parent_ownership": 60.0},
    {"ip": "8.8.8.8", "provider": "anthropic", "account_country": "us", "parent_ownership": 0.0},
    {"ip": "8.8.8.8", "provider": "google_gemini", "account_tier": "pro",
     "end_user_country": "DE"},
    {"ip": "8.8.8.8", "provider": "anthropic", "account_country": "QQ"},
    {"ip": "8.8.8.8", "provider": "openai", "model": "o3", "verification": "unverified"},
    {"ip": "8.8.8.8", "provider": "anthropic"},
]  # fmt: skip
FACT_NAMES = ("account_country", "parent_country", "parent_ownership", "verification")


def _as_account_objects(rows: list[dict[str, Any]], share: Any = float) -> list[dict[str, Any]]:
    """The rows with their facts inside an 'account' object (``share`` converts the share)."""
    out = []
    for row in rows:
        account = {k.removeprefix("account_"): row[k] for k in (*FACT_NAMES, "account_tier")
                   if k in row}  # fmt: skip
        if "parent_ownership" in account:
            account["parent_ownership"] = share(account["parent_ownership"])
        rest = {k: v for k, v in row.items() if k not in (*FACT_NAMES, "account_tier")}
        out.append({**rest, "account": account} if account else rest)
    return out


def _table(rows: list[dict[str, Any]]) -> pa.Table:
    """Every key of every row as a column (``from_pylist`` takes the first row's keys)."""
    names = list(dict.fromkeys(k for row in rows for k in row))
    return pa.table({name: pa.array([row.get(name) for row in rows]) for name in names})


def test_account_facts_in_every_input_shape_give_the_row_by_row_records(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Facts as flat columns (Parquet, JSONL) or in an 'account' object (JSONL read by Arrow,
    or line by line when a share is text; a Parquet struct): the records of the row path."""
    reference = tmp_path / "ref.jsonl"
    code, _, err = _run(capsys, "--input", str(_jsonl(tmp_path / "r.jsonl", FACT_ROWS)),
                        "--row-by-row", "--output", str(reference))  # fmt: skip
    assert code == 1 and err == "line 4: unknown ISO 3166-1 country code 'QQ'\n"
    want = [_comparable(r) for r in _records(reference)]
    assert want[0]["account"]["facts"] == {
        "country": "SG",
        "parent_country": "CN",
        "parent_ownership": 60.0,
        "source": "batch-file",
    }
    objects = _as_account_objects(FACT_ROWS)
    flat = tmp_path / "flat.parquet"
    pq.write_table(_table(FACT_ROWS), flat)
    struct = tmp_path / "struct.parquet"
    pq.write_table(_table(objects), struct)
    sources = {
        "flat JSONL": _jsonl(tmp_path / "flat.jsonl", FACT_ROWS),
        "object JSONL": _jsonl(tmp_path / "objects.jsonl", objects),
        "object JSONL, text share": _jsonl(
            tmp_path / "text.jsonl", _as_account_objects(FACT_ROWS, share=lambda v: f"{v:g}")
        ),
        "flat Parquet": flat,
        "struct Parquet": struct,
    }  # fmt: skip
    for shape, source in sources.items():
        target = tmp_path / "out.jsonl"
        code, _, err = _run(capsys, "--input", str(source), "--output", str(target))
        assert code == 1, shape
        assert err.endswith("4: unknown ISO 3166-1 country code 'QQ'\n"), (shape, err)
        assert [_comparable(r) for r in _records(target)] == want, shape


def test_account_facts_survive_parquet_and_csv_records_for_replay(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from regiongate.columnar.files import read_records

    source = _jsonl(tmp_path / "in.jsonl", FACT_ROWS)
    reference = tmp_path / "ref.jsonl"
    _run(capsys, "--input", str(source), "--output", str(reference))
    want = [_comparable(r) for r in _records(reference)]
    for fmt in ("parquet", "csv"):
        target = tmp_path / f"out.{fmt}"
        _run(capsys, "--input", str(source), "--output", str(target))
        got = [_comparable(r) for _, r in read_records(str(target), fmt) if isinstance(r, dict)]
        assert got == want, fmt
