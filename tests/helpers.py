"""Helpers for tests that run the serverless application in-process on moto."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from contract import check_answer, route_of

EVENTS = Path(__file__).resolve().parent.parent / "events"


class Stack:
    """template.yaml's resources in moto, and its functions invoked in-process."""

    def __init__(self, template: Any, data_dir: Path, monkeypatch: Any) -> None:
        self.template = template
        self.data_dir = data_dir
        self._monkeypatch = monkeypatch
        self._applied: dict[str, str] | None = None

    def invoke(self, logical_id: str, event: dict[str, Any]) -> Any:
        """Invoke a function with its environment from template.yaml (set, and the caches
        that read it reset, only when it differs from the last function's)."""
        from regiongate.caches import reset_process_caches
        from regiongate.local.runtime import LambdaContext, handler, local_overrides

        variables = {**self.template.environment(logical_id), **local_overrides(self.data_dir)}
        if variables != self._applied:
            for key, value in variables.items():
                self._monkeypatch.setenv(key, value)
            reset_process_caches()
            self._applied = variables
        response = handler(self.template, logical_id)(event, LambdaContext(logical_id))
        if isinstance(response, dict) and "statusCode" in response and route_of(event):
            # Every HTTP answer a test sees must be what openapi.json promises.
            check_answer(event, response, serves=self.serves(logical_id, route_of(event)))
        return response

    def serves(self, logical_id: str, route: tuple[str, str] | None) -> bool:
        """Whether template.yaml routes ``route`` (method, path) to the function."""
        return any(
            (r.method, r.path) == route and r.function == logical_id for r in self.template.routes()
        )

    def queue_url(self, logical_id: str) -> str:
        return str(self.template.names[logical_id])

    def drain(self, logical_id: str, limit: int = 10_000) -> list[dict[str, Any]]:
        """Every message now in a queue (received and deleted)."""
        from regiongate.aws.clients import client

        sqs, url, out = client("sqs"), self.queue_url(logical_id), []
        while len(out) < limit:
            batch = sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"]
            ).get("Messages", [])
            if not batch:
                return out
            out += batch
            sqs.delete_message_batch(
                QueueUrl=url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)
                ],
            )
        return out


def load_event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / f"{name}.json").read_text())
