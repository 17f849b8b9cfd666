"""The columnar engine on a cluster: Dask's ``map_partitions`` over Arrow-backed frames.

Each worker process builds its engine once (policies, databases, interval tables from the
on-disk cache) and decides every partition it is given; a partition's decisions are the
columns of ``DECISION_SCHEMA``. Needs ``dask[dataframe]`` (not a dependency of regiongate)::

    import dask.dataframe as dd
    from regiongate.columnar.cluster import classify_frame

    requests = dd.read_parquet("s3://bucket/gateway-logs/2026/11/")
    decisions = classify_frame(requests, default_provider="openai")
    decisions.to_parquet("s3://bucket/decisions/2026/11/")

Logs in their own formats (``regiongate.logs``) go file by file with ``classify_logs``: each
decision keeps its file and line number, and a line that cannot be read is a row with only
``error``, ``file`` and ``line``.
"""

from __future__ import annotations

import contextlib
import gzip
from typing import Any, BinaryIO

import dask.dataframe as dd
import numpy as np
import pandas as pd
import pyarrow as pa
from dask.delayed import delayed
from fsspec.core import get_fs_token_paths

from regiongate.columnar.engine import DECISION_SCHEMA, ColumnarEngine
from regiongate.columnar.files import read_log
from regiongate.engine import get_engine
from regiongate.logs import ProviderRule

# What classify_logs gives: the decisions, and where in which file each line was.
LOG_DECISION_SCHEMA = DECISION_SCHEMA.append(pa.field("file", pa.string())).append(
    pa.field("line", pa.int64())
)

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


def classify_log_file(
    stream: BinaryIO,
    name: str,
    log_format: str,
    rule: ProviderRule,
    geo_paths: tuple[str, ...] = (),
    policy_dir: str = "",
    default_provider: str | None = None,
) -> pd.DataFrame:
    """One log file's lines to decisions (``LOG_DECISION_SCHEMA``), in line order."""
    columnar = _columnar(geo_paths, policy_dir)
    tables: list[pa.Table] = []
    for chunk in read_log(stream, log_format, rule, default_provider):
        decisions = columnar.classify(chunk.requests, default_provider=default_provider)
        numbers = list(chunk.numbers.tolist())
        if chunk.errors:
            bad = {f.name: pa.nulls(len(chunk.errors), f.type) for f in DECISION_SCHEMA}
            bad["error"] = pa.array([message for _, message in chunk.errors], pa.string())
            decisions = pa.concat_tables([decisions, pa.table(bad, schema=DECISION_SCHEMA)])
            numbers += [number for number, _ in chunk.errors]
        order = np.argsort(np.array(numbers, dtype=np.int64), kind="stable")
        decisions = decisions.append_column("file", pa.array([name] * len(numbers), pa.string()))
        decisions = decisions.append_column("line", pa.array(numbers, pa.int64()))
        tables.append(decisions.take(pa.array(order)))
    table = pa.concat_tables(tables) if tables else LOG_DECISION_SCHEMA.empty_table()
    return table.cast(LOG_DECISION_SCHEMA).to_pandas(types_mapper=pd.ArrowDtype)


def classify_logs(
    urlpath: str | list[str],
    log_format: str,
    *,
    provider_field: str | None = None,
    provider_pattern: str | None = None,
    geo_paths: list[str] | None = None,
    policy_dir: str | None = None,
    default_provider: str | None = None,
) -> Any:
    """Every log file under ``urlpath`` (a glob or list; ``s3://`` through fsspec; ``.gz``
    read as it is) to a Dask DataFrame of decisions, one partition per file (lazily)."""
    rule = ProviderRule.build(provider_field, provider_pattern)
    fs, _, paths = get_fs_token_paths(urlpath, mode="rb")

    def one(path: str) -> pd.DataFrame:
        with (
            fs.open(path, "rb") as raw,
            gzip.open(raw, "rb") if path.endswith(".gz") else contextlib.nullcontext(raw) as stream,
        ):
            return classify_log_file(
                stream, path, log_format, rule, tuple(geo_paths or ()), policy_dir or "",
                default_provider,
            )  # fmt: skip

    meta = LOG_DECISION_SCHEMA.empty_table().to_pandas(types_mapper=pd.ArrowDtype)
    return dd.from_delayed([delayed(one)(path) for path in paths], meta=meta)
