"""POST /v1/classify: decide one request and record it before answering."""

from typing import Any

from regiongate.api.http import client_address, create_resolver, http_handler
from regiongate.api.models import ClassifyRequest, DecisionResponse, responses
from regiongate.api.observability import logger, metrics, tracer
from regiongate.aws.recorder import recorder
from regiongate.decision import provider_error
from regiongate.request import Request

app = create_resolver()


@app.post(
    "/v1/classify",
    responses=responses(DecisionResponse, 400, 403, 404, 413, 422, 503),
    summary="Decide whether a request may go to a provider",
)
@tracer.capture_method(capture_response=False)
def classify(body: ClassifyRequest) -> dict[str, Any]:
    client = client_address(app, body.ip)
    account = body.account
    rec = recorder()
    request = Request(
        ip=client.ip,
        provider=body.provider,
        account_id=account.id if account else None,
        account_tier=account.tier if account else None,
        model=body.model,
    )
    decision = rec.decide(request, client)
    metrics.add_metric(name=f"Decision_{decision.outcome}", unit="Count", value=1)
    logger.info(
        "decided",
        extra={
            "decision_id": decision.decision_id,
            "outcome": decision.outcome,
            "provider": body.provider,
            "country": decision.geo.country,
        },
    )
    response = decision.to_dict()
    response["client"] = client.to_dict()
    refusal = provider_error(decision, rec.engine.policies)
    response["provider_error"] = {"status": refusal[0], "body": refusal[1]} if refusal else None
    return response


lambda_handler = http_handler(app)
