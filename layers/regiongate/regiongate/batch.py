"""Classify a file of requests (Parquet, CSV or JSONL) into a file of decisions.

Bad rows are reported with their line number and skipped; the run goes on. Progress goes to
stderr while the run lasts, and a summary (provider x outcome x country) is printed at the end.
"""

from __future__ import annotations

import csv
import io
import json
import json.scanner
import os
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, TextIO

from regiongate.account import AccountFacts, account_facts
from regiongate.decision import Decision
from regiongate.engine import Engine
from regiongate.errors import RegiongateError
from regiongate.policy import parse_instant
from regiongate.request import Request
from regiongate.serialize import decision_json, record_json


class InputError(Exception):
    """The input file cannot be read at all (as opposed to one bad row)."""


_EXTENSIONS = {
    "": "jsonl",  # no extension: JSON lines, as before formats were told apart
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
}


def format_of(path: str, given: str, *, role: str) -> str:
    """The file format: ``given`` unless ``auto``, else from the extension ('-' is JSONL)."""
    if given != "auto":
        return given
    if path == "-":
        return "jsonl"
    fmt = _EXTENSIONS.get(os.path.splitext(path.removesuffix(".gz"))[1].lower())
    if fmt is None:
        raise InputError(
            f"cannot tell the {role} format of {path} from its extension: use .parquet, .csv "
            f"or .jsonl, or pass --{'output-' if role == 'output' else ''}format"
        )
    return fmt


@dataclass
class RunStats:
    rows: int = 0
    bad_rows: int = 0
    seconds: float = 0.0
    counts: Counter[tuple[str, str, str]] = field(default_factory=Counter)

    @property
    def rate(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


def _optional_text(row: dict[str, Any], key: str) -> str | None:
    value = row.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValueError(f"field {key!r} must be a string")
    return value


def _provider_of(row: dict[str, Any], default_provider: str | None) -> str:
    provider = row.get("provider") or default_provider
    if not isinstance(provider, str):
        raise ValueError("missing field 'provider' (or pass --provider)")
    return provider


def request_from_row(row: dict[str, Any], default_provider: str | None) -> Request:
    """Turn one parsed input row into a request; raises ValueError with a precise message."""
    ip = row.get("ip")
    if not isinstance(ip, str) or not ip:
        raise ValueError("missing field 'ip'")
    provider = _provider_of(row, default_provider)
    account = row.get("account")
    account_id = _optional_text(row, "account_id")
    account_tier = _optional_text(row, "account_tier")
    # Account facts: CSV columns, or the fields of an 'account' object (the file's author,
    # the operator, is the trusted source).
    stated: dict[str, Any] = {name: row.get(column) for name, column in _FACT_COLUMNS.items()}
    if isinstance(account, dict):
        account_id = _optional_text(account, "id")
        account_tier = _optional_text(account, "tier")
        stated = account
    elif isinstance(account, str) and account:
        account_id = account
    elif account not in (None, ""):
        raise ValueError("field 'account' must be an object {id, tier} or a string")
    when = _optional_text(row, "time")
    return Request(
        ip=ip,
        provider=provider,
        account_id=account_id,
        account_tier=account_tier,
        model=_optional_text(row, "model"),
        at=parse_instant(when) if when else None,
        account_facts=_facts(stated, row.get("end_user_country")),
    )


def _stated(value: Any) -> Any:
    """A fact as stated: empty text (a blank CSV cell) is not stated; 0 is."""
    return None if value is None or value == "" else value


_FACT_COLUMNS = {
    "country": "account_country",
    "parent_country": "parent_country",
    "parent_ownership": "parent_ownership",
    "verification": "verification",
    "contract": "contract",
}


def _facts(stated: dict[str, Any], end_user: Any) -> AccountFacts | None:
    """The facts a row states; empty text is not stated, in an 'account' object as in a
    CSV cell (as for the account's id and tier)."""
    stated = {name: _stated(value) for name, value in stated.items()}
    try:
        return account_facts(stated, _stated(end_user), "batch-file")
    except RegiongateError as exc:
        raise ValueError(exc.message) from None


# The C scanner behind json.loads; its context is a decoder (the stub says otherwise).
_scan_json = json.scanner.make_scanner(json.JSONDecoder())  # type: ignore[arg-type]


def parse_line(line: str) -> dict[str, Any] | str | None:
    """One JSONL line: the object, an error text, or None for a blank line.

    The common line (an object, nothing but the newline after it) is read by the JSON scanner
    directly, skipping the layers of ``json.loads`` around it; anything else takes
    ``json.loads`` itself, so both accept and reject exactly the same lines."""
    try:
        row, end = _scan_json(line, 0)
    except (StopIteration, ValueError):
        pass
    else:
        if type(row) is dict and (end == len(line) or line[end:] == "\n"):
            return row
    if not line.strip():
        return None
    try:
        parsed = json.loads(line)
    except ValueError as exc:
        return f"invalid JSON: {exc}"
    return parsed if isinstance(parsed, dict) else "each line must be a JSON object"


def _rows(stream: TextIO, fmt: str) -> Iterator[tuple[int, dict[str, Any] | str]]:
    """(line number, row) pairs; a row that does not parse is yielded as its error text."""
    if fmt == "csv":
        reader = csv.DictReader(stream)
        if not reader.fieldnames or "ip" not in reader.fieldnames:
            raise InputError("CSV input needs a header row with an 'ip' column")
        for row in reader:
            yield reader.line_num, row
        return
    scan = _scan_json
    for number, line in enumerate(stream, 1):
        try:  # the common line, read here rather than through a call: see parse_line
            row, end = scan(line, 0)
            if type(row) is dict and (end == len(line) or line[end:] == "\n"):
                yield number, row
                continue
        except (StopIteration, ValueError):
            pass
        parsed = parse_line(line)
        if parsed is not None:
            yield number, parsed


class Progress:
    """A one-line progress report on stderr, refreshed at most five times a second."""

    def __init__(self, total_bytes: int | None, enabled: bool, out: TextIO | None = None) -> None:
        self.total, self.enabled, self.out = total_bytes, enabled, out or sys.stderr
        self.started = time.perf_counter()
        self._next = self.started + 0.2

    def update(self, rows: int, position: int | None) -> None:
        now = time.perf_counter()
        if not self.enabled or now < self._next:
            return
        self._next = now + 0.2
        rate = rows / (now - self.started)
        line = f"\r  {rows:>12,} rows  {rate:>10,.0f} rows/s"
        if self.total and position is not None:
            share = min(1.0, position / self.total)
            bar = "#" * int(share * 30)
            line += f"  [{bar:<30}] {share:6.1%}"
        self.out.write(line)
        self.out.flush()

    def finish(self) -> None:
        if self.enabled:
            self.out.write("\r" + " " * 80 + "\r")
            self.out.flush()


def classify_stream(
    engine: Engine,
    stream: TextIO,
    out: TextIO,
    fmt: str,
    default_provider: str | None,
    progress: Progress,
    errors: TextIO | None = None,
    *,
    full: bool = False,
) -> RunStats:
    """Decide every row of ``stream``, writing one JSON line per decision to ``out``: the
    compact record by default, the full decision (citations and all) with ``full``."""
    errors = errors or sys.stderr
    encode = decision_json if full else record_json
    stats = RunStats()
    started = time.perf_counter()
    decide = engine.decide
    counts = stats.counts
    binary = getattr(stream, "buffer", None)
    tell = getattr(binary, "tell", None) if binary is not None and binary.seekable() else None
    pending: list[str] = []  # lines are written a thousand at a time
    keep = pending.append
    rows = 0
    decision: Decision
    try:
        for number, row in _rows(stream, fmt):
            if isinstance(row, str):
                stats.bad_rows += 1
                errors.write(f"line {number}: {row}\n")
                continue
            try:
                if len(row) == 2 and "provider" in row and type(ip := row.get("ip")) is str and ip:
                    # The common row, exactly {"ip", "provider"}, skips request_from_row.
                    decision = decide(Request(ip, _provider_of(row, default_provider)))
                else:
                    decision = decide(request_from_row(row, default_provider))
            except (RegiongateError, ValueError) as exc:
                stats.bad_rows += 1
                message = exc.message if isinstance(exc, RegiongateError) else str(exc)
                errors.write(f"line {number}: {message}\n")
                continue
            keep(encode(decision))
            rows += 1
            counts[(decision.provider, decision.verdict.outcome, decision.country or "-")] += 1
            if not rows & 0x3FF:
                out.write("\n".join(pending) + "\n")
                pending.clear()
                progress.update(rows, tell() if tell else None)
    finally:
        if pending:
            out.write("\n".join(pending) + "\n")
        stats.rows = rows
    progress.finish()
    stats.seconds = time.perf_counter() - started
    return stats


def summary_table(stats: RunStats) -> str:
    lines = [
        f"{stats.rows:,} decisions, {stats.bad_rows:,} bad rows, "
        f"{stats.seconds:.2f} s ({stats.rate:,.0f} rows/s)"
    ]
    if stats.counts:
        lines.append(f"{'provider':<22}{'decision':<10}{'country':<9}{'count':>10}")
        for (provider, outcome, country), count in sorted(
            stats.counts.items(), key=lambda kv: (kv[0][0], kv[0][1], -kv[1], kv[0][2])
        ):
            lines.append(f"{provider:<22}{outcome:<10}{country:<9}{count:>10,}")
    return "\n".join(lines)


def run_file(
    engine: Engine,
    input_path: str,
    output_path: str | None,
    *,
    input_format: str,
    default_provider: str | None,
    progress: bool,
    summary_out: TextIO,
    full: bool = False,
    output_format: str = "auto",
    row_by_row: bool = False,
    log_format: str | None = None,
    provider_field: str | None = None,
    provider_pattern: str | None = None,
) -> int:
    """The CLI's ``classify --input``: returns 0, or 1 when some rows were bad.

    Files go through the columnar engine (Parquet, CSV or JSONL in and out, formats from the
    extensions); ``row_by_row`` (implied by ``full``) keeps the per-request path, which reads
    JSONL or CSV and writes JSON lines. Raises InputError when the input cannot be read or the
    output cannot be written, or a format is unknown.
    """
    output_path = output_path or "-"
    if log_format is not None and (row_by_row or full):
        raise InputError("logs (--log-format) are read by the columnar engine only")
    if row_by_row or full:
        if input_path.endswith(".gz"):
            raise InputError("the row-by-row path (--row-by-row, --full) does not read .gz files")
        fmt = format_of(input_path, input_format, role="input")
        if fmt == "parquet" or format_of(output_path, output_format, role="output") != "jsonl":
            raise InputError(
                "the row-by-row path (--row-by-row, --full) reads JSONL or CSV and writes JSONL"
            )
        return _run_row_by_row(
            engine, input_path, output_path, fmt, default_provider, progress, summary_out, full
        )
    try:
        from regiongate.columnar import ColumnarEngine
        from regiongate.columnar.files import classify_file, size_of
    except ImportError as exc:
        raise InputError(
            f"batch files need the 'batch' extra (pip install 'regiongate[batch]'): {exc}"
        ) from exc
    from regiongate.logs import ProviderRule

    try:
        rule = ProviderRule.build(provider_field, provider_pattern)
    except ValueError as exc:
        raise InputError(str(exc)) from exc
    fmt = "jsonl" if log_format else format_of(input_path, input_format, role="input")
    out_fmt = format_of(output_path, output_format, role="output")
    if output_path == "-" and out_fmt != "jsonl":
        raise InputError(f"{out_fmt} output needs a file (--output FILE)")
    started = time.perf_counter()
    try:
        stats = classify_file(
            ColumnarEngine(engine),
            input_path,
            output_path,
            input_format=fmt,
            output_format=out_fmt,
            default_provider=default_provider,
            progress=Progress(size_of(input_path, fmt), progress and sys.stderr.isatty()),
            log_format=log_format,
            provider_rule=rule,
        )
    except InputError as exc:
        raise InputError(f"{input_path}: {exc}") from exc
    stats.seconds = time.perf_counter() - started
    print(summary_table(stats), file=summary_out)
    return 1 if stats.bad_rows else 0


def _run_row_by_row(
    engine: Engine,
    input_path: str,
    output_path: str,
    fmt: str,
    default_provider: str | None,
    progress: bool,
    summary_out: TextIO,
    full: bool,
) -> int:
    """The per-request path: every row decided by ``Engine.decide`` on its own."""
    try:
        stream: TextIO = (
            io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", newline="")
            if input_path == "-"
            else open(input_path, encoding="utf-8", newline="")  # noqa: SIM115
        )
    except OSError as exc:
        raise InputError(f"cannot read {input_path}: {exc.strerror}") from exc
    total = os.path.getsize(input_path) if input_path != "-" else None
    try:
        to_stdout = output_path == "-"
        out: TextIO = sys.stdout if to_stdout else open(str(output_path), "w", encoding="utf-8")  # noqa: SIM115
    except OSError as exc:
        stream.close()
        raise InputError(f"cannot write {output_path}: {exc.strerror}") from exc
    try:
        stats = classify_stream(
            engine,
            stream,
            out,
            fmt,
            default_provider,
            Progress(total, progress and sys.stderr.isatty()),
            full=full,
        )
    except InputError as exc:
        raise InputError(f"{input_path}: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise InputError(f"{input_path}: not UTF-8 text ({exc.reason})") from exc
    finally:
        stream.close()
        if out is not sys.stdout:
            out.close()
        else:
            out.flush()
    print(summary_table(stats), file=summary_out)
    return 1 if stats.bad_rows else 0
