"""The local emulator's speed patches change no answer: each patched function gives what the
original gives, and EventBridge delivers the same message through the patched parser."""

from __future__ import annotations

import json
import logging

import boto3
import jsonpath_ng.ext
import pytest
from moto import backends, mock_aws
from regiongate.local import emulator


@pytest.fixture
def patched(monkeypatch: pytest.MonkeyPatch) -> None:
    """speed_up() for one test; the originals come back afterwards."""
    monkeypatch.setattr(jsonpath_ng.ext, "parse", jsonpath_ng.ext.parse)
    monkeypatch.setattr(backends, "list_of_moto_modules", backends.list_of_moto_modules)
    werkzeug = logging.getLogger("werkzeug")
    monkeypatch.setattr(werkzeug, "level", werkzeug.level)
    emulator.speed_up()
    emulator.speed_up()  # idempotent


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
    emulator.speed_up()
    assert _delivered() == before
    assert before["detail"] == {"a": 1}
