"""The one request value: what every entry point (HTTP handlers, the authorizer, the CLI,
batch files, the recorder) hands to ``Engine.decide``."""

from __future__ import annotations

from dataclasses import dataclass

from regiongate.account import AccountFacts


@dataclass(slots=True)
class Request:
    """One call to decide: who calls (address, account), whom (provider, model) and as of when
    (``at``, epoch seconds; None means now).

    Treat as immutable; not frozen only because frozen dataclasses are slow to build, and one
    is built per decision."""

    ip: str
    provider: str
    account_id: str | None = None
    account_tier: str | None = None
    model: str | None = None
    at: int | None = None
    account_facts: AccountFacts | None = None  # who the customer is (trusted sources only)
