"""Stores recorded decisions (SQS batches from the bus) and reads them back over HTTP.

Most invocations are SQS batches, so the HTTP side (Powertools' resolver, pydantic models)
is built on the first HTTP event rather than at import: a queue-driven cold start does not
pay for it. ``app`` (the resolver, for the OpenAPI document) is built on first access too.
"""

from functools import cache
from typing import Annotated, Any

import regiongate.api  # noqa: F401 (first: makes Powertools' event packages lazy, see there)
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from regiongate.api.observability import Handler, instrument, logger, metrics, tracer
from regiongate.aws.consumer import consumer
from regiongate.errors import InvalidRequestError
from regiongate.events import EventShapeError

# Report every failed record, even when all of a batch failed, rather than raising.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


@cache
def http_routes() -> tuple[Any, Handler]:
    """The resolver with its routes, and the guarded handler over it; built once."""
    from regiongate.api.http import create_resolver, guarded  # noqa: PLC0415
    from regiongate.api.models import DecisionPage, DecisionRecord, Query, responses  # noqa: PLC0415

    app = create_resolver()

    @app.get(
        "/v1/decisions/<decision_id>",
        responses=responses(DecisionRecord, 400, 404, 503),
        summary="One recorded decision",
    )
    @tracer.capture_method(capture_response=False)
    def get_decision(decision_id: str) -> DecisionRecord:
        return DecisionRecord.model_validate(consumer().store.get(decision_id))

    @app.get(
        "/v1/decisions",
        responses=responses(DecisionPage, 400, 422, 503),
        summary="An account's decisions over a time range, or a provider's decisions of one "
        "day; oldest first",
    )
    @tracer.capture_method(capture_response=False)
    def list_decisions(
        account: Annotated[str | None, Query()] = None,
        provider: Annotated[str | None, Query()] = None,
        day: Annotated[str | None, Query()] = None,
        start: Annotated[str, Query(alias="from")] = "0000",
        end: Annotated[str, Query(alias="to")] = "9999",
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        next_token: Annotated[str | None, Query(alias="next", max_length=2048)] = None,
    ) -> DecisionPage:
        store = consumer().store
        if account is not None and provider is None and day is None:
            records, token = store.by_account(account, start, end, limit=limit, token=next_token)
        elif account is None and provider is not None and day is not None:
            records, token = store.by_provider_day(provider, day, limit=limit, token=next_token)
        else:
            raise InvalidRequestError("give account (with from, to) or provider and day")
        return DecisionPage.model_validate({"decisions": records, "next": token})

    return app, guarded(app)


def __getattr__(name: str) -> Any:
    if name == "app":
        return http_routes()[0]
    raise AttributeError(name)


def store_message(record: SQSRecord) -> None:
    try:
        result = consumer().handle_message(record.body)
    except EventShapeError as exc:
        logger.error("poison message", extra={"message_id": record.message_id, "reason": str(exc)})
        metrics.add_metric(name="PoisonMessages", unit="Count", value=1)
        raise
    metrics.add_metric(name="Stored" if result.stored else "Duplicates", unit="Count", value=1)


def handle(event: dict[str, Any], context: Any) -> Any:
    if "Records" in event:
        return process_partial_response(
            event=event, record_handler=store_message, processor=processor, context=context
        )
    return http_routes()[1](event, context)


lambda_handler = instrument(handle)
