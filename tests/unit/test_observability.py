"""Instrumented handlers keep working however metrics are configured."""

from __future__ import annotations

from typing import Any

import pytest
from regiongate.api.observability import instrument, metrics


class Context:
    function_name = "f"
    memory_limit_in_mb = 128
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:f"
    aws_request_id = "r"


def test_disabled_metrics_never_pile_up_to_powertools_100_value_flush(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """As ``serve`` runs functions: metrics disabled and no namespace (the environment came
    after ``metrics`` was made). Powertools keeps disabled metrics, and at 100 values of one
    metric serialises them and fails for want of a namespace; every invocation starts empty."""
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "1")
    monkeypatch.setattr(metrics, "namespace", None)
    monkeypatch.setattr(metrics.provider, "namespace", None)

    def lookup(event: dict[str, Any], context: Any) -> str:
        metrics.add_metric(name="GeoLookups", unit="Count", value=1)
        return "ok"

    handler = instrument(lookup)
    assert [handler({}, Context()) for _ in range(250)] == ["ok"] * 250
