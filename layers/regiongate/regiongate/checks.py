"""The rules: what a policy set says about one set of caller facts at one instant.

Each rule of a provider policy is one step (a function from the policy, the facts and the
instant to the checks it makes); ``check_policy`` runs the steps in order and ``evaluate``
combines every applicable policy, the baselines and the alternatives into a verdict. Nothing
here is memoised or knows about requests: that is the engine's job.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import NamedTuple

from regiongate.account import AccountFacts
from regiongate.decision import Alternative, Reason, Rule, Verdict
from regiongate.geo import LOCATED, NOT_ROUTABLE, UNAVAILABLE, GeoResult
from regiongate.policy import (
    LISTED,
    UNCERTAIN,
    UNLISTED,
    AccountRule,
    PolicySet,
    Provenance,
    ProviderPolicy,
)
from regiongate.vocabulary import MISSING_FACT, SEVERITY, Outcome, ReasonCode, specific_anonymizers

ALLOW, DENY, REROUTE, REVIEW = Outcome.ALLOW, Outcome.DENY, Outcome.REROUTE, Outcome.REVIEW


class CallerFacts(NamedTuple):
    """What the policy looks at about a caller; with the time segment, the memo key of a
    verdict. Built from a geo result (``caller_facts``), a recorded decision (replay) or a
    bare country (eligibility)."""

    status: str
    country: str | None
    subdivisions: tuple[str, ...]
    subdivision_data: bool
    anonymizers: frozenset[str]
    registered_country: str | None
    tier: str | None
    account: AccountFacts | None = None  # who the customer is, from a trusted source


def caller_facts(
    geo: GeoResult, tier: str | None, account: AccountFacts | None = None
) -> CallerFacts:
    return CallerFacts(
        geo.status,
        geo.country,
        geo.subdivisions,
        geo.has_subdivision_data or bool(geo.subdivisions),
        specific_anonymizers(geo.anonymizers) if geo.anonymizers else geo.anonymizers,
        geo.registered_country,
        tier,
        account,
    )


@dataclass(frozen=True, slots=True)
class Check:
    """One rule's finding: what it would answer, why, and which rule says so."""

    action: Outcome
    reason: Reason
    rule: Rule


def _check(
    action: str,
    code: ReasonCode,
    message: str,
    rule_id: str,
    source: Provenance | None = None,
) -> Check:
    return Check(Outcome(action), Reason(code, message), Rule(rule_id, source))


def worst(checks: list[Check]) -> Check:
    """The first of the most severe checks."""
    best = checks[0]
    for check in checks[1:]:
        if SEVERITY[check.action] > SEVERITY[best.action]:
            best = check
    return best


# --- the steps: one per rule of a policy, run in this order --------------------------------

Step = Callable[[ProviderPolicy, CallerFacts, int, list[Check]], Iterable[Check]]


def _countries(p: ProviderPolicy, facts: CallerFacts, at: int, _: list[Check]) -> list[Check]:
    rules, name, country = p.countries, p.display_name, str(facts.country)
    rule_id, source = f"{p.id}/countries", rules.provenance
    state = rules.state(country, at)
    listed = state == LISTED
    if rules.completeness == "unpublished":
        text = (
            f"{name} publishes no caller-country list; policy says '{rules.unlisted}' "
            "for unlisted callers"
        )
        return [
            _check(str(rules.unlisted), ReasonCode.NO_PUBLISHED_COUNTRY_LIST, text, rule_id, source)
        ]
    if rules.mode == "allowlist" and listed:
        text = f"{country} is on {name}'s supported list"
        return [_check(ALLOW, ReasonCode.COUNTRY_LISTED, text, rule_id, source)]
    if state == UNCERTAIN:
        text = (
            f"{country} was added to {name}'s list at a date known only as a range, and this "
            "instant falls inside it"
        )
        return [_check(REVIEW, ReasonCode.COUNTRY_DATE_UNCERTAIN, text, rule_id, source)]
    if rules.mode == "denylist" and not listed:
        text = f"{country} is not on {name}'s list"
        return [_check(ALLOW, ReasonCode.COUNTRY_NOT_DENYLISTED, text, rule_id, source)]
    if rules.mode == "allowlist" and state == UNLISTED:
        text = (
            f"{country} is not on {name}'s list, which is known only in part; policy says "
            f"'{rules.unlisted}' for codes it does not name"
        )
        code = ReasonCode.COUNTRY_UNLISTED_ON_PARTIAL_LIST
        return [_check(str(rules.unlisted), code, text, rule_id, source)]
    index, period = p.enforcement_at(at)
    if rules.mode == "allowlist":
        code, text = (
            ReasonCode.COUNTRY_NOT_SUPPORTED,
            f"{country} is not on {name}'s supported list",
        )
    else:
        code, text = ReasonCode.COUNTRY_DENYLISTED, f"{country} is on {name}'s list"
    found = [_check(period.on_violation, code, text, rule_id, source)]
    if period.on_violation == REVIEW:
        note = period.note or f"{name} did not enforce this rule at this time"
        rule = f"{p.id}/enforcement[{index}]"
        found.append(
            _check(REVIEW, ReasonCode.ENFORCEMENT_NOT_ACTIVE, note, rule, period.provenance)
        )
    return found


def _subdivisions(p: ProviderPolicy, facts: CallerFacts, at: int, _: list[Check]) -> list[Check]:
    rule = p.subdivisions
    if rule is None:
        return []
    excluded = rule.excluded_in(str(facts.country), at)
    # A subdivision binds whatever country the data labels it with: a Crimean network
    # labelled RU is still in UA-43 (ISO 3166-2 has no Russian code for it).
    hit = [e for e in rule.excluded if e.code in facts.subdivisions and e.active(at)]
    if not excluded and not hit:
        return []
    rule_id, name = f"{p.id}/subdivisions", p.display_name
    if hit:
        found = []
        whole = [e.code for e in hit if e.coverage == "whole"]
        part = [e.code for e in hit if e.coverage == "part"]
        if whole:
            action = p.enforcement_at(at)[1].on_violation
            text = f"{', '.join(whole)} is excluded by {name}"
            code = ReasonCode.SUBDIVISION_EXCLUDED
            found.append(_check(action, code, text, rule_id, rule.provenance))
        if part:
            # The rule covers only part of the subdivision (OFAC: the so-called DNR/LNR are
            # not the whole oblasts) and the geo data cannot tell which part.
            text = f"{name} covers only part of {', '.join(part)}; the geo data cannot tell which"
            code = ReasonCode.SUBDIVISION_PARTLY_COVERED
            found.append(_check(REVIEW, code, text, rule_id, rule.provenance))
        return found
    if facts.subdivisions:
        return []
    text = (
        f"{name} excludes parts of {facts.country} ({', '.join(excluded)}) and the geo "
        "database gives no subdivision"
    )
    return [_check(REVIEW, ReasonCode.SUBDIVISION_UNKNOWN, text, rule_id, rule.provenance)]


def _account_conditions(
    p: ProviderPolicy, facts: CallerFacts, at: int, _: list[Check]
) -> list[Check]:
    found = []
    for cond in p.account_conditions:
        if facts.country not in cond.countries:
            continue
        rule_id = f"{p.id}/account_conditions/{cond.id}"
        if facts.tier in cond.allowed_tiers:
            tiers = "/".join(sorted(cond.allowed_tiers))
            text = f"{facts.country} callers are served for {tiers} accounts"
            found.append(
                _check(ALLOW, ReasonCode.ACCOUNT_CONDITION_MET, text, rule_id, cond.provenance)
            )
        elif cond.allowed_tiers:
            tiers = " or ".join(sorted(cond.allowed_tiers))
            text = f"{facts.country} callers need an account tier of {tiers}"
            code = ReasonCode.ACCOUNT_TIER_REQUIRED
            found.append(_check(cond.otherwise, code, text, rule_id, cond.provenance))
        else:
            text = (
                f"{p.display_name} serves {facts.country} callers only if the customer is "
                "eligible, which the request cannot show"
            )
            code = ReasonCode.ACCOUNT_ELIGIBILITY_UNVERIFIED
            found.append(_check(cond.otherwise, code, text, rule_id, cond.provenance))
    return found


_NO_FACTS = AccountFacts()


def _served(p: ProviderPolicy, country: str, at: int) -> bool:
    """Whether this policy's country list serves ``country`` at ``at`` (uncertain: no)."""
    state = p.countries.state(country, at)
    return state == LISTED if p.countries.mode == "allowlist" else state not in (LISTED, UNCERTAIN)


def judge_account_rule(
    p: ProviderPolicy, rule: AccountRule, facts: CallerFacts, at: int
) -> list[Check]:
    """One rule over who the customer is. A fact it needs and the request lacks gives
    ``rule.missing`` (review) with a reason naming the fact: never a silent pass."""
    account = facts.account or _NO_FACTS
    user = account.end_user_country or facts.country
    if not rule.active(at) or (rule.user_countries and user not in rule.user_countries):
        return []
    rule_id, source, name = f"{p.id}/account_rules/{rule.id}", rule.provenance, p.display_name

    def missing(fact: str) -> list[Check]:
        text = f"{name} rule {rule.id} needs the account's {fact}, which the request did not carry"
        return [_check(rule.missing, MISSING_FACT[fact], text, rule_id, source)]

    def met(text: str) -> list[Check]:
        return [_check(ALLOW, ReasonCode.ACCOUNT_RULE_MET, text, rule_id, source)]

    def fails(code: ReasonCode, text: str) -> list[Check]:
        return [_check(rule.otherwise, code, text, rule_id, source)]

    if rule.require == "fact":
        fact = str(rule.fact)
        value = facts.tier if fact == "tier" else getattr(account, fact)
        if value is None:
            return missing(fact)
        wanted = " or ".join(sorted(rule.allowed))
        if value in rule.allowed:
            return met(f"{name} requires {fact} {wanted}: the account's is {value}")
        text = f"{name} requires {fact} {wanted} ({rule.id}); the account's is {value}"
        return fails(ReasonCode.ACCOUNT_FACT_NOT_ACCEPTED, text)
    if rule.require == "end_user":
        # Judged when the caller states an end user; otherwise the caller is the user.
        end_user = account.end_user_country
        if end_user is None:
            return []
        if _served(p, end_user, at):
            return met(f"the end user's country {end_user} is served by {name}")
        text = f"the end user's country {end_user} is not served by {name}"
        return fails(ReasonCode.END_USER_COUNTRY_NOT_SUPPORTED, text)
    if account.country is None:
        return missing("country")
    if not _served(p, account.country, at):
        text = f"the account is headquartered in {account.country}, which {name} does not serve"
        return fails(ReasonCode.OWNERSHIP_IN_UNSUPPORTED_REGION, text)
    share = account.parent_ownership
    if share is None:
        return missing("parent_ownership")
    threshold = rule.more_than or 0.0
    if share > threshold:
        parent = account.parent_country
        if parent is None:
            return missing("parent_country")
        if not _served(p, parent, at):
            text = (
                f"the account is {share:g}% owned by a company headquartered in {parent}, which "
                f"{name} does not serve (more than {threshold:g}% is refused)"
            )
            return fails(ReasonCode.OWNERSHIP_IN_UNSUPPORTED_REGION, text)
    return met(f"the account and any majority owner are headquartered where {name} serves")


def _account_rules(p: ProviderPolicy, facts: CallerFacts, at: int, _: list[Check]) -> list[Check]:
    """The rules over who the customer is that apply to every model (model-scoped ones are
    added by ``evaluate`` for the requested model)."""
    found: list[Check] = []
    for rule in p.account_rules:
        if rule.models is None:
            found += judge_account_rule(p, rule, facts, at)
    return found


def _anonymizers(p: ProviderPolicy, facts: CallerFacts, at: int, _: list[Check]) -> list[Check]:
    actions = p.anonymizers
    if actions is None:
        return []
    return [
        _check(
            actions[flag],
            ReasonCode.ANONYMIZER_FLAGGED,
            f"address is flagged as {flag}",
            f"{p.id}/anonymizers/{flag}",
        )
        for flag in sorted(facts.anonymizers)
        if actions[flag] != ALLOW
    ]


def _registered_country(
    p: ProviderPolicy, facts: CallerFacts, at: int, _: list[Check]
) -> list[Check]:
    registered = facts.registered_country
    if p.registered_country_mismatch != REVIEW or not registered or registered == facts.country:
        return []
    text = f"located in {facts.country} but registered to {registered}"
    rule_id = f"{p.id}/registered_country_mismatch"
    return [_check(REVIEW, ReasonCode.REGISTERED_COUNTRY_MISMATCH, text, rule_id)]


def _unconfirmed(
    p: ProviderPolicy, facts: CallerFacts, at: int, so_far: list[Check]
) -> list[Check]:
    """A provider whose availability is unconfirmed: what would be allowed goes to review."""
    if p.status != "unconfirmed" or worst(so_far).action != ALLOW:
        return []
    text = p.status_note or f"{p.display_name} availability is not confirmed"
    rule_id = f"{p.id}/status"
    code = ReasonCode.PROVIDER_AVAILABILITY_UNCONFIRMED
    return [_check(REVIEW, code, text, rule_id, p.countries.provenance)]


STEPS: tuple[Step, ...] = (
    _countries,
    _subdivisions,
    _account_conditions,
    _account_rules,
    _anonymizers,
    _registered_country,
    _unconfirmed,
)


def check_policy(policy: ProviderPolicy, facts: CallerFacts, at: int) -> list[Check]:
    """Every rule of one policy applied to located facts; at least one check is returned."""
    if (policy.effective_from is not None and at < policy.effective_from) or (
        policy.effective_until is not None and at >= policy.effective_until
    ):
        text = f"{policy.display_name} policy is not in effect at this time"
        rule_id = f"{policy.id}/effective"
        return [_check(DENY, ReasonCode.PROVIDER_NOT_EFFECTIVE, text, rule_id)]
    checks: list[Check] = []
    for step in STEPS:
        checks.extend(step(policy, facts, at, checks))
    return checks


# --- combining policies into a verdict ------------------------------------------------------


def _serve_from(policy: ProviderPolicy, facts: CallerFacts) -> tuple[str, ...] | None:
    """Regions an account condition lets this caller be served from: never a group only some
    accounts may use (e.g. Azure Government), never an access-restricted region."""
    for cond in policy.account_conditions:
        if facts.country in cond.countries and facts.tier in cond.allowed_tiers:
            contract = facts.account.contract if facts.account else None
            return tuple(
                sorted(
                    name
                    for group in policy.region_groups.values()
                    if group.eligibility is None or group.eligibility == contract
                    for name in group.offered()
                    if group.regions[name] not in cond.exclude_region_countries
                )
            )
    return None


def _unlocated(provider: str, facts: CallerFacts, applied: tuple[str, ...]) -> Verdict | None:
    if facts.status == UNAVAILABLE:
        reason = Reason(
            ReasonCode.GEO_DATA_UNAVAILABLE,
            "the geo databases could not be read; callers are refused until they can",
        )
        rule = Rule("geo/unavailable", None)
    elif facts.status == NOT_ROUTABLE:
        reason = Reason(
            ReasonCode.ADDRESS_NOT_ROUTABLE,
            "the address is not routable on the public Internet; check proxy trust settings",
        )
        rule = Rule("geo/not-routable", None)
    elif facts.status != LOCATED or facts.country is None:
        reason = Reason(
            ReasonCode.COUNTRY_UNKNOWN, "no geo database placed this address in a country"
        )
        rule = Rule("geo/unknown", None)
    else:
        return None
    return Verdict(
        provider=provider, outcome=REVIEW, reasons=(reason,), rule=rule, applied_policies=applied
    )


def evaluate(
    policies: PolicySet,
    applied: tuple[str, ...],
    facts: CallerFacts,
    at: int,
    *,
    with_alternatives: bool = True,
    model_actions: tuple[int, ...] = (),
    scoped_rules: tuple[int, ...] = (),
) -> Verdict:
    """The verdict of the policies ``applied`` (the provider's, then any its model rules
    add) and the baselines for ``facts`` at ``at``; a refusal lists the alternatives.
    ``model_actions`` are the requested provider's model rules that decide by an action
    (an id that hides its model: review)."""
    provider = applied[0]
    unlocated = _unlocated(provider, facts, applied)
    if unlocated is not None:
        return unlocated
    for baseline in policies.baselines:
        checks = check_policy(baseline, facts, at)
        top = worst(checks)
        if top.action == DENY:
            reasons = tuple(
                Reason(ReasonCode.SANCTIONED_JURISDICTION, c.reason.message)
                for c in checks
                if c.action == DENY
            )
            return Verdict(
                provider=provider,
                outcome=DENY,
                reasons=reasons,
                rule=top.rule,
                applied_policies=applied,
            )
    checks = []
    for baseline in policies.baselines:
        checks += [c for c in check_policy(baseline, facts, at) if c.action != ALLOW]
    serve_from: tuple[str, ...] | None = None
    for policy_id in applied:
        policy = policies.providers[policy_id]
        checks += check_policy(policy, facts, at)
        regions = _serve_from(policy, facts)
        if regions is not None:
            serve_from = regions
    requested = policies.providers[provider]
    for index in model_actions:
        model_rule = requested.model_rules[index]
        text = model_rule.note or (
            "the model id does not say which model it runs, so the model's own terms cannot "
            "be applied"
        )
        rule_id = f"{provider}/model_rules[{index}]"
        action = model_rule.action or REVIEW
        checks.append(
            _check(action, ReasonCode.MODEL_NOT_IDENTIFIED, text, rule_id, model_rule.provenance)
        )
    for index in scoped_rules:
        checks += judge_account_rule(requested, requested.account_rules[index], facts, at)
    if len(applied) > 1:
        text = "the requested model is also governed by the policy of " + ", ".join(applied[1:])
        checks.append(_check(ALLOW, ReasonCode.MODEL_RULE_APPLIED, text, f"{provider}/model_rules"))
    top = worst(checks)
    reasons = tuple(dict.fromkeys(c.reason for c in checks if c.action == top.action))
    if top.action != DENY or not with_alternatives:
        return Verdict(
            provider=provider,
            outcome=top.action,
            reasons=reasons,
            rule=top.rule,
            serve_from_regions=serve_from if top.action == ALLOW else None,
            applied_policies=applied,
        )
    usable: list[Alternative] = []
    excluded: list[Alternative] = []
    for alt in policies.providers[provider].alternatives:
        alt_verdict = evaluate(policies, (alt,), facts, at, with_alternatives=False)
        option = Alternative(alt, alt_verdict.outcome, alt_verdict.reasons, alt_verdict.rule)
        (usable if alt_verdict.outcome == ALLOW else excluded).append(option)
    if usable:
        reasons += (
            Reason(
                ReasonCode.REROUTED, f"{len(usable)} alternative provider(s) may serve this caller"
            ),
        )
    return Verdict(
        provider=provider,
        outcome=REROUTE if usable else DENY,
        reasons=reasons,
        rule=top.rule,
        alternatives=tuple(usable),
        excluded=tuple(excluded),
        applied_policies=applied,
    )
