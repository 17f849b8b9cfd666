"""Batch files on one core: the columnar engine against the row-by-row path, interleaved.

    python bench/batch_columnar.py [--rows 1000000] [--rounds 2]

One mixed file of requests (30% accounts with a tier, 20% a model, 20% a ``time``, 20% IPv6,
several providers; addresses drawn from the bundled database's networks), written once as
JSONL and as Parquet. Each round runs every contender once, in turn, in a fresh process pinned
to one CPU (Arrow limited to one thread): columnar Parquet -> Parquet, columnar JSONL -> JSONL,
and the row-by-row path JSONL -> JSONL (``--row-by-row``). Each run prints its rows/s (end to
end: read, decide, write; the engine and interval tables are loaded before the clock starts,
from the on-disk cache) and its own peak resident memory. The machine may be shared: read the
ratios (same file, same process shape, interleaved) before the absolute figures.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROVIDERS = ("openai", "anthropic", "google_gemini", "aws_bedrock", "azure_openai", "deepseek")
TIERS = ("pro", "enterprise", "free")
MODELS = ("anthropic.claude-sonnet-4-5", "us.anthropic.claude-3-haiku", "gpt-4o", "gemini-2.5-pro")


def make_rows(n: int, seed: int = 7) -> dict[str, list[object]]:
    """The mixed request columns (deterministic for a seed)."""
    import numpy as np
    from regiongate.columnar import intervals
    from regiongate.geo import DEFAULT_DATABASE

    rng = np.random.default_rng(seed)
    tables = intervals.load(str(DEFAULT_DATABASE))
    assert tables.v6 is not None
    v4_leaves = np.flatnonzero(tables.v4.record != tables.node_count)
    v6_leaves = np.flatnonzero((tables.v6.record != tables.node_count) & (tables.v6.depth <= 64))
    is_v6 = rng.random(n) < 0.2
    ips: list[object] = [None] * n
    rows4 = np.flatnonzero(~is_v6)
    leaf = rng.choice(v4_leaves, rows4.size)
    depth = tables.v4.depth[leaf].astype(np.int64) - 96
    span = np.left_shift(1, 32 - np.clip(depth, 0, 32)).astype(np.int64)
    values = tables.v4.start_lo[leaf].astype(np.int64) + (rng.random(rows4.size) * span).astype(
        np.int64
    )
    for row, value in zip(rows4.tolist(), values.tolist(), strict=True):
        ips[row] = f"{value >> 24}.{value >> 16 & 255}.{value >> 8 & 255}.{value & 255}"
    rows6 = np.flatnonzero(is_v6)
    leaf = rng.choice(v6_leaves, rows6.size)
    his = tables.v6.start_hi[leaf].astype(np.uint64)
    lows = rng.integers(0, 2**63, rows6.size, dtype=np.uint64)
    for row, hi, lo in zip(rows6.tolist(), his.tolist(), lows.tolist(), strict=True):
        value = (hi << 64 | lo).to_bytes(16)
        ips[row] = ":".join(value[i : i + 2].hex().lstrip("0") or "0" for i in range(0, 16, 2))
    provider = [PROVIDERS[i] for i in rng.integers(0, len(PROVIDERS), n).tolist()]
    has_account = rng.random(n) < 0.3
    tiers = rng.integers(0, len(TIERS), n).tolist()
    ids = rng.integers(0, 50_000, n).tolist()
    has_model = rng.random(n) < 0.2
    models = rng.integers(0, len(MODELS), n).tolist()
    has_time = rng.random(n) < 0.2
    stamps = rng.integers(1_704_067_200, 1_790_000_000, n).tolist()
    return {
        "ip": ips,
        "provider": provider,
        "account_id": [f"acct-{ids[i]}" if has_account[i] else None for i in range(n)],
        "account_tier": [TIERS[tiers[i]] if has_account[i] else None for i in range(n)],
        "model": [MODELS[models[i]] if has_model[i] else None for i in range(n)],
        "time": [
            time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(stamps[i])) if has_time[i] else None
            for i in range(n)
        ],
    }


def write_inputs(directory: Path, n: int) -> tuple[Path, Path]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns = make_rows(n)
    parquet = directory / "requests.parquet"
    pq.write_table(pa.table({k: pa.array(v, pa.string()) for k, v in columns.items()}), parquet)
    jsonl = directory / "requests.jsonl"
    with jsonl.open("w") as out:
        for i in range(n):
            row: dict[str, object] = {"ip": columns["ip"][i], "provider": columns["provider"][i]}
            if columns["account_id"][i] is not None:
                row["account"] = {
                    "id": columns["account_id"][i],
                    "tier": columns["account_tier"][i],
                }
            for key in ("model", "time"):
                if columns[key][i] is not None:
                    row[key] = columns[key][i]
            out.write(json.dumps(row, separators=(",", ":")) + "\n")
    return parquet, jsonl


def run_one(source: str, target: str, row_by_row: bool) -> None:
    """One contender in this (child) process: prints a JSON line with rows/s and peak RSS.

    A columnar contender runs the file twice: the first run (the figure compared) pays for
    evaluating every distinct verdict key once; the second (``warm``) finds them in the
    engine's memo, as a long job's later files do."""
    import io

    import pyarrow as pa
    from regiongate import batch
    from regiongate.columnar import ColumnarEngine
    from regiongate.engine import get_engine

    pa.set_cpu_count(1)
    pa.set_io_thread_count(1)
    engine = get_engine()
    ColumnarEngine(engine)  # interval tables into the on-disk cache before the clock starts
    import regiongate.columnar.files  # noqa: F401 - imported before the clock starts

    def run() -> tuple[int, float]:
        summary = io.StringIO()
        started = time.perf_counter()
        batch.run_file(
            engine,
            source,
            target,
            input_format="auto",
            default_provider=None,
            progress=False,
            summary_out=summary,
            row_by_row=row_by_row,
        )
        seconds = time.perf_counter() - started
        return int(summary.getvalue().split(" ", 1)[0].replace(",", "")), seconds

    rows, seconds = run()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    warm = run()[1] if not row_by_row else seconds
    print(json.dumps({"rows": rows, "seconds": seconds, "warm": warm, "peak_mb": peak}))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--child", nargs=3, metavar=("SOURCE", "TARGET", "ROW_BY_ROW"))
    args = parser.parse_args(argv)
    if args.child:
        source, target, row_by_row = args.child
        run_one(source, target, row_by_row == "1")
        return 0
    env = {**os.environ, "PYTHONPATH": str(ROOT / "layers" / "regiongate")}
    cpu = sorted(os.sched_getaffinity(0))[-1]
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        started = time.perf_counter()
        parquet, jsonl = write_inputs(directory, args.rows)
        mb = jsonl.stat().st_size / 1e6, parquet.stat().st_size / 1e6
        print(f"input: {args.rows:,} mixed rows ({time.perf_counter() - started:.1f} s to write); "
              f"JSONL {mb[0]:.0f} MB, Parquet {mb[1]:.0f} MB")  # fmt: skip
        contenders = {
            "columnar  Parquet -> Parquet": (parquet, directory / "out.parquet", "0"),
            "columnar  JSONL -> JSONL": (jsonl, directory / "out.jsonl", "0"),
            "row-by-row JSONL -> JSONL": (jsonl, directory / "out-rows.jsonl", "1"),
        }
        results: dict[str, list[dict[str, float]]] = {name: [] for name in contenders}
        for round_ in range(args.rounds):
            for name, (source, target, row_by_row) in contenders.items():
                done = subprocess.run(
                    ["taskset", "-c", str(cpu), sys.executable, __file__, "--child",
                     str(source), str(target), row_by_row],
                    env=env, capture_output=True, text=True, check=True,
                )  # fmt: skip
                result = json.loads(done.stdout.strip().splitlines()[-1])
                results[name].append(result)
                rate = result["rows"] / result["seconds"]
                warm = result["rows"] / result["warm"]
                print(f"  round {round_ + 1}  {name:<30}{rate:>12,.0f} rows/s"
                      f"  (warm {warm:,.0f})  peak {result['peak_mb']:,.0f} MB",
                      flush=True)  # fmt: skip
    best = {n: max(r["rows"] / r["seconds"] for r in rs) for n, rs in results.items()}
    warm = {n: max(r["rows"] / r["warm"] for r in rs) for n, rs in results.items()}
    peak = {n: max(r["peak_mb"] for r in rs) for n, rs in results.items()}
    print(f"\nbest of {args.rounds} rounds, one core (CPU {cpu}):")
    for name in contenders:
        print(f"  {name:<30}{best[name]:>12,.0f} rows/s   (warm {warm[name]:>10,.0f})"
              f"   peak {peak[name]:>6,.0f} MB")  # fmt: skip
    row_rate = best["row-by-row JSONL -> JSONL"]
    jsonl_ratio = best["columnar  JSONL -> JSONL"] / row_rate
    parquet_ratio = best["columnar  Parquet -> Parquet"] / row_rate
    print(f"  columnar JSONL / row-by-row JSONL:   {jsonl_ratio:6.1f}x")
    print(f"  columnar Parquet / row-by-row JSONL: {parquet_ratio:6.1f}x")
    for name, target in (("columnar  Parquet -> Parquet", 2_000_000),
                         ("columnar  JSONL -> JSONL", 300_000)):  # fmt: skip
        print(f"  {name.split('  ')[1]}: {best[name] / target:.0%} of the {target:,} rows/s target")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
