"""The audit journal: every item the audit store writes, appended as it is written.

Locally the audit table lives in an emulator's memory; the journal is its durable copy. A
journalled store (``AuditStore(journal=...)``) appends every link — duplicates too — and every
pointer, each chain's links in the order they were claimed, so journal and table agree record
for record and ``regiongate audit verify`` can check either. Start-up puts the journal back
into a fresh table. Lines are DynamoDB JSON items; a later line for a key replaces an earlier.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from regiongate.aws.clients import client
from regiongate.aws.keys import LINK_PREFIX, POINTER_SK, partition_of_pk, pointer_pk

_SERIALIZER = TypeSerializer()
_DESERIALIZER = TypeDeserializer()
Key = tuple[str, str]


def typed(item: dict[str, Any]) -> dict[str, Any]:
    """Plain Python values in DynamoDB's typed JSON."""
    return {k: _SERIALIZER.serialize(v) for k, v in item.items()}


def _text(value: dict[str, Any]) -> str:
    return str(_DESERIALIZER.deserialize(cast(Any, value)))


def _is_link(key: Key) -> bool:
    return key[0].startswith("chain#") and key[1].startswith(LINK_PREFIX)


class Journal:
    """An append-only file of audit items (see the module docstring)."""

    def __init__(
        self,
        path: Path,
        *,
        on_stored: Callable[[dict[str, Any]], None] | None = None,
        fsync: bool = False,
    ) -> None:
        self.path = path
        self.on_stored = on_stored  # called with each newly stored (non-duplicate) record
        self.fsync = fsync  # flushed lines survive a crash of the process; fsync, of the OS
        self.lock = threading.Lock()
        self._unpointed: dict[Key, str] = {}  # links written whose pointer is not yet

    def written(self, items: list[dict[str, Any]]) -> None:
        """Append plain items the store wrote (the ItemLog the store calls)."""
        self.append([typed(i) for i in items])
        if self.on_stored is None:
            return
        for item in items:  # a decision is stored once its pointer is written
            if "record" in item:
                with self.lock:
                    if "duplicate_of" in item:
                        self._unpointed.pop((item["pk"], item["sk"]), None)
                    else:
                        self._unpointed[(item["pk"], item["sk"])] = item["record"]
            elif item.get("sk") == POINTER_SK:
                with self.lock:
                    record = self._unpointed.pop((item["chain"], item["link"]), None)
                if record is not None:
                    self.on_stored(json.loads(record))

    def append(self, items: list[dict[str, Any]]) -> None:
        """Append typed items, flushed before returning."""
        if not items:
            return
        text = "".join(json.dumps(i, separators=(",", ":")) + "\n" for i in items)
        with self.lock, self.path.open("a", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            if self.fsync:
                os.fsync(handle.fileno())

    def items(self) -> dict[Key, dict[str, Any]]:
        """The journalled items by key, each as last written. A torn last line (the process
        was killed while writing it) is skipped: its item is replayed from the write-ahead
        file."""
        items: dict[Key, dict[str, Any]] = {}
        if not self.path.exists():
            return items
        with self.path.open(encoding="utf-8") as handle:
            for line in handle:
                try:
                    item = json.loads(line)
                    key = (item["pk"]["S"], item["sk"]["S"])
                except (ValueError, KeyError, TypeError):
                    continue
                items[key] = item
        return _consistent(items)

    def chains(self) -> dict[str, list[dict[str, Any]]]:
        """Every partition's links, in sequence order, as journalled (for verification)."""
        chains: dict[str, list[dict[str, Any]]] = {}
        for key, item in sorted(self.items().items()):
            if _is_link(key):
                chains.setdefault(partition_of_pk(key[0]), []).append(_record(item))
        return chains

    def restore(self, table: str) -> list[dict[str, Any]]:
        """Put every journalled item back into a (fresh) table; return the stored records."""
        items = self.items()
        values = list(items.values())
        dynamodb = client("dynamodb")
        for start in range(0, len(values), 25):
            pending: dict[str, Any] = {
                table: [{"PutRequest": {"Item": item}} for item in values[start : start + 25]]
            }
            while pending:
                pending = dynamodb.batch_write_item(RequestItems=pending).get(
                    "UnprocessedItems", {}
                )
        return [
            _record(item)
            for key, item in items.items()
            if _is_link(key) and "duplicate_of" not in item
        ]


def _record(item: dict[str, Any]) -> dict[str, Any]:
    record: dict[str, Any] = json.loads(_text(item["record"]))
    if "duplicate_of" in item:
        record["duplicate_of"] = _text(item["duplicate_of"])
    return record


def _consistent(items: dict[Key, dict[str, Any]]) -> dict[Key, dict[str, Any]]:
    """Heal what a crash between two writes of one decision leaves: a link whose pointer was
    never written gets one; of two unflagged links of one decision, the one its pointer names
    (else the first) stands and the other is flagged a duplicate (outside the hash)."""
    by_decision: dict[str, list[Key]] = {}
    for key, item in sorted(items.items()):
        if _is_link(key) and "duplicate_of" not in item:
            by_decision.setdefault(_text(item["decision_id"]), []).append(key)
    for decision_id, keys in by_decision.items():
        pointer_key = (pointer_pk(decision_id), POINTER_SK)
        pointer = items.get(pointer_key)
        named = (_text(pointer["chain"]), _text(pointer["link"])) if pointer else None
        keep = named if named in keys else keys[0]
        for key in keys:
            if key != keep:
                items[key] = dict(items[key], duplicate_of={"S": decision_id})
        if named != keep:
            link = items[keep]
            items[pointer_key] = {
                "pk": {"S": pointer_key[0]},
                "sk": {"S": POINTER_SK},
                "chain": link["pk"],
                "link": link["sk"],
                "sequence": link["sequence"],
                "expires_at": link["expires_at"],
            }
    return items
