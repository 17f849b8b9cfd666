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
