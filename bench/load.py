"""Load run against ``regiongate serve`` on loopback: bounded, then checked for losses.

Sends N POST /v1/classify requests (default 20,000) from C concurrent keep-alive clients
(default 32) to a fresh server on 127.0.0.1, prints requests/s, p50/p99 latency and errors,
then stops the server (draining its queues) and compares the decisions on record with the
number of 200 answers.

Run: ``.venv/bin/python bench/load.py [--requests 20000] [--concurrency 32]``
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from engine import PROVIDERS, public_ips
from serving import Server

failures: dict[str, int] = {}


def worker(
    url: str,
    jobs: list[tuple[str, str]],
    latencies: list[float],
    statuses: dict[int, int],
    ids: list[str],
    lock: threading.Lock,
) -> None:
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    local_lat, local_ids, local_status = [], [], {}
    for ip, provider in jobs:
        body = json.dumps({"provider": provider, "account": {"id": f"load-{ip[-1]}"}})
        started = time.perf_counter()
        try:
            connection.request(
                "POST",
                "/v1/classify",
                body,
                {"content-type": "application/json", "x-forwarded-for": ip},
            )
            response = connection.getresponse()
            payload = response.read()
            status = response.status
        except (OSError, http.client.HTTPException) as exc:
            connection.close()
            connection = http.client.HTTPConnection(host, int(port), timeout=30)
            status, payload = 0, b"{}"
            with lock:
                failures[type(exc).__name__] = failures.get(type(exc).__name__, 0) + 1
        local_lat.append(time.perf_counter() - started)
        local_status[status] = local_status.get(status, 0) + 1
        if status == 200:
            local_ids.append(json.loads(payload)["decision_id"])
    with lock:
        latencies += local_lat
        ids += local_ids
        for key, value in local_status.items():
            statuses[key] = statuses.get(key, 0) + value


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args(argv)
    rng = random.Random(9)
    jobs = [(ip, rng.choice(PROVIDERS)) for ip in public_ips(args.requests, seed=21)]
    with tempfile.TemporaryDirectory() as data:
        server = Server(Path(data) / "data")
        server.start()
        latencies: list[float] = []
        statuses: dict[int, int] = {}
        ids: list[str] = []
        lock = threading.Lock()
        shares = [jobs[i :: args.concurrency] for i in range(args.concurrency)]
        threads = [
            threading.Thread(
                target=worker, args=(server.url, share, latencies, statuses, ids, lock)
            )
            for share in shares
        ]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started
        drain_started = time.perf_counter()
        stopped = server.stop(timeout=1800)
        drain = time.perf_counter() - drain_started
        stored = int(stopped.split("stopped; ")[1].split()[0])
    latencies.sort()
    ok = statuses.get(200, 0)
    errors = sum(v for k, v in statuses.items() if k != 200)
    p50 = latencies[len(latencies) // 2] * 1000
    p99 = latencies[int(len(latencies) * 0.99)] * 1000
    print(
        f"\n== load: {args.requests:,} POST /v1/classify, {args.concurrency} concurrent, "
        "loopback =="
    )
    print(
        f"  {len(latencies) / elapsed:,.0f} requests/s   p50 {p50:.1f} ms   p99 {p99:.1f} ms   "
        f"errors {errors} (target 0)   statuses {statuses}"
    )
    if failures:
        print(f"  client-side failures: {failures}")
    print(f"  stop (draining the audit queues) took {drain:.1f} s")
    print(
        f"  decisions on record after stop: {stored:,}; 200 answers: {ok:,} "
        f"({'equal' if stored == ok == len(set(ids)) else 'MISMATCH'})"
    )
    return {"rps": len(latencies) / elapsed, "errors": errors, "stored": stored, "ok": ok}


if __name__ == "__main__":
    main()
