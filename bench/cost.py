"""What one decision costs in AWS, from the calls the real code makes (botocore events under
moto), priced with ``bench/prices.json`` (list prices, with their date), kept 400 days.

Runs N classify decisions, N authorizer decisions and the audit function over the queue they
fill (in batches, as Lambda's event source mapping would), counting every AWS call, its
bytes, DynamoDB write/read units (from item sizes, by DynamoDB's sizing rules, including
each GSI the item is projected into) and the bytes kept. Then prints $ per million decisions
for today's design (measured) next to the redesign the README describes (modelled from its
per-decision call plan: it is not implemented yet, so that column is arithmetic, not a
measurement).

Lambda duration is an assumption (billed ms per invocation below), as are log bytes per
invocation beyond what the handlers print, and X-Ray's default sampling (5%).

Run: ``python bench/cost.py [--decisions 200]``
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PRICES = json.loads((Path(__file__).with_name("prices.json")).read_text())
RETENTION_MONTHS = 400 / 30.4375
BILLED_MS = {"ClassifyFunction": 10, "AuthorizeFunction": 10, "AuditFunction": 40}
PLATFORM_LOG_BYTES = 350  # START, END and REPORT lines per invocation
XRAY_SAMPLED = 0.05
AUDIT_BATCH = 10


def _value_size(value: dict[str, Any]) -> int:
    """DynamoDB's size of a typed attribute value."""
    kind, inner = next(iter(value.items()))
    if kind == "S":
        return len(inner.encode())
    if kind == "N":
        return (len(inner.strip("-").replace(".", "")) + 1) // 2 + 1
    if kind == "B":
        return len(inner)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "M":
        return 3 + sum(len(k.encode()) + _value_size(v) + 1 for k, v in inner.items())
    if kind == "L":
        return 3 + sum(_value_size(v) + 1 for v in inner)
    return sum(len(str(v).encode()) for v in inner)  # sets


def item_size(item: dict[str, Any]) -> int:
    return sum(len(k.encode()) + _value_size(v) for k, v in item.items())


class Meter:
    """Counts calls, bytes, DynamoDB units and bytes kept, per phase."""

    def __init__(self, indexes: list[dict[str, Any]], key_names: list[str]) -> None:
        self.indexes, self.key_names = indexes, key_names
        self.phase = ""
        self.calls: Counter[tuple[str, str, str]] = Counter()
        self.bytes: Counter[str] = Counter()
        self.wru: Counter[str] = Counter()
        self.rru: Counter[str] = Counter()
        self.kept: Counter[str] = Counter()  # bytes stored for the retention period
        self.entries: Counter[str] = Counter()  # PutEvents entries, SQS messages

    def install(self) -> None:
        from regiongate.aws import clients

        clients.register("before-parameter-build", self._params, "cost-params")
        clients.register("before-call", self._request, "cost-request")
        clients.register("after-call", self._response, "cost-response")

    def _params(self, **kw: Any) -> None:
        model, params = kw["model"], kw["params"]
        service = model.service_model.endpoint_prefix
        self.calls[(self.phase, service, model.name)] += 1
        if service == "dynamodb" and model.name == "PutItem":
            self._put(params["Item"])
        elif service == "dynamodb" and model.name == "UpdateItem":
            self.wru[self.phase] += 1  # counters and flags: items well under 1 KB
        elif service == "events" and model.name == "PutEvents":
            self.entries[self.phase + " events"] += len(params["Entries"])
            self.bytes[self.phase + " archive"] += sum(
                len(e.get("Detail", "")) + 300 for e in params["Entries"]
            )
        elif service == "sqs" and model.name == "SendMessageBatch":
            self.entries[self.phase + " sqs"] += len(params["Entries"])

    def _put(self, item: dict[str, Any]) -> None:
        size = item_size(item)
        self.wru[self.phase] += math.ceil(size / 1024)
        kept = size + 100
        for index in self.indexes:
            hash_key = index["KeySchema"][0]["AttributeName"]
            if hash_key not in item:
                continue
            names = {k["AttributeName"] for k in index["KeySchema"]} | set(self.key_names)
            names |= set(index["Projection"].get("NonKeyAttributes", []))
            projected = item_size({k: v for k, v in item.items() if k in names})
            self.wru[self.phase] += math.ceil(projected / 1024)
            kept += projected + 100
        if not str(item.get("pk", {}).get("S", "")).startswith("flag#"):
            self.kept[self.phase] += kept

    def _request(self, **kw: Any) -> None:
        body = kw["params"].get("body") or b""
        self.bytes[self.phase + " sent"] += len(body)

    def _response(self, **kw: Any) -> None:
        model, parsed = kw["model"], kw["parsed"]
        self.bytes[self.phase + " received"] += len(getattr(kw["http_response"], "content", b""))
        if model.service_model.endpoint_prefix != "dynamodb":
            return
        items = [parsed["Item"]] if "Item" in parsed else parsed.get("Items", [])
        if model.name in ("GetItem", "Query"):
            size = sum(item_size(i) for i in items)
            self.rru[self.phase] += max(1, math.ceil(size / 4096))


def _event(name: str, ip: str, account: str) -> dict[str, Any]:
    event = json.loads((ROOT / "events" / f"{name}.json").read_text())
    event["requestContext"]["http"]["sourceIp"] = ip
    event["headers"]["x-forwarded-for"] = ip
    if name.startswith("classify"):
        body = json.dumps({"provider": "anthropic", "account": {"id": account}})
        event["body"] = body
        event["headers"]["content-length"] = str(len(body))
    else:
        event["headers"]["x-regiongate-account-id"] = account
    return event


def measure(decisions: int) -> dict[str, Any]:
    from moto import mock_aws
    from regiongate.aws import clients
    from regiongate.caches import reset_process_caches
    from regiongate.local.emulator import make_dynamodb_atomic
    from regiongate.local.provision import provision
    from regiongate.local.runtime import LambdaContext, handler, local_overrides
    from regiongate.local.template import Template

    ips = ["1.2.4.8", "8.8.8.8", "223.255.128.1", "81.2.69.1", "2001:da8::1"]
    for key in [k for k in os.environ if k.startswith("AWS_")]:
        os.environ.pop(key)  # moto only: never a real account
    os.environ.update(
        AWS_DEFAULT_REGION="us-east-1", AWS_ACCESS_KEY_ID="cost", AWS_SECRET_ACCESS_KEY="cost"
    )
    make_dynamodb_atomic()
    with mock_aws(), tempfile.TemporaryDirectory() as data:
        clients.reset()
        template = Template.load(ROOT / "template.yaml")
        provision(template)
        table = template.resources["AuditTable"]["Properties"]
        meter = Meter(
            table.get("GlobalSecondaryIndexes", []),
            [k["AttributeName"] for k in table["KeySchema"]],
        )
        meter.install()
        logs: Counter[str] = Counter()
        invocations: Counter[str] = Counter()

        def invoke(function: str, event: dict[str, Any]) -> Any:
            env = template.environment(function)
            overrides = local_overrides(Path(data))
            for key in ("POWERTOOLS_LOG_LEVEL", "POWERTOOLS_METRICS_DISABLED"):
                overrides.pop(key, None)  # log and emit metrics as deployed
            os.environ.update({**env, **overrides, "POWERTOOLS_LOG_LEVEL": "INFO"})
            reset_process_caches()
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                answer = handler(template, function)(event, LambdaContext(function))
            logs[function] += len(out.getvalue().encode()) + PLATFORM_LOG_BYTES
            invocations[function] += 1
            return answer

        for phase, function, name in (
            ("classify", "ClassifyFunction", "classify-us-anthropic"),
            ("authorize", "AuthorizeFunction", "authorize-us-anthropic"),
        ):
            meter.phase = phase
            for i in range(decisions):
                invoke(function, _event(name, ips[i % len(ips)], f"acct-{i % 7}"))
        meter.phase = "audit"
        sqs = clients.client("sqs")
        for queue in ("AuditQueue", "FallbackQueue"):
            url = template.names[queue]
            while True:
                messages = sqs.receive_message(
                    QueueUrl=url, MaxNumberOfMessages=AUDIT_BATCH, VisibilityTimeout=0
                ).get("Messages", [])
                if not messages:
                    break
                records = [
                    {
                        "messageId": m["MessageId"],
                        "receiptHandle": m["ReceiptHandle"],
                        "body": m["Body"],
                        "attributes": {"ApproximateReceiveCount": "1"},
                        "messageAttributes": {},
                        "md5OfBody": m["MD5OfBody"],
                        "eventSource": "aws:sqs",
                        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:q",
                        "awsRegion": "us-east-1",
                    }
                    for m in messages
                ]
                invoke("AuditFunction", {"Records": records})
                sqs.delete_message_batch(
                    QueueUrl=url,
                    Entries=[
                        {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                        for i, m in enumerate(messages)
                    ],
                )
        for unique_id in ("cost-params", "cost-request", "cost-response"):
            clients.unregister(unique_id)
    return {"meter": meter, "logs": logs, "invocations": invocations, "n": 2 * decisions}


def price_today(result: dict[str, Any]) -> dict[str, float]:
    """$ per million decisions, by item, for today's design (measured)."""
    p, m, n = PRICES, result["meter"], result["n"]
    per = 1_000_000 / n
    memory_gb = 256 / 1024
    lambda_requests = sum(result["invocations"].values())
    lambda_gbs = sum(
        count * BILLED_MS[f] / 1000 * memory_gb for f, count in result["invocations"].items()
    )
    events = sum(v for k, v in m.entries.items() if k.endswith(" events"))
    sqs_requests = (
        events  # EventBridge delivers each event to the audit queue: one SendMessage
        + sum(v for (_, s, _), v in m.calls.items() if s == "sqs")
    )
    archive_gb = sum(v for k, v in m.bytes.items() if k.endswith(" archive")) / 1e9
    kept_gb = sum(m.kept.values()) / 1e9
    log_gb = sum(result["logs"].values()) / 1e9
    return {
        "API Gateway": n * p["api_gateway_http_per_million"] / 1e6 * per,
        "Lambda": (
            lambda_requests * p["lambda_requests_per_million"] / 1e6
            + lambda_gbs * p["lambda_arm64_per_gb_second"]
        )
        * per,
        "EventBridge (+archive)": (
            events * p["eventbridge_custom_events_per_million_64kb"] / 1e6
            + archive_gb
            * (
                p["eventbridge_archive_per_gb_processed"]
                + p["eventbridge_archive_per_gb_month"] * RETENTION_MONTHS
            )
        )
        * per,
        "SQS": sqs_requests * p["sqs_standard_requests_per_million_64kb"] / 1e6 * per,
        "DynamoDB writes": sum(m.wru.values())
        * p["dynamodb_on_demand_write_units_per_million"]
        / 1e6
        * per,
        "DynamoDB reads": sum(m.rru.values())
        * p["dynamodb_on_demand_read_units_per_million"]
        / 1e6
        * per,
        "storage 400 days": kept_gb
        * RETENTION_MONTHS
        * (p["dynamodb_storage_per_gb_month"] + p["dynamodb_pitr_per_gb_month"])
        * per,
        "queries": 0.0,
        "logs": log_gb
        * (p["cloudwatch_logs_ingest_per_gb"] + p["cloudwatch_logs_storage_per_gb_month"])
        * per,
        "X-Ray (5%)": (n + result["invocations"]["AuditFunction"])
        * XRAY_SAMPLED
        * p["xray_traces_per_million"]
        / 1e6
        * per,
    }


def price_redesign(today: dict[str, float], record_bytes: float) -> dict[str, float]:
    """The README's redesign, per decision: the same front (API Gateway, Lambda, bus, queue),
    the audit function writing one compact hot item (<= 1 KB: 1 write unit, no GSI, 7-day
    TTL) and sending records to Firehose packed into 5 KB records, Parquet on S3 (Object
    Lock) kept 400 days, a per-block chain head per batch, Athena queries."""
    p = PRICES
    parquet_bytes = record_bytes / 6  # columnar + compression, measured ratios vary 4-10x
    hot_bytes = 250 + 100
    firehose_gb = record_bytes / 1e9  # records packed several to a 5 KB Firehose record
    return {
        "API Gateway": today["API Gateway"],
        "Lambda": today["Lambda"],
        "EventBridge (+archive)": p["eventbridge_custom_events_per_million_64kb"],  # no archive
        "SQS": today["SQS"],
        "DynamoDB writes": (1 + 1 / 25) * p["dynamodb_on_demand_write_units_per_million"],
        "DynamoDB reads": 0.0,
        "storage 400 days": (
            hot_bytes / 1e9 * (7 / 30.4375) * p["dynamodb_storage_per_gb_month"]
            + parquet_bytes / 1e9 * RETENTION_MONTHS * p["s3_standard_per_gb_month"]
        )
        * 1e6
        + firehose_gb
        * (p["firehose_ingest_per_gb_5kb_records"] + p["firehose_parquet_conversion_per_gb"])
        * 1e6
        + 1e6 / 100_000 * p["s3_put_per_thousand"] / 1000,
        "queries": 10 * parquet_bytes / 1e12 * p["athena_per_tb_scanned"] * 1e6,
        "logs": today["logs"],
        "X-Ray (5%)": today["X-Ray (5%)"],
    }


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decisions", type=int, default=200, help="per entry point")
    args = parser.parse_args(argv)
    result = measure(args.decisions)
    meter = result["meter"]
    today = price_today(result)
    record_bytes = sum(v for k, v in meter.bytes.items() if k.endswith(" archive")) / result["n"]
    redesign = price_redesign(today, record_bytes)
    n = result["n"]
    print(f"\n== cost: {n} decisions ({args.decisions} classify + {args.decisions} authorize) ==")
    print(f"  prices {PRICES['region']} as of {PRICES['as_of']} (bench/prices.json); 400 days")
    print("  AWS calls per decision (measured, today's design):")
    for (phase, service, operation), count in sorted(meter.calls.items()):
        per_decision = count / (n if phase == "audit" else n / 2)
        print(f"    {phase:<10}{service:<10}{operation:<22}{per_decision:8.3f}")
    print(
        f"  DynamoDB units per decision: {sum(meter.wru.values()) / n:.2f} write, "
        f"{sum(meter.rru.values()) / n:.2f} read; kept {sum(meter.kept.values()) / n:,.0f} "
        f"bytes (table + GSIs); record on the bus {record_bytes:,.0f} bytes"
    )
    print("\n| $ per million decisions | today (measured) | redesign (modelled) |")
    print("|---|---:|---:|")
    for item in today:
        print(f"| {item} | {today[item]:.2f} | {redesign[item]:.2f} |")
    goal = [k for k in today if k not in ("logs", "X-Ray (5%)")]
    print(
        f"| **total, goal scope** | **{sum(today[k] for k in goal):.2f}** | "
        f"**{sum(redesign[k] for k in goal):.2f}** |"
    )
    print(
        f"| total with logs and X-Ray | {sum(today.values()):.2f} | {sum(redesign.values()):.2f} |"
    )
    print("  goal: <= $4.00 per million, all-in (API Gateway, Lambda, EventBridge, SQS, storage,")
    print("  queries). Lambda duration assumed (billed ms " + json.dumps(BILLED_MS) + ").")
    return {"today": sum(today[k] for k in goal), "redesign": sum(redesign[k] for k in goal)}


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "layers" / "regiongate"))
    main()
