"""Decisions: what a caller at a place may do with a provider, why, and on whose authority.

The policy set is compiled into an index: every instant at which any answer can change is a
breakpoint, and between two breakpoints the verdict for a given set of facts (provider,
country, subdivisions, anonymizer flags, registered country, account tier) is constant. So a
verdict is computed once per distinct set of facts and time segment, then served from a
dictionary; a decision is that verdict plus an id, a timestamp and the geo evidence.
"""

from __future__ import annotations

import bisect
import datetime as dt
import itertools
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

from regiongate.errors import InvalidRequestError, UnknownProviderError
from regiongate.geo import LOCATED, NOT_ROUTABLE, Geolocator, GeoResult, Place
from regiongate.policy import SEVERITY, PolicySet, Provenance, ProviderPolicy

ALLOW, DENY, REROUTE, REVIEW = "allow", "deny", "reroute", "review"
OUTCOMES = (ALLOW, DENY, REROUTE, REVIEW)


class ReasonCode:
    """Typed reason codes; the complete vocabulary a decision can report."""

    COUNTRY_LISTED = "COUNTRY_LISTED"
    COUNTRY_NOT_DENYLISTED = "COUNTRY_NOT_DENYLISTED"
    NO_PUBLISHED_COUNTRY_LIST = "NO_PUBLISHED_COUNTRY_LIST"
    COUNTRY_NOT_SUPPORTED = "COUNTRY_NOT_SUPPORTED"
    COUNTRY_DENYLISTED = "COUNTRY_DENYLISTED"
    SANCTIONED_JURISDICTION = "SANCTIONED_JURISDICTION"
    SUBDIVISION_EXCLUDED = "SUBDIVISION_EXCLUDED"
    SUBDIVISION_UNKNOWN = "SUBDIVISION_UNKNOWN"
    ENFORCEMENT_NOT_ACTIVE = "ENFORCEMENT_NOT_ACTIVE"
    ACCOUNT_CONDITION_MET = "ACCOUNT_CONDITION_MET"
    ACCOUNT_TIER_REQUIRED = "ACCOUNT_TIER_REQUIRED"
    ANONYMIZER_FLAGGED = "ANONYMIZER_FLAGGED"
    REGISTERED_COUNTRY_MISMATCH = "REGISTERED_COUNTRY_MISMATCH"
    PROVIDER_AVAILABILITY_UNCONFIRMED = "PROVIDER_AVAILABILITY_UNCONFIRMED"
    PROVIDER_NOT_EFFECTIVE = "PROVIDER_NOT_EFFECTIVE"
    MODEL_RULE_APPLIED = "MODEL_RULE_APPLIED"
    ADDRESS_NOT_ROUTABLE = "ADDRESS_NOT_ROUTABLE"
    COUNTRY_UNKNOWN = "COUNTRY_UNKNOWN"
    REROUTED = "REROUTED"


@dataclass(frozen=True, slots=True)
class Reason:
    code: str
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
    outcome: str
    reasons: tuple[Reason, ...]
    rule: Rule

    def to_dict(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "outcome": self.outcome,
            "reasons": [r.to_dict() for r in self.reasons],
            "rule": self.rule.to_dict(),
        }


@dataclass(frozen=True, slots=True)
class Verdict:
    """The time- and caller-independent part of a decision; shared between decisions."""

    provider: str
    outcome: str
    reasons: tuple[Reason, ...]
    rule: Rule
    alternatives: tuple[Alternative, ...] = ()
    excluded: tuple[Alternative, ...] = ()
    serve_from_regions: tuple[str, ...] | None = None
    applied_policies: tuple[str, ...] = ()

    @property
    def reason_codes(self) -> tuple[str, ...]:
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


@dataclass(frozen=True, slots=True)
class _Check:
    action: str
    reason: Reason
    rule: Rule


class Facts(NamedTuple):
    """What the policy looks at; with the time segment, the memo key of a verdict."""

    status: str
    country: str | None
    subdivisions: tuple[str, ...]
    subdivision_data: bool
    anonymizers: frozenset[str]
    registered_country: str | None
    tier: str | None


def facts_from_geo(geo: GeoResult, tier: str | None) -> Facts:
    flags = geo.anonymizers
    if flags and len(flags) > 1 and "anonymous" in flags:
        # MaxMind sets is_anonymous alongside every specific flag; judge by the specific one.
        flags = flags - {"anonymous"}
    return Facts(
        geo.status,
        geo.country,
        geo.subdivisions,
        geo.has_subdivision_data or bool(geo.subdivisions),
        flags,
        geo.registered_country,
        tier,
    )


_MASK74 = (1 << 74) - 1
_MASK48 = (1 << 48) - 1


def new_sequence() -> Iterator[int]:
    """A decision sequence seeded at random; ``next`` on an ``itertools.count`` is atomic
    under the GIL, so no lock is needed."""
    return itertools.count(int.from_bytes(os.urandom(9), "big") >> 2)


_id_prefix: tuple[int, int, str] = (-1, -1, "")


def format_decision_id(sequence: int, now_ns: int) -> str:
    """A time-ordered decision id in UUIDv7 layout: 48-bit Unix ms, version 7, then the low
    74 bits of the per-process sequence (12 bits, the variant, 62 bits), so ids sort by
    creation time and never repeat in a process.

    Everything but the last 48 bits changes at most once a millisecond, so that prefix is
    kept from the previous call (one tuple, replaced whole, so threads cannot tear it)."""
    global _id_prefix  # noqa: PLW0603 - a one-entry cache
    ms = now_ns // 1_000_000
    c = sequence & _MASK74
    high = c >> 48
    cached = _id_prefix
    if cached[0] != ms or cached[1] != high:
        h = (ms << 32 | 0x7000 << 16 | 0x8000 | high >> 14 << 16 | high & 0x3FFF).to_bytes(10).hex()
        cached = _id_prefix = (ms, high, f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-")
    return cached[2] + (c & _MASK48).to_bytes(6).hex()


def iso_time(ns: int) -> str:
    """UTC timestamp with milliseconds, computed in integers so every encoder agrees."""
    seconds, rest = divmod(ns, 1_000_000_000)
    stamp = dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{rest // 1_000_000:03d}Z"


class Decision:
    """One answer to one request: the verdict, the evidence, and when and under what policy.

    Built on every request, so the id and the geo result are derived on first use: ``geo`` is
    either given or drawn from the shared ``Place`` answer of the caller's network."""

    __slots__ = (
        "_geo",
        "_place",
        "account_id",
        "account_tier",
        "decided_at_ns",
        "evaluated_at",
        "ip",
        "model",
        "policy_version",
        "provider",
        "sequence",
        "verdict",
    )

    def __init__(
        self,
        sequence: int,
        decided_at_ns: int,
        evaluated_at: int,
        provider: str,
        model: str | None,
        account_id: str | None,
        account_tier: str | None,
        verdict: Verdict,
        policy_version: str,
        ip: str,
        geo: GeoResult | None,
        place: Place | None = None,
    ) -> None:
        self.sequence = sequence
        self.decided_at_ns = decided_at_ns
        self.evaluated_at = evaluated_at
        self.provider = provider
        self.model = model
        self.account_id = account_id
        self.account_tier = account_tier
        self.verdict = verdict
        self.policy_version = policy_version
        self.ip = ip
        self._geo = geo
        self._place = place

    @property
    def geo(self) -> GeoResult:
        geo = self._geo
        if geo is None:
            assert self._place is not None
            geo = self._geo = self._place.geo_for(self.ip)
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
        return format_decision_id(self.sequence, self.decided_at_ns)

    @property
    def outcome(self) -> str:
        return self.verdict.outcome

    @property
    def decided_at(self) -> str:
        return iso_time(self.decided_at_ns)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "decision_id": self.decision_id,
            "decided_at": self.decided_at,
            "evaluated_at": iso_time(self.evaluated_at * 1_000_000_000),
            "provider": self.provider,
            "model": self.model,
            "account": {"id": self.account_id, "tier": self.account_tier},
            "policy_version": self.policy_version,
        }
        out.update(self.verdict.to_dict())
        out["geo"] = self.geo.to_dict()
        return out


class Engine:
    """Decides requests against one policy set; verdicts are memoised per facts and segment."""

    def __init__(self, policies: PolicySet, geolocator: Geolocator | None = None) -> None:
        self.policies = policies
        self.geolocator = geolocator
        points: set[int] = set()
        for policy in (*policies.providers.values(), *policies.baselines):
            points |= policy.breakpoints()
        self._breakpoints = sorted(points)
        self._memo: dict[tuple[Any, ...], Verdict] = {}
        self._simple: dict[tuple[Any, ...], Verdict] = {}
        self._plain: dict[str, tuple[str, ...]] = {pid: (pid,) for pid in policies.providers}
        self._by_facts: dict[tuple[str, object, int], Verdict] = {}
        self._next_sequence = new_sequence().__next__

    # --- public API -------------------------------------------------------------------

    def classify(
        self,
        ip: str,
        provider: str,
        *,
        account_tier: str | None = None,
        account_id: str | None = None,
        model: str | None = None,
        at: int | None = None,
    ) -> Decision:
        """IP string in, decision out. Raises InvalidAddressError / UnknownProviderError.

        The common request (a plain address, no account tier, no model) is decided from
        the caller's network: its shared geo answer and a verdict memoised per provider,
        network answer and time segment; the full geo result is only built if asked for.
        """
        geolocator = self.geolocator
        if geolocator is None:
            raise RuntimeError("this engine has no geolocator")
        if account_tier is None and model is None:
            place = geolocator.place_of(ip)
            if place is not None:
                now_ns = time.time_ns()
                when = now_ns // 1_000_000_000 if at is None else at
                key = (provider, place.facts, bisect.bisect_right(self._breakpoints, when))
                verdict = self._by_facts.get(key)
                if verdict is None:
                    verdict = self.verdict(provider, facts_from_geo(place.template, None), when)
                    if len(self._by_facts) > 100_000:
                        self._by_facts.clear()
                    self._by_facts[key] = verdict
                return Decision(
                    self._next_sequence(),
                    now_ns,
                    when,
                    provider,
                    None,
                    account_id,
                    None,
                    verdict,
                    self.policies.version,
                    ip,
                    None,
                    place,
                )
        geo = geolocator.locate(ip)
        return self.decide(
            geo, provider, account_tier=account_tier, account_id=account_id, model=model, at=at
        )

    def decide(
        self,
        geo: GeoResult,
        provider: str,
        *,
        account_tier: str | None = None,
        account_id: str | None = None,
        model: str | None = None,
        at: int | None = None,
    ) -> Decision:
        now_ns = time.time_ns()
        when = now_ns // 1_000_000_000 if at is None else at
        if (
            model is None
            and account_tier is None
            and not geo.anonymizers
            and not (geo.subdivisions or geo.registered_country)
        ):
            # Most requests carry only a country: memoise on that alone, skipping Facts.
            key = (
                provider,
                geo.status,
                geo.country,
                geo.has_subdivision_data,
                bisect.bisect_right(self._breakpoints, when),
            )
            verdict = self._simple.get(key)
            if verdict is None:
                verdict = self.verdict(provider, facts_from_geo(geo, None), when)
                self._simple[key] = verdict
        else:
            verdict = self.verdict(provider, facts_from_geo(geo, account_tier), when, model)
        return Decision(
            self._next_sequence(),
            now_ns,
            when,
            provider,
            model,
            account_id,
            account_tier,
            verdict,
            self.policies.version,
            geo.address.original,
            geo,
        )

    def verdict(self, provider: str, facts: Facts, at: int, model: str | None = None) -> Verdict:
        """The memoised verdict for ``facts`` at instant ``at``."""
        applied: tuple[str, ...] | None = self._plain.get(provider) if model is None else None
        if applied is None:
            policy = self.policies.providers.get(provider)
            if policy is None:
                raise UnknownProviderError(provider, self.policies.provider_ids())
            applied = self._applied(policy, model)
        key = (applied, facts, bisect.bisect_right(self._breakpoints, at))
        verdict = self._memo.get(key)
        if verdict is None:
            if facts.tier is not None and not _valid_tier(facts.tier):
                raise InvalidRequestError(f"invalid account tier {facts.tier!r}", "account.tier")
            if len(self._memo) > 100_000:
                self._memo.clear()
            verdict = self._evaluate(applied, facts, at, with_alternatives=True)
            self._memo[key] = verdict
        return verdict

    # --- evaluation ---------------------------------------------------------------------

    def _applied(self, policy: ProviderPolicy, model: str | None) -> tuple[str, ...]:
        if model and policy.model_rules:
            extra = tuple(
                r.apply_policy for r in policy.model_rules if model.startswith(r.model_prefix)
            )
            if extra:
                return (policy.id, *dict.fromkeys(extra))
        return (policy.id,)

    def _evaluate(
        self, applied: tuple[str, ...], facts: Facts, at: int, *, with_alternatives: bool
    ) -> Verdict:
        provider = applied[0]
        if facts.status == NOT_ROUTABLE:
            return Verdict(
                provider,
                REVIEW,
                (
                    Reason(
                        ReasonCode.ADDRESS_NOT_ROUTABLE,
                        "the address is not routable on the public Internet; "
                        "check proxy trust settings",
                    ),
                ),
                Rule("geo/not-routable", None),
                applied_policies=applied,
            )
        if facts.status != LOCATED or facts.country is None:
            return Verdict(
                provider,
                REVIEW,
                (
                    Reason(
                        ReasonCode.COUNTRY_UNKNOWN,
                        "no geo database placed this address in a country",
                    ),
                ),
                Rule("geo/unknown", None),
                applied_policies=applied,
            )
        for baseline in self.policies.baselines:
            checks = _check_policy(baseline, facts, at)
            worst = _worst(checks)
            if worst.action == DENY:
                reasons = tuple(
                    Reason(ReasonCode.SANCTIONED_JURISDICTION, c.reason.message)
                    for c in checks
                    if c.action == DENY
                )
                return Verdict(provider, DENY, reasons, worst.rule, applied_policies=applied)
        checks = []
        for baseline in self.policies.baselines:
            checks += [c for c in _check_policy(baseline, facts, at) if c.action != ALLOW]
        serve_from: tuple[str, ...] | None = None
        for policy_id in applied:
            policy = self.policies.providers[policy_id]
            checks += _check_policy(policy, facts, at)
            regions = _serve_from(policy, facts)
            if regions is not None:
                serve_from = regions
        if len(applied) > 1:
            checks.append(
                _Check(
                    ALLOW,
                    Reason(
                        ReasonCode.MODEL_RULE_APPLIED,
                        "the requested model is also governed by the policy of "
                        + ", ".join(applied[1:]),
                    ),
                    Rule(f"{provider}/model_rules", None),
                )
            )
        worst = _worst(checks)
        reasons = tuple(dict.fromkeys(c.reason for c in checks if c.action == worst.action))
        if worst.action != DENY or not with_alternatives:
            return Verdict(
                provider,
                worst.action,
                reasons,
                worst.rule,
                serve_from_regions=serve_from if worst.action == ALLOW else None,
                applied_policies=applied,
            )
        usable: list[Alternative] = []
        excluded: list[Alternative] = []
        for alt in self.policies.providers[provider].alternatives:
            alt_verdict = self._evaluate((alt,), facts, at, with_alternatives=False)
            option = Alternative(alt, alt_verdict.outcome, alt_verdict.reasons, alt_verdict.rule)
            (usable if alt_verdict.outcome == ALLOW else excluded).append(option)
        if usable:
            reasons += (
                Reason(
                    ReasonCode.REROUTED,
                    f"{len(usable)} alternative provider(s) may serve this caller",
                ),
            )
            return Verdict(
                provider,
                REROUTE,
                reasons,
                worst.rule,
                tuple(usable),
                tuple(excluded),
                applied_policies=applied,
            )
        return Verdict(
            provider, DENY, reasons, worst.rule, (), tuple(excluded), applied_policies=applied
        )


def _valid_tier(tier: str) -> bool:
    return 0 < len(tier) <= 32 and all(c.isalnum() or c in "_-" for c in tier) and tier.islower()


def _worst(checks: list[_Check]) -> _Check:
    best = checks[0]
    for check in checks[1:]:
        if SEVERITY[check.action] > SEVERITY[best.action]:
            best = check
    return best


def _serve_from(policy: ProviderPolicy, facts: Facts) -> tuple[str, ...] | None:
    for cond in policy.account_conditions:
        if facts.country in cond.countries and facts.tier in cond.allowed_tiers:
            return tuple(
                sorted(
                    name
                    for group in policy.regions.values()
                    for name, country in group.items()
                    if country not in cond.exclude_region_countries
                )
            )
    return None


def _check_policy(policy: ProviderPolicy, facts: Facts, at: int) -> list[_Check]:
    """Every rule of one policy applied to the facts; at least one check is returned."""
    pid, country = policy.id, facts.country
    assert country is not None
    rule_list = policy.countries
    name = policy.display_name
    if (policy.effective_from is not None and at < policy.effective_from) or (
        policy.effective_until is not None and at >= policy.effective_until
    ):
        return [
            _Check(
                DENY,
                Reason(
                    ReasonCode.PROVIDER_NOT_EFFECTIVE,
                    f"{name} policy is not in effect at this time",
                ),
                Rule(f"{pid}/effective", None),
            )
        ]
    index, period = policy.enforcement_at(at)
    violation = period.on_violation
    countries_rule = Rule(f"{pid}/countries", rule_list.provenance)
    checks: list[_Check] = []
    listed = rule_list.listed(country, at)
    if rule_list.completeness == "unpublished":
        assert rule_list.unlisted is not None
        checks.append(
            _Check(
                rule_list.unlisted,
                Reason(
                    ReasonCode.NO_PUBLISHED_COUNTRY_LIST,
                    f"{name} publishes no caller-country list; policy says '{rule_list.unlisted}' "
                    "for unlisted callers",
                ),
                countries_rule,
            )
        )
    elif rule_list.mode == "allowlist" and listed:
        checks.append(
            _Check(
                ALLOW,
                Reason(ReasonCode.COUNTRY_LISTED, f"{country} is on {name}'s supported list"),
                countries_rule,
            )
        )
    elif rule_list.mode == "denylist" and not listed:
        checks.append(
            _Check(
                ALLOW,
                Reason(ReasonCode.COUNTRY_NOT_DENYLISTED, f"{country} is not on {name}'s list"),
                countries_rule,
            )
        )
    else:
        code = (
            ReasonCode.COUNTRY_NOT_SUPPORTED
            if rule_list.mode == "allowlist"
            else ReasonCode.COUNTRY_DENYLISTED
        )
        text = (
            f"{country} is not on {name}'s supported list"
            if rule_list.mode == "allowlist"
            else f"{country} is on {name}'s list"
        )
        checks.append(_Check(violation, Reason(code, text), countries_rule))
        if violation == REVIEW:
            checks.append(
                _Check(
                    REVIEW,
                    Reason(
                        ReasonCode.ENFORCEMENT_NOT_ACTIVE,
                        period.note or f"{name} did not enforce this rule at this time",
                    ),
                    Rule(f"{pid}/enforcement[{index}]", period.provenance),
                )
            )
    if policy.subdivisions is not None:
        excluded = policy.subdivisions.excluded_in(country, at)
        if excluded:
            sub_rule = Rule(f"{pid}/subdivisions", policy.subdivisions.provenance)
            hit = [s for s in facts.subdivisions if s in excluded]
            if hit:
                checks.append(
                    _Check(
                        violation,
                        Reason(
                            ReasonCode.SUBDIVISION_EXCLUDED,
                            f"{', '.join(hit)} is excluded by {name}",
                        ),
                        sub_rule,
                    )
                )
            elif not facts.subdivisions:
                checks.append(
                    _Check(
                        REVIEW,
                        Reason(
                            ReasonCode.SUBDIVISION_UNKNOWN,
                            f"{name} excludes parts of {country} ({', '.join(excluded)}) "
                            "and the geo "
                            "database gives no subdivision",
                        ),
                        sub_rule,
                    )
                )
    for cond in policy.account_conditions:
        if country in cond.countries:
            cond_rule = Rule(f"{pid}/account_conditions/{cond.id}", cond.provenance)
            if facts.tier in cond.allowed_tiers:
                checks.append(
                    _Check(
                        ALLOW,
                        Reason(
                            ReasonCode.ACCOUNT_CONDITION_MET,
                            f"{country} callers are served for "
                            f"{'/'.join(sorted(cond.allowed_tiers))} "
                            "accounts",
                        ),
                        cond_rule,
                    )
                )
            else:
                checks.append(
                    _Check(
                        cond.otherwise,
                        Reason(
                            ReasonCode.ACCOUNT_TIER_REQUIRED,
                            f"{country} callers need an account tier of "
                            f"{' or '.join(sorted(cond.allowed_tiers))}",
                        ),
                        cond_rule,
                    )
                )
    if policy.anonymizers is not None:
        for flag in sorted(facts.anonymizers):
            action = policy.anonymizers[flag]
            if action != ALLOW:
                checks.append(
                    _Check(
                        action,
                        Reason(ReasonCode.ANONYMIZER_FLAGGED, f"address is flagged as {flag}"),
                        Rule(f"{pid}/anonymizers/{flag}", None),
                    )
                )
    if (
        policy.registered_country_mismatch == REVIEW
        and facts.registered_country
        and facts.registered_country != country
    ):
        checks.append(
            _Check(
                REVIEW,
                Reason(
                    ReasonCode.REGISTERED_COUNTRY_MISMATCH,
                    f"located in {country} but registered to {facts.registered_country}",
                ),
                Rule(f"{pid}/registered_country_mismatch", None),
            )
        )
    if policy.status == "unconfirmed" and _worst(checks).action == ALLOW:
        checks.append(
            _Check(
                REVIEW,
                Reason(
                    ReasonCode.PROVIDER_AVAILABILITY_UNCONFIRMED,
                    policy.status_note or f"{name} availability is not confirmed",
                ),
                Rule(f"{pid}/status", rule_list.provenance),
            )
        )
    return checks


def provider_error(decision: Decision, policies: PolicySet) -> tuple[int, dict[str, Any]] | None:
    """The provider's own error response for a refused request (e.g. OpenAI's 403), if known."""
    if decision.outcome not in (DENY, REROUTE):
        return None
    policy = policies.providers.get(decision.provider)
    if policy is None or not policy.error_response:
        return None
    return int(policy.error_response["http_status"]), policy.error_response["body"]
