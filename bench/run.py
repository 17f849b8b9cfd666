"""Every benchmark, in one run: ``make bench`` (10 to 15 minutes on 2 cores).

    decisions   regiongate vs raw maxminddb, cedarpy, regopy; batch rows/s   (engine.py)
    cold start  each function's first answer vs boto3 client creation        (coldstart.py)
    audit       put_events batched vs not; audit consumer records/s          (audit.py)
    load        regiongate serve, 200 clients, hot account and many; nothing lost  (load.py)

Pass ``--quick`` for smaller sizes (a smoke run of the benchmarks themselves).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import audit
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
        load.main(["--clients", "50", "--requests", "4"])
    else:
        engine.main([])
        coldstart.main([])
        audit.main([])
        load.main(["--clients", "200", "--requests", "10"])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
