"""POST /v1/classify: decide one request and record it before answering.

The answer is encoded by ``decision_json_with`` (templates per verdict and network) and
returned as text: handing Powertools the dict would cost its recursive JSON encoder (~0.3 ms
for a reroute) and a second serialisation.
"""

from regiongate.account import accept_facts, account_facts
from regiongate.api.http import client_address, create_resolver, http_handler
from regiongate.api.models import ClassifyRequest, DecisionResponse, Response, responses
from regiongate.api.observability import logger, metrics, tracer
from regiongate.aws.recorder import recorder
from regiongate.decision import provider_error
from regiongate.request import Request
from regiongate.serialize import decision_json_with
from regiongate.settings import settings

app = create_resolver()


@app.post(
    "/v1/classify",
    responses=responses(DecisionResponse, 400, 403, 404, 415, 422, 503),
    summary="Decide whether a request may go to a provider",
)
@tracer.capture_method(capture_response=False)
def classify(body: ClassifyRequest) -> Response[str]:
    client = client_address(app, body.ip)
    account = body.account
    facts = accept_facts(
        account_facts(
            account.model_dump() if account else None,
            body.end_user.country if body.end_user else None,
            "trusted-gateway",
        ),
        settings().proxy_trust.trusts_gateway(client.source_ip),
    )
    rec = recorder()
    request = Request(
        ip=client.ip,
        provider=body.provider,
        account_id=account.id if account else None,
        account_tier=account.tier if account else None,
        model=body.model,
        account_facts=facts,
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
    refusal = provider_error(decision, rec.engine.policies)
    answer = decision_json_with(
        decision,
        client=client.to_dict(),
        provider_error={"status": refusal[0], "body": refusal[1]} if refusal else None,
    )
    return Response(status_code=200, content_type="application/json", body=answer)


lambda_handler = http_handler(app)
