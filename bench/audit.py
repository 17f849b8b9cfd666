"""The audit stream's costs against a local moto server (loopback, separate process).

- publishing: the added cost per decision of ``put_events``, one event per call versus
  batches of ten (what a batching producer such as the CLI or a gateway flushing every few
  milliseconds pays);
- the audit consumer: records stored per second (chain link claim + pointer, per record).

Run: ``.venv/bin/python bench/audit.py [--decisions 1000]``
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decisions", type=int, default=1000)
    args = parser.parse_args(argv)

    from regiongate.local.emulator import Emulator

    emulator = Emulator()
    try:
        endpoint = emulator.start()
        os.environ.update(
            AWS_ENDPOINT_URL=endpoint,
            AWS_ACCESS_KEY_ID="b",
            AWS_SECRET_ACCESS_KEY="b",
            AWS_DEFAULT_REGION="us-east-1",
        )
        return _measure(args.decisions)
    finally:
        emulator.stop()


def _measure(count: int) -> dict[str, float]:
    from engine import public_ips
    from regiongate.audit import audit_record
    from regiongate.aws.clients import client
    from regiongate.aws.consumer import AuditConsumer
    from regiongate.aws.publisher import Publisher
    from regiongate.aws.store import AuditStore
    from regiongate.engine import get_engine
    from regiongate.events import decision_recorded
    from regiongate.local.provision import provision
    from regiongate.local.template import Template
    from regiongate.request import Request

    template = Template.load(ROOT / "template.yaml")
    template.document["Resources"].pop("DecisionArchive")  # moto's archive slows every put
    provision(template)
    engine = get_engine()
    events = [
        decision_recorded(
            audit_record(engine.decide(Request(ip, "openai", account_id=f"a{i % 20}")), b"k")
        )
        for i, ip in enumerate(public_ips(count, seed=5))
    ]
    publisher = Publisher(template.names["DecisionBus"], template.names["FallbackQueue"])
    sqs, queue = client("sqs"), template.names["AuditQueue"]

    def drain_queue() -> list[str]:
        bodies = []
        while True:
            batch = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
            if not batch:
                return bodies
            bodies += [m["Body"] for m in batch]
            sqs.delete_message_batch(
                QueueUrl=queue,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)
                ],
            )

    half = count // 2
    started = time.perf_counter()
    for event in events[:half]:
        publisher.publish([event])
    single = (time.perf_counter() - started) / half
    bodies = drain_queue()
    started = time.perf_counter()
    for start in range(half, count, 10):
        publisher.publish(events[start : start + 10])
    batched = (time.perf_counter() - started) / (count - half)
    bodies += drain_queue()

    consumer = AuditConsumer(AuditStore(template.names["AuditTable"]), publisher, 10**9, 3600)
    started = time.perf_counter()
    for body in bodies:
        consumer.handle_message(body)
    consumed = len(bodies) / (time.perf_counter() - started)
    stored = sum(1 for _ in consumer.store.scan())
    print(f"\n== audit stream against moto on loopback: {count:,} decisions ==")
    print(f"  put_events, one decision per call      {single * 1000:7.2f} ms per decision")
    print(
        f"  put_events, ten decisions per call     {batched * 1000:7.2f} ms per decision "
        f"({single / batched:.1f}x cheaper)"
    )
    print(
        f"  audit consumer                         {consumed:7.0f} records/s "
        f"({stored:,} stored of {len(bodies):,} delivered)"
    )
    print("  (moto's costs, not AWS's: in AWS put_events and DynamoDB writes take a few ms)")
    return {"single_ms": single * 1000, "batched_ms": batched * 1000, "consumer_rps": consumed}


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
