"""Lambda REQUEST authorizer (HTTP API payload 2.0, simple responses) for provider routes.

Put it in front of a route such as ``ANY /proxy/{provider}/{proxy+}``: it classifies the
caller for that provider, records the decision, and allows only ``allow`` outcomes. Anything
else — deny, reroute, review, an unknown provider, a failure to record — is refused (fail
closed). The integration receives country, decision id and reasons as authorizer context.
"""

from typing import Any

from regiongate.api.authorizer import authorize
from regiongate.api.observability import instrument, logger, metrics


def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
    result = authorize(event)
    metrics.add_metric(
        name="Authorized" if result["isAuthorized"] else "Refused", unit="Count", value=1
    )
    logger.info(
        "authorizer", extra={"authorized": result["isAuthorized"], "context": result["context"]}
    )
    return result


lambda_handler = instrument(handle)
