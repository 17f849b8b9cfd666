"""The audit table in DynamoDB: one item per decision, written once, chained per partition.

Layout (single table, key schema defined in template.yaml):

- decision: pk ``decision#<id>``, sk ``record``; indexed by_account (``account#<id>``,
  ``time_id``), by_provider_day (``provider#<p>#<day>``, ``time_id``) and by_chain
  (``chain#<partition>``, ``sequence``);
- chain head: pk ``chain#<partition>``, sk ``head`` (sequence and hash of the last link);
- denial counter: pk ``flag#<account>#<provider>``, sk ``window#<n>``.

A decision and its chain head are written in one transaction: the decision only if it is not
there yet (a redelivered message writes nothing twice), the head only if nobody moved it since
we read it (otherwise re-read and retry). Items expire through ``expires_at`` (TTL).
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


class AuditStore:
    def __init__(
        self, table_name: str, *, retention_days: int = 400, max_attempts: int = 8
    ) -> None:
        self.table_name = table_name
        self.retention_seconds = retention_days * 86_400
        self.max_attempts = max_attempts

    @property
    def _table(self) -> _Table:
        return _Table(self.table_name)

    def put(self, record: dict[str, Any]) -> StoreResult:
        """Store a record exactly once, appended to its partition's chain."""
        partition = partition_of(record)
        decision_id = record["decision_id"]
        for attempt in range(self.max_attempts):
            head = self._table.get_item(
                Key={"pk": f"chain#{partition}", "sk": "head"}, ConsistentRead=True
            ).get("Item")
            prev_hash = head["hash"] if head else GENESIS
            sequence = int(head["sequence"]) + 1 if head else 1
            chained = dict(record, prev_hash=prev_hash, sequence=sequence)
            chained["hash"] = link_hash(prev_hash, chained)
            try:
                self._write(chained, partition, head)
            except ClientError as exc:
                reasons = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
                if exc.response["Error"]["Code"] == "TransactionCanceledException" and (
                    reasons and reasons[0] == "ConditionalCheckFailed"
                ):
                    existing = self.get_item(decision_id)
                    if existing is not None:
                        return StoreResult(False, int(existing.get("sequence", 0)), partition)
                if exc.response["Error"]["Code"] in (
                    "TransactionCanceledException",
                    "ConditionalCheckFailedException",
                    "ProvisionedThroughputExceededException",
                    "ThrottlingException",
                    "TransactionConflictException",
                ):
                    time.sleep(min(0.5, 0.01 * (2**attempt)))
                    continue  # someone else moved the head, or we were throttled: re-read
                raise StoreError(f"audit table write failed: {exc}") from exc
            return StoreResult(True, sequence, partition)
        raise StoreError(f"could not append decision {decision_id} to chain {partition}")

    def _write(self, item: dict[str, Any], partition: str, head: dict[str, Any] | None) -> None:
        decided_at = str(item["decided_at"])
        account = (item.get("account") or {}).get("id")
        stored = {
            "pk": f"decision#{item['decision_id']}",
            "sk": "record",
            "record": json.dumps(item, separators=(",", ":"), ensure_ascii=False),
            "decided_at": decided_at,
            "sequence": item["sequence"],
            "hash": item["hash"],
            "by_provider_day": f"provider#{item['provider']}#{decided_at[:10]}",
            "time_id": f"{decided_at}#{item['decision_id']}",
            "chain": f"chain#{partition}",
            "expires_at": int(time.time()) + self.retention_seconds,
        }
        if account:
            stored["by_account"] = f"account#{account}"
        head_key = {"pk": f"chain#{partition}", "sk": "head"}
        if head is None:
            head_update: dict[str, Any] = {
                "Put": {
                    "TableName": self.table_name,
                    "Item": _ddb(
                        dict(
                            head_key,
                            sequence=item["sequence"],
                            hash=item["hash"],
                            expires_at=stored["expires_at"],
                        )
                    ),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            }
        else:
            head_update = {
                "Update": {
                    "TableName": self.table_name,
                    "Key": _ddb(head_key),
                    "UpdateExpression": "SET #s = :s, #h = :h",
                    "ConditionExpression": "#s = :prev",
                    "ExpressionAttributeNames": {"#s": "sequence", "#h": "hash"},
                    "ExpressionAttributeValues": _ddb(
                        {":s": item["sequence"], ":h": item["hash"], ":prev": int(head["sequence"])}
                    ),
                }
            }
        client("dynamodb").transact_write_items(
            TransactItems=[
                {
                    "Put": {
                        "TableName": self.table_name,
                        "Item": _ddb(stored),
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
                head_update,
            ]
        )

    def get_item(self, decision_id: str) -> dict[str, Any] | None:
        item = self._table.get_item(
            Key={"pk": f"decision#{decision_id}", "sk": "record"}, ConsistentRead=True
        ).get("Item")
        return json.loads(item["record"]) if item else None

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
        records = [self.get(i["pk"].split("#", 1)[1]) for i in page.get("Items", [])]
        return records, _token(page.get("LastEvaluatedKey"))

    def by_provider_day(self, provider: str, day: str) -> Iterator[dict[str, Any]]:
        yield from self._query_all("by_provider_day", f"provider#{provider}#{day}")

    def chain(self, partition: str) -> Iterator[dict[str, Any]]:
        """A partition's records in sequence order (for verification)."""
        yield from self._query_all("by_chain", f"chain#{partition}", key="chain")

    def _query_all(
        self, index: str, value: str, key: str | None = None
    ) -> Iterator[dict[str, Any]]:
        kwargs: dict[str, Any] = {
            "IndexName": index,
            "KeyConditionExpression": f"{key or index} = :v",
            "ExpressionAttributeValues": {":v": value},
        }
        while True:
            page = self._table.query(**kwargs)
            for item in page.get("Items", []):
                yield self.get(item["pk"].split("#", 1)[1])
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def scan(self) -> Iterator[dict[str, Any]]:
        """Every stored decision, in no particular order (export)."""
        kwargs: dict[str, Any] = {
            "FilterExpression": "sk = :r",
            "ExpressionAttributeValues": {":r": "record"},
        }
        while True:
            page = self._table.scan(**kwargs)
            for item in page.get("Items", []):
                yield json.loads(item["record"])
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def partitions(self) -> list[str]:
        heads = []
        kwargs: dict[str, Any] = {
            "FilterExpression": "sk = :h",
            "ExpressionAttributeValues": {":h": "head"},
        }
        while True:
            page = self._table.scan(**kwargs)
            heads += [i["pk"].split("#", 1)[1] for i in page.get("Items", [])]
            if "LastEvaluatedKey" not in page:
                return sorted(heads)
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

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
