"""What a decision is: the verdict, its reasons and rule, and the request it answers.

The rules that produce verdicts are in ``checks``; the engine that applies them to requests is
in ``engine``; ids and timestamps in ``ids``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from regiongate.geo import GeoResult, Place
from regiongate.ids import DecisionIds, iso_time
from regiongate.policy import PolicySet, Provenance
from regiongate.request import Request
from regiongate.vocabulary import REFUSALS, Outcome, ReasonCode


@dataclass(frozen=True, slots=True)
class Reason:
    code: ReasonCode
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


@dataclass(frozen=True, slots=True)
class Rule:
    """The rule that determined an outcome, with the citation behind it."""

    rule_id: str
    provenance: Provenance | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.rule_id,
            "source": self.provenance.to_dict() if self.provenance else None,
        }


@dataclass(frozen=True, slots=True)
class Alternative:
    """A provider considered instead of the requested one, and what it would answer."""

    provider: str
    outcome: Outcome
    reasons: tuple[Reason, ...]
    rule: Rule

    def to_dict(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "outcome": self.outcome,
            "reasons": [r.to_dict() for r in self.reasons],
            "rule": self.rule.to_dict(),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Verdict:
    """The time- and caller-independent part of a decision; shared between decisions."""

    provider: str
    outcome: Outcome
    reasons: tuple[Reason, ...]
    rule: Rule
    alternatives: tuple[Alternative, ...] = ()
    excluded: tuple[Alternative, ...] = ()
    serve_from_regions: tuple[str, ...] | None = None
    applied_policies: tuple[str, ...] = ()

    @property
    def reason_codes(self) -> tuple[ReasonCode, ...]:
        return tuple(r.code for r in self.reasons)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "outcome": self.outcome,
            "reasons": [r.to_dict() for r in self.reasons],
            "rule": self.rule.to_dict(),
            "applied_policies": list(self.applied_policies),
        }
        if self.alternatives or self.excluded:
            out["alternatives"] = [a.to_dict() for a in self.alternatives]
            out["excluded_alternatives"] = [a.to_dict() for a in self.excluded]
        if self.serve_from_regions is not None:
            out["serve_from_regions"] = list(self.serve_from_regions)
        return out


class Decision:
    """One answer to one request: the verdict, the evidence, and when and under what policy.

    Built on every request, so the id and the geo result are derived on first use: ``geo`` is
    either given or drawn from the shared ``Place`` answer of the caller's network."""

    __slots__ = (
        "_geo",
        "_place",
        "decided_at_ns",
        "evaluated_at",
        "ids",
        "policy_version",
        "request",
        "sequence",
        "verdict",
    )

    def __init__(
        self,
        request: Request,
        verdict: Verdict,
        ids: DecisionIds,
        sequence: int,
        decided_at_ns: int,
        evaluated_at: int,
        policy_version: str,
        geo: GeoResult | None = None,
        place: Place | None = None,
    ) -> None:
        self.request = request
        self.verdict = verdict
        self.ids = ids
        self.sequence = sequence
        self.decided_at_ns = decided_at_ns
        self.evaluated_at = evaluated_at
        self.policy_version = policy_version
        self._geo = geo
        self._place = place

    @property
    def ip(self) -> str:
        return self.request.ip

    @property
    def provider(self) -> str:
        return self.request.provider

    @property
    def model(self) -> str | None:
        return self.request.model

    @property
    def account_id(self) -> str | None:
        return self.request.account_id

    @property
    def account_tier(self) -> str | None:
        return self.request.account_tier

    @property
    def geo(self) -> GeoResult:
        geo = self._geo
        if geo is None:
            assert self._place is not None
            geo = self._geo = self._place.geo_for(self.request.ip)
        return geo

    @property
    def place(self) -> Place | None:
        """The shared network answer this decision was made from, if it took the fast path."""
        return self._place

    @property
    def country(self) -> str | None:
        """The caller's country, without building the full geo result."""
        place = self._place
        return place.template.country if place is not None else self.geo.country

    @property
    def decision_id(self) -> str:
        return self.ids.format(self.sequence, self.decided_at_ns)

    @property
    def outcome(self) -> Outcome:
        return self.verdict.outcome

    @property
    def decided_at(self) -> str:
        return iso_time(self.decided_at_ns)

    def to_dict(self) -> dict[str, Any]:
        request = self.request
        out: dict[str, Any] = {
            "decision_id": self.decision_id,
            "decided_at": self.decided_at,
            "evaluated_at": iso_time(self.evaluated_at * 1_000_000_000),
            "provider": request.provider,
            "model": request.model,
            "account": account_evidence(request),
            "policy_version": self.policy_version,
        }
        out.update(self.verdict.to_dict())
        out["geo"] = self.geo.to_dict()
        return out


def account_evidence(request: Request) -> dict[str, Any]:
    """The account as a decision and its record carry it: id, tier and, when a trusted source
    stated any, the account facts with their source (what replay re-decides from)."""
    out: dict[str, Any] = {"id": request.account_id, "tier": request.account_tier}
    if request.account_facts is not None:
        out["facts"] = request.account_facts.to_dict()
    return out


def provider_error(decision: Decision, policies: PolicySet) -> tuple[int, dict[str, Any]] | None:
    """The provider's own error response for a refused request (e.g. OpenAI's 403), if known."""
    if decision.outcome not in REFUSALS:
        return None
    policy = policies.providers.get(decision.provider)
    if policy is None or not policy.error_response:
        return None
    return int(policy.error_response["http_status"]), policy.error_response["body"]
