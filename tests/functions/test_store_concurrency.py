"""The audit store under concurrent writers, on moto made as strict as DynamoDB.

DynamoDB's conditional writes are atomic per item; moto's are not unless
``make_dynamodb_atomic`` is applied (the ``stack`` fixture and ``regiongate serve``'s
emulator apply it). A pause inside moto's condition check widens the window a race needs,
so these tests fail at once without the lock.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from helpers import Stack
from regiongate.audit import audit_record, verify_chain
from regiongate.aws import clients
from regiongate.aws.journal import Journal
from regiongate.aws.store import AuditStore
from regiongate.engine import Engine
from regiongate.request import Request


@pytest.fixture
def slow_conditions(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pause between moto reading the current item and writing the new one."""
    from moto.dynamodb.models import table

    real = table.get_filter_expression

    def paused(*args: Any, **kwargs: Any) -> Any:
        time.sleep(0.002)
        return real(*args, **kwargs)

    monkeypatch.setattr(table, "get_filter_expression", paused)


def _run(threads: int, work: Any) -> None:
    errors: list[BaseException] = []

    def guarded(index: int) -> None:
        try:
            work(index)
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    pool = [threading.Thread(target=guarded, args=(i,)) for i in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    assert not errors, errors


@pytest.mark.usefixtures("slow_conditions")
def test_only_one_of_many_concurrent_conditional_puts_of_one_key_succeeds(stack: Stack) -> None:
    table = stack.template.names["AuditTable"]
    dynamodb = clients.client("dynamodb")
    wins: list[int] = []

    def claim(index: int) -> None:
        try:
            dynamodb.put_item(
                TableName=table,
                Item={"pk": {"S": "chain#race"}, "sk": {"S": "seq#1"}, "by": {"N": str(index)}},
                ConditionExpression="attribute_not_exists(pk)",
            )
            wins.append(index)
        except ClientError as exc:
            assert exc.response["Error"]["Code"] == "ConditionalCheckFailedException"

    _run(16, claim)
    assert len(wins) == 1


def _records(engine: Engine, count: int, account: str) -> list[dict[str, Any]]:
    out = []
    for i in range(count):
        ip = ["1.2.4.8", "8.8.8.8", "223.255.128.1"][i % 3]
        decision = engine.decide(Request(ip, "anthropic", account_id=account))
        out.append(audit_record(decision, b"k" * 32))
    return out


def _shares(records: list[dict[str, Any]], writers: int) -> list[list[dict[str, Any]]]:
    """Records split between writers; every fourth is delivered twice, by two writers at
    once (SQS is at-least-once)."""
    shares = [records[i::writers] for i in range(writers)]
    for i, record in enumerate(records[::4]):
        shares[(i + 1) % writers].append(record)
    return shares


def _check(store: AuditStore, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    [partition] = store.partitions()
    links = list(store.chain(partition))
    assert verify_chain(partition, links) is None
    stored = [link["decision_id"] for link in links if "duplicate_of" not in link]
    assert sorted(stored) == sorted(r["decision_id"] for r in records)
    for record in records:  # each id resolves to its own decision
        assert store.get(record["decision_id"])["decision_id"] == record["decision_id"]
    return links


@pytest.mark.usefixtures("slow_conditions")
def test_separate_writers_on_one_hot_chain_store_every_decision_once_in_one_intact_chain(
    stack: Stack, engine: Engine
) -> None:
    """Eight writers, each its own store (as eight Lambda environments would be)."""
    table = stack.template.names["AuditTable"]
    records = _records(engine, 48, "acct-hot")
    shares = _shares(records, 8)

    def write(index: int) -> None:
        store = AuditStore(table, max_attempts=200)
        for record in shares[index]:
            store.put(dict(record))

    _run(8, write)
    _check(AuditStore(table), records)


@pytest.mark.usefixtures("slow_conditions")
def test_a_journalled_store_journals_every_link_the_table_holds(
    stack: Stack, engine: Engine, tmp_path: Path
) -> None:
    """One store shared by eight threads (as ``regiongate serve``'s audit function is)."""
    table = stack.template.names["AuditTable"]
    journal = Journal(tmp_path / "journal.jsonl")
    store = AuditStore(table, journal=journal, max_attempts=200)
    records = _records(engine, 40, "acct-journal")
    shares = _shares(records, 8)

    def write(index: int) -> None:
        for record in shares[index]:
            store.put(dict(record))

    _run(8, write)
    links = _check(store, records)
    [partition] = store.partitions()
    # Every link, duplicates too, with the same content, in the same order.
    assert journal.chains() == {partition: links}


def test_a_journal_heals_a_decision_left_without_its_pointer_or_twice_unflagged(
    stack: Stack, engine: Engine, tmp_path: Path
) -> None:
    """A kill between a link and its pointer, then a redelivery, leaves the decision's link
    pointerless, or two unflagged links of one decision: restore fixes both."""
    table = stack.template.names["AuditTable"]
    journal = Journal(tmp_path / "journal.jsonl")
    store = AuditStore(table, journal=journal)
    first, second = _records(engine, 2, "acct-heal")
    store.put(first)
    store.put(second)
    lines = (tmp_path / "journal.jsonl").read_text().splitlines()
    items = [json.loads(line) for line in lines]
    links = [i for i in items if i["sk"]["S"].startswith("seq#")]
    pointerless = [
        i
        for i in items
        if i["sk"]["S"] != "record" or i["pk"]["S"] != (f"decision#{first['decision_id']}")
    ]
    # the second decision stored twice: its link again as link 3, unflagged
    again = dict(links[1], sk={"S": "seq#0000000003"}, sequence={"N": "3"})
    (tmp_path / "healed.jsonl").write_text(
        "".join(json.dumps(i) + "\n" for i in [*pointerless, again])
    )
    healed = Journal(tmp_path / "healed.jsonl").items()
    pointer = healed[(f"decision#{first['decision_id']}", "record")]
    assert pointer["link"] == {"S": "seq#0000000001"}
    assert "duplicate_of" in healed[(links[1]["pk"]["S"], "seq#0000000003")]
    assert "duplicate_of" not in healed[(links[1]["pk"]["S"], "seq#0000000002")]
