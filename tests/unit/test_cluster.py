"""The columnar engine inside a real Dask graph (local threads), over a Parquet 'prefix'."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

dd = pytest.importorskip("dask.dataframe")

from regiongate.columnar import ColumnarEngine  # noqa: E402
from regiongate.columnar.cluster import classify_frame  # noqa: E402
from regiongate.engine import get_engine  # noqa: E402

REQUESTS = [
    {"ip": "1.2.4.8", "provider": "openai", "time": "2025-01-01"},
    {"ip": "8.8.8.8", "provider": None, "time": None},
    {"ip": "2001:da8::1", "provider": "openai", "time": "2024-07-01"},
    {"ip": "223.255.128.1", "provider": "anthropic", "time": "2026-01-01"},
    {"ip": "bad", "provider": "openai", "time": None},
    {"ip": "10.0.0.1", "provider": "skynet", "time": "2026-01-01"},
] * 50
STABLE = ["decision_id", "decided_at", "evaluated_at"]


def test_dask_map_partitions_over_a_parquet_prefix_gives_the_engine_decisions(
    tmp_path: Path,
) -> None:
    prefix = tmp_path / "logs"
    prefix.mkdir()
    schema = pa.schema([(k, pa.string()) for k in ("ip", "provider", "time")])
    for part in range(3):
        rows = REQUESTS[part * 100 : (part + 1) * 100]
        pq.write_table(pa.Table.from_pylist(rows, schema=schema), prefix / f"part-{part}.parquet")
    requests = dd.read_parquet(str(prefix))
    decisions = classify_frame(requests, default_provider="anthropic")
    out = tmp_path / "decisions"
    decisions.to_parquet(str(out), write_index=False, compute_kwargs={"scheduler": "threads"})
    got = pq.read_table(out).drop_columns(STABLE).to_pylist()
    expected = (
        ColumnarEngine(get_engine())
        .classify(pa.Table.from_pylist(REQUESTS, schema=schema), default_provider="anthropic")
        .drop_columns(STABLE)
        .to_pylist()
    )
    assert sorted(got, key=repr) == sorted(expected, key=repr)
    assert sum(1 for r in got if r["error"] is None) == 200


def test_dask_classify_logs_over_alb_files_keeps_file_and_line_and_reports_bad_lines(
    tmp_path: Path,
) -> None:
    import gzip

    from regiongate.columnar.cluster import classify_logs

    def line(client: str, when: str, url: str) -> str:
        return (
            f"h2 {when} app/gw/50dc6c495c0c9188 {client} 10.0.0.1:80 0.000 0.001 0.000 200 200 "
            f'34 366 "POST {url} HTTP/2.0" "curl/8" - - arn:aws:elasticloadbalancing:x '
            '"Root=1-58337262" "-" "-" 0 2026-11-23T16:00:00.000000Z "forward" "-" "-" '
            '"10.0.0.1:80" "200" "-" "-" TID_1\n'
        )

    prefix = tmp_path / "alb"
    prefix.mkdir()
    (prefix / "a.log").write_text(
        line("1.2.4.8:5000", "2026-11-23T16:00:00.000000Z", "https://gw:443/proxy/openai/v1/x")
        + "garbage\n"
        + line("8.8.8.8:5001", "2026-11-23T16:00:01.000000Z", "https://gw:443/proxy/openai/v1/x")
    )
    with gzip.open(prefix / "b.log.gz", "wt") as handle:
        handle.write(line("[2001:da8::1]:443", "2026-11-23T16:00:02.000000Z",
                          "https://gw:443/proxy/anthropic/v1/messages"))  # fmt: skip
    frame = classify_logs(
        str(prefix / "*"), "alb", provider_pattern="^/proxy/(?P<provider>[^/]+)/"
    ).compute(scheduler="threads")
    rows = [
        (Path(r["file"]).name, r["line"], r["ip"], r["country"], r["outcome"], r["error"])
        for r in frame.to_dict("records")
    ]
    assert [(f, n, ip, c, o) for f, n, ip, c, o, _ in rows] == [
        ("a.log", 1, "1.2.4.8", "CN", "reroute"),
        ("a.log", 2, None, None, None),
        ("a.log", 3, "8.8.8.8", "US", "allow"),
        ("b.log.gz", 1, "2001:da8::1", "CN", "reroute"),
    ]
    assert str(rows[1][5]).startswith("not an ALB log line")
