"""Decision tables as the compact records the rest of regiongate reads and writes.

``serialize.decision_record`` is the reference form of a record; ``record_dicts`` gives the same
dictionaries from a decision table, and ``jsonl_text`` the same JSON lines built column by
column in Arrow (only values that need escaping are encoded one at a time). ``flat_table``
is the record as Parquet/CSV columns.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from regiongate.columnar.engine import GEO_COLUMNS
from regiongate.columnar.engine import dumps as _dumps
from regiongate.ids import iso_time
from regiongate.serialize import RECORD_SCHEMA

_NEEDS_ESCAPE = r'[\x00-\x1f"\\]'
# Before year 1000 Python's strftime does not pad the year, and the row path uses it.
_YEAR_1000 = -30610224000


def decided(table: pa.Table) -> pa.Table:
    """The rows that were decided (no ``error``), without the ``error`` column."""
    if "error" not in table.schema.names:
        return table
    errors = table.column("error")
    if errors.null_count == len(errors):
        return table.drop_columns(["error"])
    kept = table.filter(pc.is_null(errors))
    return kept.drop_columns(["error"])


def stamps(column: pa.ChunkedArray | pa.Array, millis: bool) -> pa.Array:
    """ISO text as ``decision.iso_time`` writes it (UTC, milliseconds, ``Z``)."""
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    # Arrow's cast to text is ~20x faster than its strftime; only the separator differs.
    seconds = array.cast(pa.timestamp("s", tz="UTC"), safe=False)
    text = pc.utf8_replace_slice(seconds.cast(pa.timestamp("s")).cast(pa.string()), 10, 11, "T")
    if millis:
        ms = pc.utf8_lpad(pc.cast(pc.remainder(array.cast(pa.int64()), 1000), pa.string()), 3, "0")
        tails = pc.binary_join_element_wise(pa.scalar("."), ms, pa.scalar("Z"), "")
    else:
        tails = pa.scalar(".000Z")
    out = pc.binary_join_element_wise(text, tails, "")
    raw = seconds.cast(pa.int64()).to_numpy(zero_copy_only=False)
    odd = raw < _YEAR_1000
    if millis:  # before 1970 the cast and the remainder round toward zero, iso_time down
        odd |= array.cast(pa.int64()).to_numpy(zero_copy_only=False) < 0
    old = np.flatnonzero(odd)
    if old.size:
        unit = 1_000_000 if millis else 1_000_000_000
        values = array.cast(pa.int64()).to_numpy(zero_copy_only=False)
        fixed = out.to_pylist()
        for row in old.tolist():
            fixed[row] = iso_time(int(values[row]) * unit)
        out = pa.array(fixed, pa.string())
    return out


def _json_strings(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    """Each value as JSON text (``null`` for nulls), escaping only where needed."""
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if pa.types.is_dictionary(array.type):  # each value once, then one take
        return pc.fill_null(pc.take(_json_strings(array.dictionary), array.indices), "null")
    if pa.types.is_list(array.type):
        joined = pc.binary_join(array, '","')
        text = pc.binary_join_element_wise(pa.scalar('["'), joined, pa.scalar('"]'), "")
        empty = pc.equal(pc.list_value_length(array), 0)
        text = pc.if_else(empty, pa.scalar("[]"), text)
        needs = pc.any(pc.match_substring_regex(pc.list_flatten(array), _NEEDS_ESCAPE)).as_py()
        if needs:
            return pa.array([None if v is None else _dumps(v) for v in array.to_pylist()])
        return pc.fill_null(text, "null")
    if pa.types.is_boolean(array.type):
        return pc.fill_null(pc.if_else(array, pa.scalar("true"), pa.scalar("false")), "null")
    if pa.types.is_integer(array.type):
        return pc.fill_null(array.cast(pa.string()), "null")
    text = pc.binary_join_element_wise(pa.scalar('"'), array, pa.scalar('"'), "")
    needs = np.flatnonzero(
        np.asarray(
            pc.fill_null(pc.match_substring_regex(array, _NEEDS_ESCAPE), False).to_numpy(
                zero_copy_only=False
            ),
            dtype=bool,
        )
    )
    if needs.size:
        values = text.to_pylist()
        for row, value in zip(
            needs.tolist(), pc.take(array, pa.array(needs)).to_pylist(), strict=True
        ):
            values[row] = _dumps(value)
        text = pa.array(values, pa.string())
    return pc.fill_null(text, "null")


def _facts_text(column: pa.ChunkedArray) -> pa.Array:
    """``,"facts":{...}`` where a row has account facts, else nothing."""
    array = column.combine_chunks()
    if pa.types.is_dictionary(array.type):
        text = pc.binary_join_element_wise(pa.scalar(',"facts":'), array.dictionary, "")
        return pc.fill_null(pc.take(text, array.indices), "")
    text = pc.binary_join_element_wise(pa.scalar(',"facts":'), array, "")
    return pc.fill_null(text, "")


def jsonl_text(table: pa.Table) -> pa.Array:
    """One JSON line (with its newline) per decided row; each parses to the row's record."""
    table = decided(table)
    if table.num_rows == 0:
        return pa.array([], pa.string())

    def j(name: str) -> pa.Array:
        return _json_strings(table.column(name))

    pieces: list[Any] = [
        f'{{"schema":{RECORD_SCHEMA},"decision_id":',
        j("decision_id"),
        ',"decided_at":"',
        stamps(table.column("decided_at"), millis=True),
        '","evaluated_at":"',
        stamps(table.column("evaluated_at"), millis=False),
        '","provider":',
        j("provider"),
        ',"model":',
        j("model"),
        ',"account":{"id":',
        j("account_id"),
        ',"tier":',
        j("account_tier"),
        _facts_text(table.column("account_facts")),
        '},"outcome":',
        j("outcome"),
        ',"reasons":',
        j("reasons"),
        ',"rule":',
        j("rule"),
        ',"alternatives":',
        j("alternatives"),
        ',"policy_version":',
        j("policy_version"),
        ',"ip":',
        j("ip"),
        ',"network":',
        j("network"),
        ',"geo":{',
    ]
    for i, name in enumerate(GEO_COLUMNS):
        pieces += [("," if i else "") + f'"{name}":', j(name)]
    pieces.append("}}\n")
    return pc.binary_join_element_wise(
        *[pa.scalar(p) if isinstance(p, str) else p for p in pieces], ""
    )


def jsonl_bytes(table: pa.Table) -> pa.Buffer:
    """The JSON lines of ``jsonl_text`` as one buffer, ready to write."""
    lines = jsonl_text(table)
    if len(lines) == 0:
        return pa.py_buffer(b"")
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32)[lines.offset :]
    start, stop = int(offsets[0]), int(offsets[len(lines)])
    return lines.buffers()[2][start:stop]


def _account(row: dict[str, Any]) -> dict[str, Any]:
    """The record's account: id, tier and, when stated, the facts with their source."""
    out: dict[str, Any] = {"id": row["account_id"], "tier": row["account_tier"]}
    facts = row.get("account_facts")
    if facts is not None:
        out["facts"] = json.loads(facts)  # ValueError when it is not JSON
        if not isinstance(out["facts"], dict):
            raise ValueError("account_facts is not a JSON object")
    return out


def record_of(row: dict[str, Any]) -> dict[str, Any]:
    """A record from one flat row (times as ISO text), in ``decision_record``'s shape."""
    return {
        "schema": RECORD_SCHEMA,
        "decision_id": row["decision_id"],
        "decided_at": row["decided_at"],
        "evaluated_at": row["evaluated_at"],
        "provider": row["provider"],
        "model": row["model"],
        "account": _account(row),
        "outcome": row["outcome"],
        "reasons": row["reasons"],
        "rule": row["rule"],
        "alternatives": row["alternatives"],
        "policy_version": row["policy_version"],
        "ip": row["ip"],
        "network": row["network"],
        "geo": {name: row[name] for name in GEO_COLUMNS},
    }


def record_dicts(table: pa.Table) -> list[dict[str, Any]]:
    """``serialize.decision_record`` of every decided row, from the table."""
    table = decided(table)
    table = table.set_column(
        table.schema.get_field_index("decided_at"),
        "decided_at",
        stamps(table.column("decided_at"), millis=True),
    )
    table = table.set_column(
        table.schema.get_field_index("evaluated_at"),
        "evaluated_at",
        stamps(table.column("evaluated_at"), millis=False),
    )
    return [record_of(row) for row in table.to_pylist()]


def flat_table(table: pa.Table, *, text_lists: bool = False) -> pa.Table:
    """The decided rows as flat columns (Parquet keeps lists and timestamps; with
    ``text_lists``, for CSV, lists are ``;``-joined and times ISO text)."""
    table = decided(table)
    if not text_lists:
        return table
    columns = {}
    for name in table.schema.names:
        column = table.column(name)
        if pa.types.is_dictionary(column.type):
            columns[name] = column.cast(pa.string())
        elif pa.types.is_list(column.type):
            columns[name] = pc.binary_join(column, ";")
        elif pa.types.is_timestamp(column.type):
            columns[name] = stamps(column, millis=column.type.unit == "ms")
        else:
            columns[name] = column
    return pa.table(columns)
