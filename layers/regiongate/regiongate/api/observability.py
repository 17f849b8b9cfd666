"""Logger, Metrics and tracing for every function, and the one order they wrap a handler in.

Lambda traces every invocation itself (``Tracing: Active`` in template.yaml). The X-Ray SDK,
which adds subsegments for our own methods and AWS calls, costs about 300 ms of cold start
(it imports and patches botocore at start-up), so it is opt-in: set ``REGIONGATE_XRAY_SDK=1``
to use Powertools' Tracer; otherwise ``tracer`` has the same decorators and does nothing.
"""

from collections.abc import Callable
from typing import Any, Protocol, TypeVar, cast

from aws_lambda_powertools import Logger, Metrics, Tracer

from regiongate.settings import settings

logger = Logger()
metrics = Metrics()

Handler = Callable[[dict[str, Any], Any], Any]
F = TypeVar("F", bound=Callable[..., Any])


class MethodTracer(Protocol):
    """What handlers use of a tracer: Powertools' Tracer, or one that does nothing."""

    def capture_method(self, *, capture_response: bool = ...) -> Callable[[F], F]: ...

    def capture_lambda_handler(self, *, capture_response: bool = ...) -> Callable[[F], F]: ...


class _NoTracer:
    """Powertools Tracer's decorator interface, doing nothing."""

    def capture_method(self, *, capture_response: bool = True) -> Callable[[F], F]:
        return _unchanged

    def capture_lambda_handler(self, *, capture_response: bool = True) -> Callable[[F], F]:
        return _unchanged


def _unchanged(function: F) -> F:
    return function


def _tracer() -> MethodTracer:
    if settings().xray_sdk:
        return cast(MethodTracer, Tracer(patch_modules=["botocore"]))
    return _NoTracer()


tracer = _tracer()


def instrument(handler: Handler) -> Handler:
    """Logging context outermost, then tracing, then metrics flushed per invocation."""
    wrapped: Handler = logger.inject_lambda_context(clear_state=True)(
        tracer.capture_lambda_handler(capture_response=False)(
            _metrics_cleared(metrics.log_metrics(handler))
        )
    )
    return wrapped


def _metrics_cleared(handler: Handler) -> Handler:
    """Start every invocation with no metrics. ``log_metrics`` flushes and clears them, but not
    while metrics are disabled (``POWERTOOLS_METRICS_DISABLED``, as ``serve`` runs): Powertools
    then keeps adding, and at 100 values of one metric serialises them, which fails without a
    namespace (read when ``metrics`` was made) — a 500 on the 100th geo lookup."""

    def run(event: dict[str, Any], context: Any) -> Any:
        metrics.clear_metrics()
        return handler(event, context)

    return run
