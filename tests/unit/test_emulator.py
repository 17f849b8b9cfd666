"""The local emulator's speed patches change no answer: each patched function gives what the
original gives, and EventBridge delivers the same message through the patched parser."""

from __future__ import annotations

import json
import logging

import boto3
import jsonpath_ng.ext
import pytest
from moto import backends, mock_aws
from moto.sqs.models import SQSBackend, sqs_backends
from regiongate.local import emulator


@pytest.fixture
def patched(monkeypatch: pytest.MonkeyPatch) -> None:
    """speed_up() for one test; the originals come back afterwards."""
    monkeypatch.setattr(jsonpath_ng.ext, "parse", jsonpath_ng.ext.parse)
    monkeypatch.setattr(backends, "list_of_moto_modules", backends.list_of_moto_modules)
    werkzeug = logging.getLogger("werkzeug")
    monkeypatch.setattr(werkzeug, "level", werkzeug.level)
    _restore_sqs_afterwards(monkeypatch)
    emulator.speed_up()
    emulator.speed_up()  # idempotent


def _restore_sqs_afterwards(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("get_queue_attributes", "is_message_valid_based_on_retention_period"):
        monkeypatch.setattr(SQSBackend, name, getattr(SQSBackend, name))
    monkeypatch.setattr(SQSBackend, "_regiongate_fast", False, raising=False)


EVENT = {"id": "1", "detail-type": "DecisionRecorded", "source": "regiongate", "detail": {"a": 1}}


@pytest.mark.usefixtures("patched")
def test_patched_parser_finds_what_the_original_finds() -> None:
    original = jsonpath_ng.ext.parse.__wrapped__  # type: ignore[attr-defined]
    for text in ("$.detail", "$.source", "$.detail.a", "$.missing", "$.detail-type"):
        first = jsonpath_ng.ext.parse(text)
        assert jsonpath_ng.ext.parse(text) is first
        got = [m.value for m in first.find(EVENT)]
        assert got == [m.value for m in original(text).find(EVENT)]


def test_patched_module_list_is_the_original_list(monkeypatch: pytest.MonkeyPatch) -> None:
    original = list(backends.list_of_moto_modules())
    monkeypatch.setattr(backends, "list_of_moto_modules", backends.list_of_moto_modules)
    _restore_sqs_afterwards(monkeypatch)
    monkeypatch.setattr(logging.getLogger("werkzeug"), "level", logging.NOTSET)
    emulator.speed_up()
    assert "events" in original
    assert list(backends.list_of_moto_modules()) == original
    assert logging.getLogger("werkzeug").level == logging.ERROR


def _delivered() -> dict[str, object]:
    with mock_aws():
        events = boto3.client("events", region_name="us-east-1")
        sqs = boto3.client("sqs", region_name="us-east-1")
        url = sqs.create_queue(QueueName="q")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
        events.put_rule(Name="r", EventPattern=json.dumps({"source": ["regiongate"]}))
        events.put_targets(Rule="r", Targets=[{"Id": "t", "Arn": arn["QueueArn"]}])
        for _ in range(2):
            events.put_events(
                Entries=[{"Source": "regiongate", "DetailType": "D", "Detail": '{"a": 1}'}]
            )
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
        body: dict[str, object] = json.loads(messages[-1]["Body"])
    for volatile in ("id", "time"):
        body.pop(volatile)
    return body


def test_eventbridge_delivers_the_same_message_when_patched(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    before = _delivered()
    monkeypatch.setattr(jsonpath_ng.ext, "parse", jsonpath_ng.ext.parse)
    _restore_sqs_afterwards(monkeypatch)
    emulator.speed_up()
    assert _delivered() == before
    assert before["detail"] == {"a": 1}


ATTRIBUTE_ASKS = [
    ["All"],
    ["MessageRetentionPeriod"],
    ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    ["QueueArn", "RedrivePolicy", "ApproximateNumberOfMessagesDelayed"],
    ["KmsMasterKeyId"],  # valid, and absent on this queue
    [],
]


def _sqs_answers() -> tuple[list[object], list[bool]]:
    """Attributes and retention checks of a queue holding visible, in-flight, delayed and
    expired messages, through moto's backend (whatever methods it has now)."""
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        dlq = sqs.create_queue(QueueName="dlq")["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])
        redrive = {"deadLetterTargetArn": dlq_arn["Attributes"]["QueueArn"], "maxReceiveCount": 3}
        url = sqs.create_queue(
            QueueName="q",
            Attributes={"RedrivePolicy": json.dumps(redrive), "MessageRetentionPeriod": "60"},
        )["QueueUrl"]
        for i in range(12):
            sqs.send_message(QueueUrl=url, MessageBody=str(i), DelaySeconds=30 if i < 2 else 0)
        sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=4, VisibilityTimeout=30)
        backend = sqs_backends["123456789012"]["us-east-1"]
        answers: list[object] = []
        for names in ATTRIBUTE_ASKS:
            answers.append(backend.get_queue_attributes("q", names))
        try:
            backend.get_queue_attributes("q", ["NoSuchAttribute"])
        except Exception as error:  # the error type is the answer
            answers.append(type(error).__name__)
        messages = list(backend.get_queue("q")._messages)
        messages[0].sent_timestamp -= 61_000  # older than the 60 s retention
        kept = [backend.is_message_valid_based_on_retention_period("q", m) for m in messages]
    return answers, kept


def test_patched_sqs_attributes_and_retention_answer_as_moto_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    before = _sqs_answers()
    _restore_sqs_afterwards(monkeypatch)
    emulator.speed_up()
    assert SQSBackend.get_queue_attributes.__module__ == emulator.__name__
    after = _sqs_answers()
    for volatile in ("CreatedTimestamp", "LastModifiedTimestamp"):
        for answer in (*before[0], *after[0]):
            if isinstance(answer, dict):
                answer.pop(volatile, None)
    assert after == before
    assert before[1][0] is False and all(before[1][1:])
    assert before[0][-1] == "InvalidAttributeName"
