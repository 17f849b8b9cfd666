"""Load runs against ``regiongate serve`` on loopback, with the audit trail on, checked for losses.

Each row is a fresh server and C concurrent keep-alive clients sending ``POST /v1/classify``
(``--total`` requests shared among them, or ``--requests`` each), every client on an account of
its own; ``--hot`` adds a row with every client on one account (one chain that every writer
contends for). After the load stops, the audit queues drain: ``drain s`` is how long until
stored == answered (the goal is within 10 s). Then ``regiongate audit verify`` checks every
chain in the journal and in the emulator's table and that they agree link for link, and the
export is compared with the 200 answers: stored == answered, 0 duplicates, 0 missing. At one
client the table also gives ``GET /v1/geo/{ip}`` latency.

Run: ``python bench/load.py [--clients 1,16,64] [--total 640] [--hot 200]`` (the machine is
shared: keep it short; figures are for this machine and its load).
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from serving import Load, Server

GEO_REQUESTS = 200


def geo_p50_ms(server: Server) -> float:
    """Median latency of ``GET /v1/geo/{ip}`` on one kept-alive connection."""
    host, port = server.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=60)
    latencies = []
    for i in range(GEO_REQUESTS):
        started = time.perf_counter()
        connection.request("GET", f"/v1/geo/81.2.69.{i % 250 + 1}")
        response = connection.getresponse()
        body = response.read()
        latencies.append(time.perf_counter() - started)
        assert response.status == 200, (response.status, body[:300])
    connection.close()
    return round(statistics.median(latencies) * 1000, 1)


def scenario(name: str, clients: int, requests: int, accounts: int) -> dict[str, object]:
    geo: object = "-"
    with tempfile.TemporaryDirectory() as data:
        server = Server(Path(data) / "data")
        server.start()
        try:
            if clients == 1:
                geo = geo_p50_ms(server)
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
        "geo p50 ms": geo,
        "verify": verify.stdout.strip().splitlines()[-1:],
    }


def main(argv: list[str] | None = None) -> list[dict[str, object]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", default="1,16,64", help="comma-separated client counts")
    parser.add_argument("--total", type=int, default=640, help="requests per row, shared")
    parser.add_argument("--requests", type=int, default=0, help="per client (overrides --total)")
    parser.add_argument("--hot", type=int, default=0, help="also N clients on one account")
    args = parser.parse_args(argv)
    rows = []
    for clients in [int(c) for c in args.clients.split(",") if c]:
        requests = args.requests or max(1, args.total // clients)
        rows.append(scenario(f"{clients} clients", clients, requests, accounts=clients))
    if args.hot:
        requests = args.requests or max(1, args.total // args.hot)
        rows.append(scenario("one hot account", args.hot, requests, accounts=1))
    columns = [c for c in rows[0] if c != "verify"]
    print("\n== load: regiongate serve, POST /v1/classify, audit trail on ==")
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
