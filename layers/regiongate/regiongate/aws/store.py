"""The audit table in DynamoDB: every decision stored once, as a link in a hash chain.

Items (one table, key schema in template.yaml):

- link: pk ``chain#<partition>``, sk ``seq#<n>`` — the record with ``sequence``,
  ``prev_hash`` and ``hash``; indexed by_account (``account#<id>``, ``time_id``) and
  by_provider_day (``provider#<p>#<day>``, ``time_id``), both projecting the record;
- pointer: pk ``decision#<id>``, sk ``record`` — where that decision's link is;
- denial counter: pk ``flag#<account>#<provider>``, sk ``window#<n>``.

Appending claims the next sequence number with a conditional put of the link (the condition
is the lock: two writers cannot both take ``seq#n``), then writes the pointer only if the
decision has none (a redelivered message stores nothing twice). No transactions: plain
conditional writes cost the same at any table size. The last link of each partition is
remembered in-process and re-read from the table only when a conditional write says another
writer moved on. Items expire through ``expires_at`` (TTL).
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from regiongate.audit import GENESIS, link_hash, partition_of
from regiongate.aws.clients import client
from regiongate.errors import InvalidRequestError, RegiongateError


class StoreError(RegiongateError):
    code = "audit_store_unavailable"
    http_status = 503


class NotFoundError(RegiongateError):
    code = "not_found"
    http_status = 404


@dataclass(frozen=True, slots=True)
class StoreResult:
    stored: bool  # False: it was already there (a duplicate delivery)
    sequence: int
    partition: str


def _plain(value: Any) -> Any:
    """DynamoDB numbers back to int/float for JSON."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _token(key: dict[str, Any] | None) -> str | None:
    if not key:
        return None
    return base64.urlsafe_b64encode(json.dumps(_plain(key)).encode()).decode()


def _untoken(token: str | None) -> dict[str, Any] | None:
    if not token:
        return None
    try:
        value = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, TypeError):
        raise InvalidRequestError("invalid pagination token", "next") from None
    if not isinstance(value, dict):
        raise InvalidRequestError("invalid pagination token", "next")
    return value


_RETRY = frozenset(
    {
        "ConditionalCheckFailedException",
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
    }
)


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", "ClientError"))


class AuditStore:
    def __init__(
        self, table_name: str, *, retention_days: int = 400, max_attempts: int = 8
    ) -> None:
        self.table_name = table_name
        self.retention_seconds = retention_days * 86_400
        self.max_attempts = max_attempts
        self._heads: dict[str, tuple[int, str]] = {}  # partition -> (sequence, hash) we wrote

    @property
    def _table(self) -> _Table:
        return _Table(self.table_name)

    def put(self, record: dict[str, Any]) -> StoreResult:
        """Store a record exactly once, appended to its partition's chain."""
        partition = partition_of(record)
        decision_id = str(record["decision_id"])
        existing = self._pointer(decision_id)
        if existing is not None:
            return StoreResult(False, int(existing["sequence"]), partition)
        for attempt in range(self.max_attempts):
            sequence, prev_hash = self._heads.get(partition) or self._last_link(partition)
            chained = dict(record, prev_hash=prev_hash, sequence=sequence + 1)
            chained["hash"] = link_hash(prev_hash, chained)
            try:
                self._put_link(chained, partition)
            except ClientError as exc:
                if _code(exc) not in _RETRY:
                    raise StoreError(f"audit table write failed: {_code(exc)}") from exc
                self._heads.pop(partition, None)  # another writer moved on: re-read
                time.sleep(min(0.2, 0.005 * (2**attempt)))
                continue
            self._heads[partition] = (sequence + 1, chained["hash"])
            stored = self._put_pointer(decision_id, partition, sequence + 1)
            return StoreResult(stored, sequence + 1, partition)
        raise StoreError(f"could not append decision {decision_id} to chain {partition}")

    def _last_link(self, partition: str) -> tuple[int, str]:
        page = self._table.query(
            KeyConditionExpression="pk = :p AND begins_with(sk, :s)",
            ExpressionAttributeValues={":p": f"chain#{partition}", ":s": "seq#"},
            ScanIndexForward=False,
            Limit=1,
            ConsistentRead=True,
            ProjectionExpression="#q, #h",
            ExpressionAttributeNames={"#q": "sequence", "#h": "hash"},
        )
        items = page.get("Items", [])
        if not items:
            return 0, GENESIS
        return int(items[0]["sequence"]), str(items[0]["hash"])

    def _put_link(self, item: dict[str, Any], partition: str) -> None:
        decided_at = str(item["decided_at"])
        account = (item.get("account") or {}).get("id")
        link: dict[str, Any] = {
            "pk": f"chain#{partition}",
            "sk": f"seq#{item['sequence']:010d}",
            "record": json.dumps(item, separators=(",", ":"), ensure_ascii=False),
            "decision_id": item["decision_id"],
            "sequence": item["sequence"],
            "hash": item["hash"],
            "by_provider_day": f"provider#{item['provider']}#{decided_at[:10]}",
            "time_id": f"{decided_at}#{item['decision_id']}",
            "expires_at": int(time.time()) + self.retention_seconds,
        }
        if account:
            link["by_account"] = f"account#{account}"
        self._table.put_item(Item=link, ConditionExpression="attribute_not_exists(pk)")

    def _put_pointer(self, decision_id: str, partition: str, sequence: int) -> bool:
        """Point the decision at its link; False if a concurrent duplicate got there first
        (its own link then stands in the chain as a flagged duplicate)."""
        try:
            self._table.put_item(
                Item={
                    "pk": f"decision#{decision_id}",
                    "sk": "record",
                    "chain": f"chain#{partition}",
                    "link": f"seq#{sequence:010d}",
                    "sequence": sequence,
                    "expires_at": int(time.time()) + self.retention_seconds,
                },
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as exc:
            if _code(exc) != "ConditionalCheckFailedException":
                raise StoreError(f"audit table write failed: {_code(exc)}") from exc
            self._table.update_item(
                Key={"pk": f"chain#{partition}", "sk": f"seq#{sequence:010d}"},
                UpdateExpression="SET duplicate_of = :d",
                ExpressionAttributeValues={":d": decision_id},
            )
            return False
        return True

    def _pointer(self, decision_id: str) -> dict[str, Any] | None:
        item: dict[str, Any] | None = self._table.get_item(
            Key={"pk": f"decision#{decision_id}", "sk": "record"}, ConsistentRead=True
        ).get("Item")
        return item

    def get_item(self, decision_id: str) -> dict[str, Any] | None:
        pointer = self._pointer(decision_id)
        if pointer is None:
            return None
        link = self._table.get_item(
            Key={"pk": pointer["chain"], "sk": pointer["link"]}, ConsistentRead=True
        ).get("Item")
        return json.loads(link["record"]) if link else None

    def get(self, decision_id: str) -> dict[str, Any]:
        record = self.get_item(decision_id)
        if record is None:
            raise NotFoundError(f"no decision {decision_id!r} on record", decision_id=decision_id)
        return record

    def by_account(
        self, account: str, start: str, end: str, *, limit: int = 50, token: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """An account's decisions with start <= decided_at < end, oldest first, paginated."""
        kwargs: dict[str, Any] = {
            "IndexName": "by_account",
            "KeyConditionExpression": "by_account = :a AND time_id BETWEEN :s AND :e",
            "ExpressionAttributeValues": {":a": f"account#{account}", ":s": start, ":e": end},
            "Limit": limit,
        }
        start_key = _untoken(token)
        if start_key:
            kwargs["ExclusiveStartKey"] = start_key
        page = self._table.query(**kwargs)
        records = [json.loads(i["record"]) for i in page.get("Items", [])]
        return records, _token(page.get("LastEvaluatedKey"))

    def by_provider_day(self, provider: str, day: str) -> Iterator[dict[str, Any]]:
        for item in self._pages(
            IndexName="by_provider_day",
            KeyConditionExpression="by_provider_day = :v",
            ExpressionAttributeValues={":v": f"provider#{provider}#{day}"},
        ):
            yield json.loads(item["record"])

    def chain(self, partition: str) -> Iterator[dict[str, Any]]:
        """A partition's links in sequence order, as stored (for verification)."""
        for item in self._pages(
            KeyConditionExpression="pk = :p AND begins_with(sk, :s)",
            ExpressionAttributeValues={":p": f"chain#{partition}", ":s": "seq#"},
            ConsistentRead=True,
        ):
            record = json.loads(item["record"])
            if "duplicate_of" in item:
                record["duplicate_of"] = item["duplicate_of"]
            yield record

    def _pages(self, operation: str = "query", **kwargs: Any) -> Iterator[dict[str, Any]]:
        while True:
            page = getattr(self._table, operation)(**kwargs)
            yield from page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def scan(self) -> Iterator[dict[str, Any]]:
        """Every stored decision (its link's record), in no particular order: for export."""
        for item in self._pages(
            "scan", FilterExpression="begins_with(sk, :s)", ExpressionAttributeValues={":s": "seq#"}
        ):
            if "duplicate_of" not in item:
                yield json.loads(item["record"])

    def partitions(self) -> list[str]:
        """Every chain partition on record."""
        found = {
            str(item["pk"]).split("#", 1)[1]
            for item in self._pages(
                "scan",
                FilterExpression="begins_with(sk, :s)",
                ExpressionAttributeValues={":s": "seq#"},
                ProjectionExpression="pk",
            )
        }
        return sorted(found)

    def count_denial(
        self, account: str, provider: str, window_seconds: int, at: float | None = None
    ) -> int:
        """Count one denial in the account's current fixed window; returns the new count."""
        now = time.time() if at is None else at
        window = int(now // window_seconds)
        response = self._table.update_item(
            Key={"pk": f"flag#{account}#{provider}", "sk": f"window#{window}"},
            UpdateExpression="ADD denials :one SET expires_at = :exp",
            ExpressionAttributeValues={":one": 1, ":exp": int(now) + 2 * window_seconds},
            ReturnValues="UPDATED_NEW",
        )
        return int(response["Attributes"]["denials"])


_SERIALIZER = TypeSerializer()
_DESERIALIZER = TypeDeserializer()


def _ddb(item: dict[str, Any]) -> dict[str, Any]:
    """Plain Python values in DynamoDB's typed JSON (for the low-level client)."""
    return {k: _SERIALIZER.serialize(v) for k, v in item.items()}


def _plain_item(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _DESERIALIZER.deserialize(v) for k, v in item.items()}


class _Table:
    """The few Table-resource calls the store makes, on the low-level client: creating a
    boto3 resource costs about 100 ms of cold start, the client is shared anyway."""

    _TYPED = ("Key", "ExpressionAttributeValues", "ExclusiveStartKey")

    def __init__(self, name: str) -> None:
        self.name = name

    def _call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        for key in self._TYPED:
            if key in kwargs:
                kwargs[key] = _ddb(kwargs[key])
        response: dict[str, Any] = getattr(client("dynamodb"), operation)(
            TableName=self.name, **kwargs
        )
        if "Item" in response:
            response["Item"] = _plain_item(response["Item"])
        if "Items" in response:
            response["Items"] = [_plain_item(i) for i in response["Items"]]
        if "Attributes" in response:
            response["Attributes"] = _plain_item(response["Attributes"])
        if "LastEvaluatedKey" in response:
            response["LastEvaluatedKey"] = _plain_item(response["LastEvaluatedKey"])
        return response

    def get_item(self, **kwargs: Any) -> dict[str, Any]:
        return self._call("get_item", **kwargs)

    def query(self, **kwargs: Any) -> dict[str, Any]:
        return self._call("query", **kwargs)

    def scan(self, **kwargs: Any) -> dict[str, Any]:
        return self._call("scan", **kwargs)

    def update_item(self, **kwargs: Any) -> dict[str, Any]:
        return self._call("update_item", **kwargs)

    def put_item(self, **kwargs: Any) -> dict[str, Any]:
        kwargs["Item"] = _ddb(kwargs["Item"])
        return self._call("put_item", **kwargs)
