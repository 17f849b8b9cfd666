"""Create template.yaml's bus, rules, queues and table in an AWS emulator (moto).

Resources are created from their definitions in the template — key schema, indexes, TTL,
redrive policies, event patterns, targets, queue policies — so tests and the local server run
against what is deployed, not a copy of it.
"""

from __future__ import annotations

import json
from typing import Any

from regiongate.aws.clients import client
from regiongate.local.template import Template


def _queues(template: Template) -> None:
    sqs = client("sqs")
    queues = template.of_type("AWS::SQS::Queue")
    # Dead-letter queues first: others point at them.
    ordered = sorted(queues, key=lambda q: "RedrivePolicy" in queues[q].get("Properties", {}))
    for logical_id in ordered:
        props = template.resolve(queues[logical_id].get("Properties", {}))
        attributes = {}
        for key in ("VisibilityTimeout", "MessageRetentionPeriod"):
            if key in props:
                attributes[key] = str(props[key])
        if "RedrivePolicy" in props:
            attributes["RedrivePolicy"] = json.dumps(props["RedrivePolicy"])
        name = f"regiongate-{logical_id}"
        url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        template.names[logical_id] = url


def _table(template: Template) -> None:
    dynamodb = client("dynamodb")
    for logical_id, resource in template.of_type("AWS::DynamoDB::Table").items():
        props = template.resolve(resource["Properties"])
        name = f"regiongate-{logical_id}"
        template.names[logical_id] = name
        kwargs: dict[str, Any] = {
            "TableName": name,
            "AttributeDefinitions": props["AttributeDefinitions"],
            "KeySchema": props["KeySchema"],
            "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST"),
        }
        if props.get("GlobalSecondaryIndexes"):
            kwargs["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
        dynamodb.create_table(**kwargs)
        ttl = props.get("TimeToLiveSpecification")
        if ttl:
            dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)


def _events(template: Template) -> None:
    events = client("events")
    for logical_id, resource in template.of_type("AWS::Events::EventBus").items():
        name = template.resolve(resource["Properties"]["Name"])
        events.create_event_bus(Name=name)
        template.names[logical_id] = name
    for logical_id in template.of_type("AWS::Events::Rule"):
        template.names[logical_id] = f"regiongate-{logical_id}"
    for logical_id, resource in template.of_type("AWS::Events::Rule").items():
        props = template.resolve(resource["Properties"])
        bus = props["EventBusName"]
        name = template.names[logical_id]
        events.put_rule(
            Name=name,
            EventBusName=bus,
            EventPattern=json.dumps(props["EventPattern"]),
            State="ENABLED",
        )
        targets = [
            {k: v for k, v in t.items() if k in ("Id", "Arn", "DeadLetterConfig", "RetryPolicy")}
            for t in props["Targets"]
        ]
        events.put_targets(Rule=name, EventBusName=bus, Targets=targets)
    for logical_id, resource in template.of_type("AWS::Events::Archive").items():
        props = template.resolve(resource["Properties"])
        events.create_archive(
            ArchiveName=f"regiongate-{logical_id}",
            EventSourceArn=props["SourceArn"],
            EventPattern=json.dumps(props.get("EventPattern", {})),
            RetentionDays=int(props.get("RetentionDays", 0)),
        )


def _queue_policies(template: Template) -> None:
    sqs = client("sqs")
    for resource in template.of_type("AWS::SQS::QueuePolicy").values():
        props = template.resolve(resource["Properties"])
        for url in props["Queues"]:
            sqs.set_queue_attributes(
                QueueUrl=url, Attributes={"Policy": json.dumps(props["PolicyDocument"])}
            )


def provision(template: Template) -> dict[str, str]:
    """Create every queue, table, bus, rule and archive; return logical id -> name or URL."""
    _queues(template)
    _table(template)
    _events(template)
    _queue_policies(template)
    return dict(template.names)
