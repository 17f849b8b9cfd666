"""Lambda REQUEST authorizer for the gate's provider routes (HTTP API 2.0 or REST API).

Each provider has its own route (``ANY /proxy/openai/{proxy+}``) bound to its own upstream;
this classifies the caller for the provider the matched route is bound to, records the
decision, and allows only ``allow`` outcomes. Anything else — deny, reroute, review, an
unknown route, a failure to record — is refused (fail closed). An HTTP API gets a simple
response, a REST API a policy document; both carry the decision and, on refusal, the body the
caller sees (the provider's own error) as context.
"""

from typing import Any

from regiongate.api.authorizer import authorize, is_allowed
from regiongate.api.observability import instrument, logger, metrics


def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
    result = authorize(event)
    allowed = is_allowed(result)
    metrics.add_metric(name="Authorized" if allowed else "Refused", unit="Count", value=1)
    logger.info("authorizer", extra={"authorized": allowed, "context": result["context"]})
    return result


lambda_handler = instrument(handle)
