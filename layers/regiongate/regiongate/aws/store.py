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

The design relies on DynamoDB's conditional writes being atomic per item (they are); a local
emulator must be as strict (``regiongate.local.emulator`` makes moto so). With a ``journal``
(locally), every item written is also appended there, links in the order they were claimed.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import BotoCoreError, ClientError

from regiongate.audit import GENESIS, link_hash, partition_of
from regiongate.aws.clients import client
from regiongate.aws.keys import (
    LINK_PREFIX,
    POINTER_SK,
    chain_pk,
    link_sk,
    partition_of_pk,
    pointer_pk,
)
from regiongate.errors import InvalidRequestError, RegiongateError


class StoreError(RegiongateError):
    code = "audit_store_unavailable"
    http_status = 503


class StoreBusyError(StoreError):
    """DynamoDB throttled the request: worth retrying shortly."""

    code = "audit_store_busy"


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


# --- read-path validation: what DynamoDB would refuse (ValidationException), refused first ----
# Documented limits: a partition key value is at most 2048 bytes and a sort key value 1024;
# key values may not be empty; BETWEEN needs its lower bound <= its upper bound; an
# ExclusiveStartKey holds exactly the key attributes of the table and the index queried, and
# must lie in the partition (and range) the query names. Moto accepts much of this; DynamoDB
# does not, so it is checked here, before any call, as a 400.
MAX_ID = 64
MAX_ACCOUNT = 128
MAX_LIMIT = 500
UNBOUNDED = ("0000", "9999")
_ID = re.compile(r"[0-9A-Za-z][0-9A-Za-z._:-]*")
_PROVIDER = re.compile(r"[a-z0-9][a-z0-9_]*")
_INDEX_KEYS = {
    "by_account": ("by_account", "time_id"),
    "by_provider_day": ("by_provider_day", "time_id"),
}


def check_decision_id(decision_id: str) -> str:
    if not (0 < len(decision_id) <= MAX_ID and _ID.fullmatch(decision_id)):
        raise InvalidRequestError(
            f"a decision id is 1 to {MAX_ID} letters, digits, '.', '_', ':' or '-'",
            "decision_id",
        )
    return decision_id


def check_account(account: str) -> str:
    if not 0 < len(account) <= MAX_ACCOUNT or not account.isprintable():
        raise InvalidRequestError(
            f"an account id is 1 to {MAX_ACCOUNT} printable characters", "account"
        )
    return account


def check_provider(provider: str) -> str:
    if not (0 < len(provider) <= 64 and _PROVIDER.fullmatch(provider)):
        raise InvalidRequestError("a provider id is lower-case letters, digits and '_'", "provider")
    return provider


def check_day(day: str, field: str = "day") -> str:
    try:
        return dt.date.fromisoformat(day).isoformat() if len(day) == 10 else _bad_day(field)
    except ValueError:
        return _bad_day(field)


def _bad_day(field: str) -> str:
    raise InvalidRequestError(f"{field}: not a calendar date (YYYY-MM-DD)", field)


def check_instant(text: str, field: str) -> str:
    """A date (kept as is: it sorts before that day's decisions) or an ISO 8601 time
    (normalised to the UTC form decisions are stored with, so strings compare as times)."""
    if len(text) == 10:
        return check_day(text, field)
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise InvalidRequestError(f"{field}: not a date or ISO 8601 time", field) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    utc = value.astimezone(dt.UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def check_range(start: str, end: str) -> tuple[str, str]:
    """``from`` and ``to`` checked; ``0000`` and ``9999`` stand for unbounded."""
    start = start if start == UNBOUNDED[0] else check_instant(start, "from")
    end = end if end == UNBOUNDED[1] else check_instant(end, "to")
    if start > end:
        raise InvalidRequestError("from is after to", "from")
    return start, end


def check_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidRequestError(f"limit is 1 to {MAX_LIMIT}", "limit")
    return limit


def _untoken(
    token: str | None, index: str, partition: str, start: str = "", end: str = "\uffff"
) -> dict[str, Any] | None:
    """A ``next`` token back into the ExclusiveStartKey it was made from, if it could be one
    for this query: exactly the table's and the index's keys, strings within DynamoDB's key
    sizes, in the partition and range queried. Anything else is a forged or stale token."""
    if not token:
        return None
    invalid = InvalidRequestError("invalid pagination token", "next")
    try:
        value = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, TypeError):
        raise invalid from None
    hash_key, range_key = _INDEX_KEYS[index]
    if not isinstance(value, dict) or set(value) != {"pk", "sk", hash_key, range_key}:
        raise invalid
    if not all(isinstance(v, str) and v for v in value.values()):
        raise invalid
    if len(value["pk"].encode()) > 2048 or len(value[hash_key].encode()) > 2048:
        raise invalid
    if len(value["sk"].encode()) > 1024 or len(value[range_key].encode()) > 1024:
        raise invalid
    if value[hash_key] != partition or not start <= value[range_key] <= end:
        raise invalid
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


class ItemLog(Protocol):
    """Where a journalled store appends every item it wrote (see regiongate.aws.journal)."""

    def written(self, items: list[dict[str, Any]]) -> None: ...


class AuditStore:
    def __init__(
        self,
        table_name: str,
        *,
        retention_days: int = 400,
        max_attempts: int = 8,
        journal: ItemLog | None = None,
    ) -> None:
        self.table_name = table_name
        self.retention_seconds = retention_days * 86_400
        self.max_attempts = max_attempts
        self.journal = journal
        self._heads: dict[str, tuple[int, str]] = {}  # partition -> (sequence, hash) we wrote
        # With a journal, claiming a link and journalling it are one step, so the journal
        # lists each chain's links in order (a crash between two claims leaves no gap).
        self._claiming = threading.Lock()

    def _claim_step(self) -> contextlib.AbstractContextManager[Any]:
        return self._claiming if self.journal is not None else contextlib.nullcontext()

    def _log(self, item: dict[str, Any]) -> None:
        if self.journal is not None:
            self.journal.written([item])

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
            link = self._link_item(chained, partition)
            try:
                with self._claim_step():
                    self._table.put_item(Item=link, ConditionExpression="attribute_not_exists(pk)")
                    self._log(link)
            except ClientError as exc:
                if _code(exc) not in _RETRY:
                    raise StoreError(f"audit table write failed: {_code(exc)}") from exc
                self._heads.pop(partition, None)  # another writer moved on: re-read
                time.sleep(min(0.2, 0.005 * (2**attempt)))
                continue
            self._heads[partition] = (sequence + 1, chained["hash"])
            stored = self._put_pointer(decision_id, link)
            return StoreResult(stored, sequence + 1, partition)
        raise StoreError(f"could not append decision {decision_id} to chain {partition}")

    def _last_link(self, partition: str) -> tuple[int, str]:
        page = self._table.query(
            KeyConditionExpression="pk = :p AND begins_with(sk, :s)",
            ExpressionAttributeValues={":p": chain_pk(partition), ":s": LINK_PREFIX},
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

    def _link_item(self, item: dict[str, Any], partition: str) -> dict[str, Any]:
        decided_at = str(item["decided_at"])
        account = (item.get("account") or {}).get("id")
        link: dict[str, Any] = {
            "pk": chain_pk(partition),
            "sk": link_sk(int(item["sequence"])),
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
        return link

    def _put_pointer(self, decision_id: str, link: dict[str, Any]) -> bool:
        """Point the decision at its link; False if a concurrent duplicate got there first
        (its own link then stands in the chain as a flagged duplicate)."""
        pointer = {
            "pk": pointer_pk(decision_id),
            "sk": POINTER_SK,
            "chain": link["pk"],
            "link": link["sk"],
            "sequence": link["sequence"],
            "expires_at": link["expires_at"],
        }
        try:
            self._table.put_item(Item=pointer, ConditionExpression="attribute_not_exists(pk)")
        except ClientError as exc:
            if _code(exc) != "ConditionalCheckFailedException":
                raise StoreError(f"audit table write failed: {_code(exc)}") from exc
            self._table.update_item(
                Key={"pk": link["pk"], "sk": link["sk"]},
                UpdateExpression="SET duplicate_of = :d",
                ExpressionAttributeValues={":d": decision_id},
            )
            self._log(dict(link, duplicate_of=decision_id))
            return False
        self._log(pointer)
        return True

    def _pointer(self, decision_id: str) -> dict[str, Any] | None:
        item: dict[str, Any] | None = self._table.get_item(
            Key={"pk": pointer_pk(decision_id), "sk": POINTER_SK}, ConsistentRead=True
        ).get("Item")
        return item

    def get_item(self, decision_id: str) -> dict[str, Any] | None:
        pointer = self._pointer(check_decision_id(decision_id))
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
        """An account's decisions with start <= decided_at < end, oldest first, paginated.
        ``start`` and ``end`` are dates or ISO 8601 times (``0000``/``9999``: unbounded)."""
        partition = f"account#{check_account(account)}"
        start, end = check_range(start, end)
        return self._page(
            "by_account",
            partition,
            "by_account = :a AND time_id BETWEEN :s AND :e",
            {":a": partition, ":s": start, ":e": end},
            check_limit(limit),
            _untoken(token, "by_account", partition, start, end),
        )

    def by_provider_day(
        self, provider: str, day: str, *, limit: int = 50, token: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """A provider's decisions of one UTC day, oldest first, paginated."""
        partition = f"provider#{check_provider(provider)}#{check_day(day)}"
        return self._page(
            "by_provider_day",
            partition,
            "by_provider_day = :v",
            {":v": partition},
            check_limit(limit),
            _untoken(token, "by_provider_day", partition),
        )

    def _page(
        self,
        index: str,
        partition: str,
        condition: str,
        values: dict[str, Any],
        limit: int,
        start_key: dict[str, Any] | None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        kwargs: dict[str, Any] = {
            "IndexName": index,
            "KeyConditionExpression": condition,
            "ExpressionAttributeValues": values,
            "Limit": limit,
        }
        if start_key:
            kwargs["ExclusiveStartKey"] = start_key
        page = self._table.query(**kwargs)
        records = [json.loads(i["record"]) for i in page.get("Items", [])]
        return records, _token(page.get("LastEvaluatedKey"))

    def chain(self, partition: str) -> Iterator[dict[str, Any]]:
        """A partition's links in sequence order, as stored (for verification)."""
        for item in self._pages(
            KeyConditionExpression="pk = :p AND begins_with(sk, :s)",
            ExpressionAttributeValues={":p": chain_pk(partition), ":s": LINK_PREFIX},
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
            "scan",
            FilterExpression="begins_with(sk, :s)",
            ExpressionAttributeValues={":s": LINK_PREFIX},
        ):
            if "duplicate_of" not in item:
                yield json.loads(item["record"])

    def partitions(self) -> list[str]:
        """Every chain partition on record."""
        found = {
            partition_of_pk(str(item["pk"]))
            for item in self._pages(
                "scan",
                FilterExpression="begins_with(sk, :s)",
                ExpressionAttributeValues={":s": LINK_PREFIX},
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


_READS = frozenset({"get_item", "query", "scan"})
_THROTTLED = frozenset(
    {"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"}
)


def _read_error(table: str, exc: ClientError) -> RegiongateError:
    """A typed error for what DynamoDB answered a read: its ValidationException is the
    request's fault (400; the read paths validate first, so this is a last line), throttling
    is worth a retry (503), anything else means the table cannot be read (503)."""
    code = _code(exc)
    if code == "ValidationException":
        return InvalidRequestError("the audit table cannot answer this query")
    if code in _THROTTLED:
        return StoreBusyError(f"the audit table is busy ({code}); retry shortly")
    return StoreError(f"the audit table {table} cannot be read ({code})")


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
        try:
            response: dict[str, Any] = getattr(client("dynamodb"), operation)(
                TableName=self.name, **kwargs
            )
        except BotoCoreError as exc:  # no route, no credentials, no region, a timeout
            raise StoreError(f"audit table unreachable: {type(exc).__name__}") from exc
        except ClientError as exc:
            if operation not in _READS:
                raise  # writers decide (a failed condition is an answer, not an error)
            raise _read_error(self.name, exc) from exc
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
