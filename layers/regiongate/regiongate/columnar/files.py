"""Files of requests through the columnar engine: Parquet, CSV or JSONL in and out.

Input is read in chunks of rows. JSONL goes through Arrow's JSON reader when a chunk is plain
(one object a line, text fields, no blank lines); any other chunk is read line by line with the
row-by-row path's own parser (``batch.request_from_row``), so a bad line is reported with its
number exactly as before and the good lines around it are still decided. CSV is read with
Python's ``csv`` module (line numbers as the row-by-row path counts them). Parquet columns are
used as they are (``row N`` in messages). Output is the compact record: JSON lines, or its
fields as flat Parquet/CSV columns.
"""

from __future__ import annotations

import csv
import gzip
import io
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any, BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq

from regiongate.account import END_USER_FIELD
from regiongate.batch import InputError, Progress, RunStats, parse_line, request_from_row
from regiongate.columnar.engine import DECISION_SCHEMA, FACT_COLUMNS, ColumnarEngine
from regiongate.columnar.records import decided, flat_table, jsonl_bytes, record_of, stamps
from regiongate.logs import READERS, ProviderRule

CHUNK_ROWS = 1 << 18
# Parquet is read in bigger batches: no per-line parsing to bound, and fewer per-chunk costs.
PARQUET_ROWS = 1 << 20
# Columns with few distinct values: dictionary-encoded in Parquet output (the others, mostly
# unique, are not worth the dictionary Parquet would otherwise try and drop).
_UNIQUE_COLUMNS = ("decision_id", "ip", "network", "account_id", "decided_at", "evaluated_at")
_JSON_BLOCK = 16 << 20
_TEXT = pa.string()
_SHARE = pa.float64()
# The fields of an 'account' object that are facts (request field -> column).
_ACCOUNT_FACTS = {f: c for f, c in FACT_COLUMNS.items() if f != END_USER_FIELD}
_ACCOUNT = pa.struct(
    [
        ("id", _TEXT),
        ("tier", _TEXT),
        *((f, _SHARE if f == "parent_ownership" else _TEXT) for f in _ACCOUNT_FACTS),
    ]
)
_JSON_SCHEMA = pa.schema(
    [
        ("ip", _TEXT),
        ("provider", _TEXT),
        ("account_id", _TEXT),
        ("account_tier", _TEXT),
        ("account", _ACCOUNT),
        ("model", _TEXT),
        ("time", _TEXT),
        *((c, _SHARE if c == "parent_ownership" else _TEXT) for c in FACT_COLUMNS.values()),
    ]
)
_REQUEST_FIELDS = ("ip", "provider", "account_id", "account_tier", "model")


def size_of(path: str, fmt: str) -> int | None:
    """What progress counts to: bytes of a text file, rows of a Parquet file."""
    if path == "-" or not os.path.isfile(path):
        return None
    if fmt != "parquet":
        return os.path.getsize(path)
    try:
        return int(pq.ParquetFile(path).metadata.num_rows)
    except (OSError, pa.ArrowException):
        return None  # read_parquet reports the problem


@dataclass
class Chunk:
    """Requests read from one stretch of the input, with the number of each row, and the
    rows that could not be read at all (number, message)."""

    requests: pa.Table
    numbers: np.ndarray[Any, np.dtype[np.int64]]
    errors: list[tuple[int, str]]
    position: int | None


def _python_chunk(
    rows: Iterator[tuple[int, dict[str, Any] | str]], default_provider: str | None, limit: int
) -> Chunk | None:
    """Up to ``limit`` rows read the row-by-row way (exact messages for bad rows)."""
    columns: dict[str, list[Any]] = {
        name: [] for name in (*_REQUEST_FIELDS, "time", *FACT_COLUMNS.values())
    }
    numbers: list[int] = []
    errors: list[tuple[int, str]] = []
    seen = 0
    for number, row in rows:
        seen += 1
        if isinstance(row, str):
            errors.append((number, row))
        else:
            try:
                request = request_from_row(row, default_provider)
            except ValueError as exc:
                errors.append((number, str(exc)))
            else:
                numbers.append(number)
                for name in _REQUEST_FIELDS:
                    columns[name].append(getattr(request, name))
                columns["time"].append(request.at)
                facts = request.account_facts
                for field, name in FACT_COLUMNS.items():
                    columns[name].append(None if facts is None else getattr(facts, field))
        if seen >= limit:
            break
    if not seen:
        return None
    table = pa.table(
        {
            **{name: pa.array(columns[name], _TEXT) for name in _REQUEST_FIELDS},
            "time": pa.array(columns["time"], pa.int64()),
            **{
                name: pa.array(columns[name], _SHARE if name == "parent_ownership" else _TEXT)
                for name in FACT_COLUMNS.values()
            },
        }
    )
    return Chunk(table, np.array(numbers, dtype=np.int64), errors, None)


def _json_lines(text: str, first: int) -> Iterator[tuple[int, dict[str, Any] | str]]:
    for number, line in enumerate(text.splitlines(keepends=True), first):
        parsed = parse_line(line)
        if parsed is not None:
            yield number, parsed


def _arrow_json(block: bytes, lines: int) -> pa.Table | None:
    """The block read by Arrow, or None when Arrow cannot read it exactly as the row path
    would (a bad line, a non-text field, a blank line)."""
    try:
        table = pajson.read_json(
            io.BytesIO(block),
            read_options=pajson.ReadOptions(block_size=max(len(block), 1 << 20)),
            parse_options=pajson.ParseOptions(
                explicit_schema=_JSON_SCHEMA, unexpected_field_behavior="ignore"
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    if table.num_rows != lines:
        return None
    try:
        table.validate(full=True)  # Arrow's JSON reader leaves UTF-8 unchecked
    except pa.ArrowInvalid:
        return None
    account = table.column("account").combine_chunks()
    columns = {name: table.column(name) for name in ("ip", "provider", "model", "time")}
    # An "account" object names the id and tier (even as null) over account_id/account_tier.
    given = pc.is_valid(account)
    columns["account_id"] = pc.if_else(
        given, pc.struct_field(account, "id"), table.column("account_id")
    )
    columns["account_tier"] = pc.if_else(
        given, pc.struct_field(account, "tier"), table.column("account_tier")
    )
    flat = {name: table.column(name).combine_chunks() for name in FACT_COLUMNS.values()}
    columns.update(_stated_facts(flat, account, len(account)))
    return pa.table(columns)


def _stated_facts(
    flat: dict[str, pa.Array], account: pa.Array | None, n: int
) -> dict[str, pa.Array]:
    """The fact columns as ``batch.request_from_row`` reads a row: the fields of an
    'account' object when there is one, else the flat columns; the end user's country is
    always a flat column. (The engine takes empty text as not stated.)"""
    out: dict[str, pa.Array] = {}
    for name in FACT_COLUMNS.values():
        column = flat.get(name)
        if column is not None and pa.types.is_dictionary(column.type):
            column = column.dictionary_decode()
        if column is not None:
            out[name] = column
    if account is None or not pa.types.is_struct(account.type):
        return out
    given = pc.is_valid(account)
    for field, name in _ACCOUNT_FACTS.items():
        if account.type.get_field_index(field) >= 0:
            inner = pc.struct_field(account, field)
        else:
            inner = pa.nulls(n, _SHARE if field == "parent_ownership" else _TEXT)
        fallback = out.get(name, pa.nulls(n, inner.type))
        if fallback.type != inner.type:
            inner, fallback = inner.cast(_TEXT), fallback.cast(_TEXT)
        out[name] = pc.if_else(given, inner, fallback)
    return out


def read_jsonl(stream: BinaryIO, default_provider: str | None) -> Iterator[Chunk]:
    first = 1
    position = 0
    while True:
        block = stream.read(_JSON_BLOCK)
        if not block:
            return
        if not block.endswith(b"\n"):
            block += stream.readline()
        position += len(block)
        lines = block.count(b"\n") + (0 if block.endswith(b"\n") else 1)
        table = _arrow_json(block, lines)
        if table is not None:
            numbers = np.arange(first, first + lines, dtype=np.int64)
            yield Chunk(table, numbers, [], position)
        else:
            try:
                text = block.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise InputError(f"not UTF-8 text ({exc.reason})") from exc
            rows = _json_lines(text, first)
            while (chunk := _python_chunk(rows, default_provider, CHUNK_ROWS)) is not None:
                chunk.position = position
                yield chunk
        first += lines


def read_csv(stream: BinaryIO, default_provider: str | None) -> Iterator[Chunk]:
    text = io.TextIOWrapper(stream, encoding="utf-8", newline="")
    reader = csv.DictReader(text)
    if not reader.fieldnames or "ip" not in reader.fieldnames:
        raise InputError("CSV input needs a header row with an 'ip' column")
    rows = ((reader.line_num, row) for row in reader)
    try:
        while (chunk := _python_chunk(rows, default_provider, CHUNK_ROWS)) is not None:
            yield chunk
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text ({exc.reason})") from exc


def _text_column(batch: pa.RecordBatch, name: str) -> pa.Array | None:
    if name not in batch.schema.names:
        return None
    column = batch.column(name)
    if pa.types.is_dictionary(column.type):
        column = column.dictionary_decode()
    if pa.types.is_null(column.type):
        return pa.nulls(len(column), _TEXT)
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        raise InputError(f"column {name!r} must be text, not {column.type}")
    return column.cast(_TEXT)


def read_parquet(path: str) -> Iterator[Chunk]:
    try:
        source = pq.ParquetFile(path)
    except (OSError, pa.ArrowException) as exc:
        raise InputError(f"not a readable Parquet file ({exc})") from exc
    if "ip" not in source.schema_arrow.names:
        raise InputError("Parquet input needs an 'ip' column")
    done = 0
    for batch in source.iter_batches(batch_size=PARQUET_ROWS):
        columns: dict[str, Any] = {}
        for name in _REQUEST_FIELDS:
            column = _text_column(batch, name)
            if column is not None:
                columns[name] = column
        flat = {
            name: batch.column(name) for name in FACT_COLUMNS.values() if name in batch.schema.names
        }
        struct = batch.column("account") if "account" in batch.schema.names else None
        columns.update(_stated_facts(flat, struct, batch.num_rows))
        if "account" in batch.schema.names:
            account = batch.column("account")
            if pa.types.is_struct(account.type):
                given = pc.is_valid(account)
                for field, name in (("id", "account_id"), ("tier", "account_tier")):
                    inner = (
                        pc.struct_field(account, field).cast(_TEXT)
                        if account.type.get_field_index(field) >= 0
                        else pa.nulls(len(account), _TEXT)
                    )
                    fallback = columns.get(name, pa.nulls(len(account), _TEXT))
                    columns[name] = pc.if_else(given, inner, fallback)
            else:
                text = _text_column(batch, "account")
                if text is not None:
                    columns["account_id"] = pc.coalesce(text, columns.get("account_id"))
        if "time" in batch.schema.names:
            when = batch.column("time")
            if pa.types.is_date(when.type):
                when = when.cast(pa.timestamp("s"))
            if not (
                pa.types.is_timestamp(when.type)
                or pa.types.is_integer(when.type)
                or pa.types.is_string(when.type)
                or pa.types.is_large_string(when.type)
                or pa.types.is_null(when.type)
            ):
                raise InputError(
                    f"column 'time' must be text, a timestamp or a date, not {when.type}"
                )
            columns["time"] = when
        numbers = np.arange(done + 1, done + 1 + batch.num_rows, dtype=np.int64)
        done += batch.num_rows
        yield Chunk(pa.table(columns), numbers, [], done)


class _Writer:
    """Decided rows to a JSONL, CSV or Parquet file (or JSONL to stdout)."""

    def __init__(self, path: str, fmt: str) -> None:
        self.path, self.fmt = path, fmt
        self._parquet: pq.ParquetWriter | None = None
        self._csv: pacsv.CSVWriter | None = None
        try:
            self._out: IO[bytes] = (
                sys.stdout.buffer if path == "-" else open(path, "wb")  # noqa: SIM115
            )
        except OSError as exc:
            raise InputError(f"cannot write {path}: {exc.strerror}") from exc

    def write(self, decisions: pa.Table) -> None:
        if self.fmt == "jsonl":
            self._out.write(jsonl_bytes(decisions))
        elif self.fmt == "parquet":
            table = flat_table(decisions)
            if self._parquet is None:
                dictionary = [n for n in table.schema.names if n not in _UNIQUE_COLUMNS]
                self._parquet = pq.ParquetWriter(self._out, table.schema, use_dictionary=dictionary)
            self._parquet.write_table(table)
        else:
            table = flat_table(decisions, text_lists=True)
            if self._csv is None:
                self._csv = pacsv.CSVWriter(self._out, table.schema)
            self._csv.write_table(table)

    def close(self) -> None:
        if self.fmt == "parquet" and self._parquet is None:
            empty = flat_table(DECISION_SCHEMA.empty_table())
            self._parquet = pq.ParquetWriter(self._out, empty.schema)
        if self._parquet is not None:
            self._parquet.close()
        if self._csv is not None:
            self._csv.close()
        if self._out is sys.stdout.buffer:
            self._out.flush()
        else:
            self._out.close()


def _count(stats: RunStats, decisions: pa.Table) -> None:
    """Add the chunk's provider x outcome x country counts to the summary."""
    table = decided(decisions).select(["provider", "outcome", "country"])
    if not table.num_rows:
        return
    table = pa.table(
        {
            "provider": table.column("provider").cast(_TEXT),
            "outcome": table.column("outcome").cast(_TEXT),
            "country": pc.fill_null(table.column("country").cast(_TEXT), "-"),
        }
    )
    grouped = table.group_by(["provider", "outcome", "country"]).aggregate([([], "count_all")])
    for row in grouped.to_pylist():
        stats.counts[(row["provider"], row["outcome"], row["country"])] += row["count_all"]


def read_log(
    stream: BinaryIO, log_format: str, rule: ProviderRule, default_provider: str | None
) -> Iterator[Chunk]:
    """A gateway or CDN log, through its reader in ``regiongate.logs``."""
    text = io.TextIOWrapper(stream, encoding="utf-8", newline="")
    rows = READERS[log_format](text, rule)
    try:
        while (chunk := _python_chunk(rows, default_provider, CHUNK_ROWS)) is not None:
            yield chunk
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text ({exc.reason})") from exc


def _open(path: str) -> BinaryIO:
    """The input's bytes (stdin for '-'), gunzipped when the name ends in .gz."""
    try:
        if path == "-":
            return sys.stdin.buffer
        if path.endswith(".gz"):
            return gzip.open(path, "rb")  # type: ignore[return-value]
        return open(path, "rb")
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from exc


def classify_file(
    columnar: ColumnarEngine,
    input_path: str,
    output_path: str,
    *,
    input_format: str,
    output_format: str,
    default_provider: str | None,
    progress: Progress,
    errors: IO[str] | None = None,
    log_format: str | None = None,
    provider_rule: ProviderRule | None = None,
) -> RunStats:
    """Decide every row of the input into the output; bad rows are reported (``line N`` or,
    for Parquet, ``row N``) and skipped. With ``log_format`` the input is that service's log
    (``regiongate.logs``), the provider found by ``provider_rule``."""
    errors = errors or sys.stderr
    stats = RunStats()
    if log_format is not None:
        stream = _open(input_path)
        chunks = read_log(stream, log_format, provider_rule or ProviderRule(), default_provider)
        label = "line"
    elif input_format == "parquet":
        if input_path == "-":
            raise InputError("Parquet input must be a file, not stdin")
        chunks = read_parquet(input_path)
        label = "row"
    else:
        stream = _open(input_path)
        reader = read_csv if input_format == "csv" else read_jsonl
        chunks = reader(stream, default_provider)
        label = "line"
    writer = _Writer(output_path, output_format)
    try:
        for chunk in chunks:
            decisions = columnar.classify(chunk.requests, default_provider=default_provider)
            bad = [
                (int(chunk.numbers[i]), message)
                for i, message in enumerate(decisions.column("error").to_pylist())
                if message is not None
            ]
            for number, message in sorted([*chunk.errors, *bad]):
                errors.write(f"{label} {number}: {message}\n")
            stats.bad_rows += len(chunk.errors) + len(bad)
            stats.rows += decisions.num_rows - len(bad)
            writer.write(decisions)
            _count(stats, decisions)
            progress.update(stats.rows, chunk.position)
    finally:
        writer.close()
        if (log_format is not None or input_format != "parquet") and input_path != "-":
            stream.close()
    progress.finish()
    return stats


def _csv_record(row: dict[str, str]) -> dict[str, Any]:
    """A flat CSV record row (as ``classify`` writes it) as ``record_of`` reads it."""
    out: dict[str, Any] = {k: (None if v == "" else v) for k, v in row.items()}
    for name in ("reasons", "alternatives", "subdivisions", "anonymizers"):
        out[name] = row[name].split(";") if row.get(name) else []
    out["subdivision_data"] = row.get("subdivision_data") == "true"
    out["asn"] = int(row["asn"]) if (row.get("asn") or "").isdigit() else None
    return out


_RECORD_COLUMNS = ("provider", "outcome", "evaluated_at", "status")


def _record(row: dict[str, Any], where: str) -> dict[str, Any] | str:
    """The record of a flat row, or what is wrong with it, where (replay reports it)."""
    try:
        return record_of(row)
    except ValueError:
        return f"{where}: account_facts is not a JSON object"


def read_records(path: str, fmt: str) -> Iterator[tuple[int, dict[str, Any] | str]]:
    """Decision records from a Parquet or CSV file that ``classify`` wrote, numbered like the
    rows of the batch readers (``row N`` / ``line N`` in what replay reports)."""
    if fmt == "parquet":
        try:
            source = pq.ParquetFile(path)
        except (OSError, pa.ArrowException) as exc:
            raise InputError(f"not a readable Parquet file ({exc})") from exc
        missing = [c for c in _RECORD_COLUMNS if c not in source.schema_arrow.names]
        if missing:
            raise InputError(f"not decision records: no column {', '.join(missing)}")
        number = 0
        for batch in source.iter_batches(batch_size=CHUNK_ROWS):
            table = pa.Table.from_batches([batch])
            for name in ("decided_at", "evaluated_at"):
                column = table.column(name)
                if pa.types.is_timestamp(column.type):
                    text = stamps(column, millis=column.type.unit == "ms")
                    table = table.set_column(table.schema.get_field_index(name), name, text)
            for row in table.to_pylist():
                number += 1
                yield (
                    number,
                    _record({**dict.fromkeys(DECISION_SCHEMA.names), **row}, f"row {number}"),
                )
        return
    try:
        handle = open(path, encoding="utf-8", newline="")  # noqa: SIM115
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from exc
    with handle:
        reader = csv.DictReader(handle)
        missing = [c for c in _RECORD_COLUMNS if c not in (reader.fieldnames or ())]
        if missing:
            raise InputError(f"not decision records: no column {', '.join(missing)}")
        for row in reader:
            record = {**dict.fromkeys(DECISION_SCHEMA.names), **_csv_record(row)}
            yield reader.line_num, _record(record, f"line {reader.line_num}")
