"""The local write-ahead file: what the bus accepted is on file before the answer, and comes
back into the store after the emulator lost it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import Stack
from regiongate.aws import clients
from regiongate.aws.consumer import consumer
from regiongate.aws.journal import Journal
from regiongate.aws.store import AuditStore
from regiongate.local.wal import WriteAhead, replay

from tests.functions.test_audit_trail import classify_event, consume


@pytest.fixture
def write_ahead(tmp_path: Path) -> Iterator[WriteAhead]:
    wal = WriteAhead(tmp_path / "write-ahead.jsonl")
    clients.reset()
    wal.install()
    yield wal
    wal.uninstall()
    clients.reset()


def test_every_answered_decision_is_in_the_file_before_its_answer_and_replays_once(
    stack: Stack, write_ahead: WriteAhead, tmp_path: Path
) -> None:
    answered = []
    for ip in ("1.2.4.8", "8.8.8.8", "223.255.128.1"):
        response = stack.invoke("ClassifyFunction", classify_event(ip, "anthropic", "acct-w"))
        assert response["statusCode"] == 200
        answered.append(json.loads(response["body"])["decision_id"])
        # on file when the handler returned, i.e. before the answer left
        assert [r["decision_id"] for r in write_ahead.records()] == answered

    # The first is stored; then the emulator "loses" the queue with the other two in it.
    journal = Journal(tmp_path / "journal.jsonl")
    consumer().store.journal = journal
    sqs = clients.client("sqs")
    url = stack.queue_url("AuditQueue")
    first = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1)["Messages"][0]
    consumer().handle_message(first["Body"])
    sqs.purge_queue(QueueUrl=url)

    assert replay(write_ahead, journal, consumer()) == 2
    assert write_ahead.records() == []
    store = AuditStore(stack.template.names["AuditTable"])
    assert {store.get(i)["decision_id"] for i in answered} == set(answered)
    [chain] = journal.chains().values()
    assert [link["sequence"] for link in chain] == [1, 2, 3]
    consume(stack, "AuditQueue")  # nothing left, nothing stored twice
    assert sorted(r["decision_id"] for r in store.scan()) == sorted(answered)


def test_a_put_events_answer_without_its_entries_is_not_taken_for_acceptance(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An emulator killed mid-answer can leave HTTP 200 with a cut body (no ``Entries``):
    that is no acceptance, so the publisher tries again, then the fallback; nothing answers
    200 on it."""
    from regiongate.aws.publisher import Publisher, PublishError
    from regiongate.events import decision_recorded

    class CutShort:
        def put_events(self, **kwargs: object) -> dict[str, object]:
            return {"ResponseMetadata": {"HTTPStatusCode": 200}}

    monkeypatch.setattr("regiongate.aws.publisher.client", lambda service: CutShort())
    publisher = Publisher("bus", "", max_attempts=3, sleep=lambda s: None)
    with pytest.raises(PublishError):
        publisher.publish([decision_recorded({"decision_id": "x"})])
