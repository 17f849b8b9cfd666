"""The columnar engine on a cluster: Dask's ``map_partitions`` over Arrow-backed frames.

Each worker process builds its engine once (policies, databases, interval tables from the
on-disk cache) and decides every partition it is given; a partition's decisions are the
columns of ``DECISION_SCHEMA``. Needs ``dask[dataframe]`` (not a dependency of regiongate)::

    import dask.dataframe as dd
    from regiongate.columnar.cluster import classify_frame

    requests = dd.read_parquet("s3://bucket/gateway-logs/2026/11/")
    decisions = classify_frame(requests, default_provider="openai")
    decisions.to_parquet("s3://bucket/decisions/2026/11/")
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import pyarrow as pa

from regiongate.columnar.engine import DECISION_SCHEMA, ColumnarEngine
from regiongate.engine import get_engine

_ENGINES: dict[tuple[tuple[str, ...], str], ColumnarEngine] = {}


def _columnar(geo_paths: tuple[str, ...], policy_dir: str) -> ColumnarEngine:
    """This process's columnar engine for these databases and policies."""
    key = (geo_paths, policy_dir)
    engine = _ENGINES.get(key)
    if engine is None:
        engine = _ENGINES[key] = ColumnarEngine(
            get_engine(list(geo_paths) or None, policy_dir or None)
        )
    return engine


def classify_partition(
    frame: pd.DataFrame,
    geo_paths: tuple[str, ...] = (),
    policy_dir: str = "",
    default_provider: str | None = None,
) -> pd.DataFrame:
    """One partition of requests (columns as ``ColumnarEngine.classify`` reads them) to its
    decisions, as an Arrow-backed pandas frame."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    decisions = _columnar(geo_paths, policy_dir).classify(table, default_provider=default_provider)
    return decisions.to_pandas(types_mapper=pd.ArrowDtype)


def classify_frame(
    requests: Any,
    *,
    geo_paths: list[str] | None = None,
    policy_dir: str | None = None,
    default_provider: str | None = None,
) -> Any:
    """A Dask DataFrame of requests to a Dask DataFrame of decisions, partition by partition
    (lazily: compute or write it to run)."""
    meta = DECISION_SCHEMA.empty_table().to_pandas(types_mapper=pd.ArrowDtype)
    return requests.map_partitions(
        classify_partition,
        tuple(geo_paths or ()),
        policy_dir or "",
        default_provider,
        meta=meta,
    )
