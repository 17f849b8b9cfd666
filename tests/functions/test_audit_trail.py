"""The audit stream end to end on moto, with faults injected at every hop."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from botocore.exceptions import ClientError
from helpers import Stack, load_event
from regiongate.aws import clients
from regiongate.aws.store import AuditStore
from regiongate.cli import main
from regiongate.local.events import sqs_event

CN, US = "1.2.4.8", "8.8.8.8"


class FaultyClient:
    """Wraps a boto3 client; ``faults[operation]`` decides, per call, what goes wrong."""

    def __init__(self, real: Any, faults: dict[str, Any]) -> None:
        self._real, self._faults = real, faults

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._real, name)
        fault = self._faults.get(name)
        if fault is None:
            return method
        return lambda **kwargs: fault(method, **kwargs)


def _error(code: str, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "injected"}}, operation)


def classify_event(ip: str, provider: str, account: str) -> dict[str, Any]:
    event = load_event("classify-us-anthropic")
    body = json.dumps({"provider": provider, "account": {"id": account}})
    event["body"] = body
    event["headers"]["content-length"] = str(len(body))
    event["requestContext"]["http"]["sourceIp"] = ip
    event["headers"]["x-forwarded-for"] = ip
    return event


def consume(stack: Stack, queue: str, *, duplicate_every: int = 0) -> int:
    """Deliver a queue to the audit function as Lambda would, until it is empty; failed
    messages become visible again at once (so they reach the DLQ after maxReceiveCount)."""
    sqs = clients.client("sqs")
    url = stack.queue_url(queue)
    rounds = 0
    while rounds < 10_000:
        rounds += 1
        messages = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0
        ).get("Messages", [])
        if not messages:
            return rounds
        records = sqs_event(messages, "arn:aws:sqs:us-east-1:123456789012:q")["Records"]
        if duplicate_every:  # the same message delivered twice in one batch
            records += [
                dict(r, messageId=r["messageId"] + "-again") for r in records[::duplicate_every]
            ]
        result = stack.invoke("AuditFunction", {"Records": records})
        failed = {f["itemIdentifier"] for f in result["batchItemFailures"]}
        done = [m for m in messages if m["MessageId"] not in failed]
        if done:
            sqs.delete_message_batch(
                QueueUrl=url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)
                ],
            )
    raise AssertionError("queue never emptied")


@pytest.mark.slow  # ~45 s; CI runs it with the other slow tests
def test_a_burst_with_faults_stores_every_decision_exactly_once(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(4)
    calls = {"put_events": 0, "put_item": 0}

    def flaky_put_events(method: Any, **kwargs: Any) -> Any:
        calls["put_events"] += 1
        n = calls["put_events"]
        if n % 37 == 0:
            raise _error("ThrottlingException", "PutEvents")
        if n % 23 == 0:  # partial failure: the bus says it refused the entry
            return {
                "FailedEntryCount": len(kwargs["Entries"]),
                "Entries": [
                    {"ErrorCode": "ThrottlingException", "ErrorMessage": "injected"}
                    for _ in kwargs["Entries"]
                ],
            }
        if n % 101 == 0:  # malformed per the bus: goes straight to the fallback queue
            return {
                "FailedEntryCount": 1,
                "Entries": [{"ErrorCode": "MalformedDetail", "ErrorMessage": "injected"}],
            }
        return method(**kwargs)

    def conflicting_put_item(method: Any, **kwargs: Any) -> Any:
        calls["put_item"] += 1
        if calls["put_item"] % 50 == 0 and kwargs["Item"]["sk"]["S"].startswith("seq#"):
            raise _error("ConditionalCheckFailedException", "PutItem")  # another writer won
        return method(**kwargs)

    real_client = clients.client

    def faulty(service: str) -> Any:
        faults = {
            "events": {"put_events": flaky_put_events},
            "dynamodb": {"put_item": conflicting_put_item},
        }.get(service, {})
        return FaultyClient(real_client(service), faults)

    monkeypatch.setattr("regiongate.aws.publisher.client", faulty)
    monkeypatch.setattr("regiongate.aws.store.client", faulty)
    monkeypatch.setattr("regiongate.aws.publisher.random.uniform", lambda a, b: 0.0)

    answered = []
    for i in range(1000):
        ip = rng.choice([CN, US, "223.255.128.1", "81.2.69.1", "2001:da8::1"])
        account = f"acct-{i % 7}"
        response = stack.invoke(
            "ClassifyFunction", classify_event(ip, rng.choice(["openai", "anthropic"]), account)
        )
        assert response["statusCode"] == 200, response["body"]
        answered.append(json.loads(response["body"])["decision_id"])
        if i % 100 == 99:  # the consumer runs alongside, as Lambda's would
            consume(stack, "AuditQueue", duplicate_every=4)
    assert calls["put_events"] > 1000  # retries happened

    sqs = clients.client("sqs")
    store = AuditStore(stack.template.names["AuditTable"])
    # A record delivered again long after it was stored must not be stored twice.
    old = {
        k: v for k, v in next(store.scan()).items() if k not in ("prev_hash", "hash", "sequence")
    }
    again = {
        "version": "0",
        "id": "x",
        "detail-type": "DecisionRecorded",
        "source": "regiongate.decisions",
        "detail": {"schema_version": 1, "record": old},
    }
    sqs.send_message(QueueUrl=stack.queue_url("AuditQueue"), MessageBody=json.dumps(again))
    sqs.send_message(QueueUrl=stack.queue_url("AuditQueue"), MessageBody='{"not": "an event"}')

    consume(stack, "AuditQueue", duplicate_every=4)
    consume(stack, "FallbackQueue")

    stored = list(store.scan())
    ids = [r["decision_id"] for r in stored]
    assert len(ids) == len(set(ids)) == 1000
    assert set(ids) == set(answered)
    dead = stack.drain("AuditDeadLetterQueue")
    assert [json.loads(m["Body"]) for m in dead] == [{"not": "an event"}]
    for partition in store.partitions():
        from regiongate.audit import verify_chain

        assert verify_chain(partition, list(store.chain(partition))) is None


def test_verify_names_exactly_the_link_that_was_changed(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    for i in range(6):
        response = stack.invoke(
            "ClassifyFunction", classify_event(CN if i % 2 else US, "openai", "acct-v")
        )
        assert response["statusCode"] == 200
    consume(stack, "AuditQueue")
    table = stack.template.names["AuditTable"]
    assert main(["audit", "verify", "--table", table]) == 0
    assert "ok: 1 chains, 6 links checked, 0 broken" in capsys.readouterr().out

    store = AuditStore(table)
    [partition] = store.partitions()
    links = list(store.chain(partition))
    victim = links[3]
    dynamodb = clients.client("dynamodb")
    key = {"pk": {"S": f"chain#{partition}"}, "sk": {"S": f"seq#{victim['sequence']:010d}"}}
    item = dynamodb.get_item(TableName=table, Key=key)["Item"]
    record = json.loads(item["record"]["S"])
    record["outcome"] = "allow"  # someone edits the record in place
    item["record"] = {"S": json.dumps(record)}
    dynamodb.put_item(TableName=table, Item=item)

    assert main(["audit", "verify", "--table", table]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0] == (
        f"BROKEN {partition} link 4 (decision {victim['decision_id']}): "
        "content does not match its hash (the record was altered)"
    )
    assert out[-1] == "FAIL: 1 chains, 6 links checked, 1 broken"

    exported = stack.data_dir / "export.jsonl"
    assert main(["audit", "export", "--table", table, "--output", str(exported)]) == 0
    assert len(exported.read_text().splitlines()) == 6


def test_repeated_denials_raise_account_flagged_once(stack: Stack) -> None:
    events = clients.client("events")
    bus = stack.template.names["DecisionBus"]
    events.put_rule(
        Name="flags", EventBusName=bus, EventPattern=json.dumps({"detail-type": ["AccountFlagged"]})
    )
    url = clients.client("sqs").create_queue(QueueName="flags")["QueueUrl"]
    events.put_targets(
        Rule="flags",
        EventBusName=bus,
        Targets=[{"Id": "q", "Arn": "arn:aws:sqs:us-east-1:123456789012:flags"}],
    )
    for _ in range(7):
        stack.invoke("ClassifyFunction", classify_event(CN, "anthropic", "acct-flag"))
    consume(stack, "AuditQueue")
    messages = clients.client("sqs").receive_message(QueueUrl=url, MaxNumberOfMessages=10)
    flagged = [json.loads(m["Body"]) for m in messages.get("Messages", [])]
    assert len(flagged) == 1
    detail = flagged[0]["detail"]
    assert (flagged[0]["source"], detail["account_id"], detail["denials"]) == (
        "regiongate.audit",
        "acct-flag",
        5,
    )
