"""Load run against ``regiongate serve`` on loopback: bounded, then checked for losses.

Two scenarios at C concurrent keep-alive clients (default 200), each client sending R
``POST /v1/classify`` requests (default 10): every client on one hot account (one chain that
every writer contends for), then every client on accounts of its own. After each, the
server's audit queues are left to drain, ``regiongate audit verify`` checks every chain in the
journal and in the emulator's table and that they agree link for link, and the export is
compared with the 200 answers: stored == answered, 0 duplicates, 0 missing.

Run: ``python bench/load.py [--clients 200] [--requests 10]`` (the machine is shared: keep it
short; figures are for this machine and load).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from serving import Load, Server


def scenario(name: str, clients: int, requests: int, accounts: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as data:
        server = Server(Path(data) / "data")
        server.start()
        try:
            load = Load(server.url, clients=clients, accounts=accounts, requests=requests)
            started = time.perf_counter()
            load.start().join()
            elapsed = time.perf_counter() - started
            answered = set(load.answered)
            drain_started = time.perf_counter()
            deadline = time.monotonic() + 600
            while time.monotonic() < deadline:  # let the pollers store what is queued
                if server.request("GET", "/_local/stats")[1]["stored"] >= len(answered):
                    break
                time.sleep(0.5)
            drained = time.perf_counter() - drain_started
            verify = server.audit("verify")
            exported = [
                json.loads(line)["decision_id"]
                for line in server.audit("export").stdout.splitlines()
            ]
        finally:
            server.stop(timeout=1800)
    latencies = sorted(load.latencies)
    return {
        "scenario": name,
        "clients": clients,
        "answered": len(load.answered),
        "errors": sum(v for k, v in load.statuses.items() if k != 200),
        "stored": len(set(exported)),
        "duplicates": len(exported) - len(set(exported)),
        "missing": len(answered - set(exported)),
        "chains": "verify" if verify.returncode == 0 else "BROKEN",
        "journal=table": "agree" if "agree link for link" in verify.stdout else "DIFFER",
        "req/s": round(len(latencies) / elapsed),
        "p50 ms": round(latencies[len(latencies) // 2] * 1000),
        "p99 ms": round(latencies[int(len(latencies) * 0.99)] * 1000),
        "load s": round(elapsed, 1),
        "drain s": round(drained, 1),
        "verify": verify.stdout.strip().splitlines()[-1:],
    }


def main(argv: list[str] | None = None) -> list[dict[str, object]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--requests", type=int, default=10, help="per client")
    args = parser.parse_args(argv)
    rows = [
        scenario("one hot account", args.clients, args.requests, accounts=1),
        scenario("many accounts", args.clients, args.requests, accounts=args.clients),
    ]
    columns = [c for c in rows[0] if c != "verify"]
    print(f"\n== load: {args.clients} concurrent clients x {args.requests} POST /v1/classify ==")
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for row in rows:
        print("| " + " | ".join(str(row[c]) for c in columns) + " |")
    ok = all(
        r["stored"] == r["answered"] and r["duplicates"] == r["missing"] == 0 for r in rows
    ) and all(r["chains"] == "verify" and r["journal=table"] == "agree" for r in rows)
    print("stored == answered, 0 duplicates, chains verify:", "yes" if ok else "NO")
    return rows


if __name__ == "__main__":
    main()
