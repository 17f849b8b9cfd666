"""The publisher's report says where each record went: the bus, after retries, or the fallback."""

from __future__ import annotations

from typing import Any

import pytest
from regiongate.aws import publisher as publisher_module
from regiongate.aws.publisher import Publisher, PublishError, PublishReport
from regiongate.events import decision_recorded


class FakeAws:
    """put_events answers from a script (one answer per call); the fallback queue accepts all."""

    def __init__(self, answers: list[list[str | None]]) -> None:
        self.answers = answers

    def __call__(self, service: str) -> FakeAws:
        return self

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803
        codes = self.answers.pop(0)
        results = [{"ErrorCode": c} if c else {"EventId": "e"} for c in codes[: len(Entries)]]
        return {"FailedEntryCount": sum(1 for c in codes if c), "Entries": results}

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803
        assert QueueUrl == "https://queue"
        return {"Successful": Entries}


def _publish(monkeypatch: pytest.MonkeyPatch, answers: list[list[str | None]]) -> PublishReport:
    monkeypatch.setattr(publisher_module, "client", FakeAws(answers))
    events = [decision_recorded({"decision_id": f"d{i}"}) for i in range(2)]
    publisher = Publisher("bus", "https://queue", sleep=lambda _: None)
    return publisher.publish(events)


@pytest.mark.parametrize(
    ("answers", "to_bus", "retries", "to_fallback"),
    [
        ([[None, None]], 2, 0, 0),
        ([["ThrottlingException", None], [None]], 2, 1, 0),
        ([["ValidationException", None]], 1, 0, 1),
    ],
    ids=["accepted", "throttled-then-accepted", "refused-to-fallback"],
)
def test_the_report_counts_where_records_went(
    monkeypatch: pytest.MonkeyPatch,
    answers: list[list[str | None]],
    to_bus: int,
    retries: int,
    to_fallback: int,
) -> None:
    report = _publish(monkeypatch, answers)
    assert (report.to_bus, report.retries, report.to_fallback) == (to_bus, retries, to_fallback)


def test_no_fallback_queue_means_the_record_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(publisher_module, "client", FakeAws([["ValidationException"]]))
    with pytest.raises(PublishError):
        Publisher("bus", "").publish([decision_recorded({"decision_id": "d"})])
