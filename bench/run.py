"""Every benchmark, in one run: ``make bench`` (10 to 15 minutes on 2 cores).

    decisions   regiongate vs raw maxminddb, cedarpy, regopy; batch rows/s   (engine.py)
    cold start  each function's first answer vs boto3 client creation        (coldstart.py)
    audit       put_events batched vs not; audit consumer records/s          (audit.py)
    load        regiongate serve at 1, 16, 64 clients and 200 on one hot account;
                req/s, p50, p99, stored vs answered, chains verify                (load.py)
    batch files columnar vs row-by-row, 1M mixed rows on one core   (batch_columnar.py)

Pass ``--quick`` for smaller sizes (a smoke run of the benchmarks themselves).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import audit
import batch_columnar
import coldstart
import engine
import load


def main(argv: list[str]) -> int:
    quick = "--quick" in argv
    if quick:
        engine.main(
            ["--ips", "20000", "--engine-ips", "2000", "--rows", "50000", "--warm", "100000"]
        )
        coldstart.main(["--runs", "2"])
        audit.main(["--decisions", "200"])
        load.main(["--clients", "1,16", "--total", "64", "--hot", "16"])
        batch_columnar.main(["--rows", "20000", "--rounds", "1"])
    else:
        engine.main([])
        coldstart.main([])
        audit.main([])
        load.main(["--clients", "1,16,64", "--total", "640", "--hot", "200"])
        batch_columnar.main([])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
