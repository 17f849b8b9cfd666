"""Logger, Tracer and Metrics for every function, and the one order they wrap a handler in."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger()
tracer = Tracer()
metrics = Metrics()

Handler = Callable[[dict[str, Any], Any], Any]


def instrument(handler: Handler) -> Handler:
    """Logging context outermost, then tracing, then metrics flushed per invocation."""
    wrapped = logger.inject_lambda_context(clear_state=True)(
        tracer.capture_lambda_handler(capture_response=False)(metrics.log_metrics(handler))
    )
    return cast(Handler, wrapped)
