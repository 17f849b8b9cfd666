"""Read-only views of the policy set for the rules API and CLI (no geolocation involved)."""

from __future__ import annotations

from typing import Any

from regiongate.checks import CallerFacts
from regiongate.engine import Engine
from regiongate.errors import InvalidRequestError, UnknownProviderError
from regiongate.geo import LOCATED
from regiongate.ids import iso_time
from regiongate.policy import DatedCode, PolicySet, Provenance, ProviderPolicy, iso_countries
from regiongate.vocabulary import Outcome, check_tier


def provider_summaries(policies: PolicySet) -> dict[str, Any]:
    return {
        "policy_version": policies.version,
        "providers": [
            {
                "provider": p.id,
                "display_name": p.display_name,
                "mode": p.countries.mode,
                "completeness": p.countries.completeness,
                "entries": len(p.countries.entries),
                "as_of": p.countries.provenance.as_of,
            }
            for p in sorted(policies.providers.values(), key=lambda p: p.id)
        ],
    }


def policy_document(policies: PolicySet, provider: str) -> dict[str, Any]:
    policy = policies.providers.get(provider)
    if policy is None:
        raise UnknownProviderError(provider, policies.provider_ids())
    return {
        "policy_version": policies.version,
        "rules": describe_policy(policy),
        "policy": policy.document,
        "baselines": [b.document for b in policies.baselines],
    }


def eligibility(
    engine: Engine,
    provider: str,
    country: str,
    subdivision: str | None = None,
    account_tier: str | None = None,
) -> dict[str, Any]:
    """Would a caller in ``country`` (optionally a subdivision) be served now, and if not, by
    whom? Anonymizer and registered-country checks do not apply to a bare country."""
    country = country.upper()
    if country not in iso_countries():
        raise InvalidRequestError(f"unknown ISO 3166-1 country code {country!r}", "country")
    subdivisions: tuple[str, ...] = ()
    if subdivision:
        subdivision = subdivision.upper()
        if subdivision[:2] != country:
            raise InvalidRequestError(
                f"subdivision {subdivision} is not in {country}", "subdivision"
            )
        subdivisions = (subdivision,)
    facts = CallerFacts(
        status=LOCATED,
        country=country,
        subdivisions=subdivisions,
        subdivision_data=bool(subdivisions),
        anonymizers=frozenset(),
        registered_country=None,
        tier=check_tier(account_tier, "account_tier"),
    )
    verdict = engine.verdict(provider, facts, engine.clock() // 1_000_000_000)
    data = verdict.to_dict()
    return {
        "provider": provider,
        "country": country,
        "subdivision": subdivision,
        "account_tier": account_tier,
        "allowed": verdict.outcome == Outcome.ALLOW,
        "outcome": verdict.outcome,
        "reasons": data["reasons"],
        "rule": data["rule"],
        "alternatives": data.get("alternatives", []),
        "excluded_alternatives": data.get("excluded_alternatives", []),
        "policy_version": engine.policies.version,
    }


def _day(stamp: int | None, open_end: str = "") -> str:
    return iso_time(stamp * 1_000_000_000)[:10] if stamp is not None else open_end


def _dated(entry: DatedCode) -> str:
    """A list entry with what is uncertain about it: ``GL?2026-05-27..2026-11-23``."""
    text = entry.code
    if entry.certain_from is not None:
        text += f"?{_day(entry.effective_from)}..{_day(entry.certain_from)}"
    elif entry.effective_from is not None or entry.effective_until is not None:
        text += f"[{_day(entry.effective_from)}..{_day(entry.effective_until)})"
    if entry.basis == "inferred":
        text += "~"
    if entry.coverage == "part":
        text += "(part)"
    return text


def _cited(provenance: Provenance) -> str:
    checked = dict(provenance.extra).get("last_checked")
    return f"{provenance.source_url} (as of {provenance.as_of}" + (
        f", checked {checked})" if checked else ")"
    )


def describe_policy(policy: ProviderPolicy) -> list[str]:
    """One policy as a person reads it: every rule with its source and date. Entries read
    ``CODE?FROM..TO`` when added at a date known only as a range, ``~`` when inferred."""
    c = policy.countries
    lines = [
        f"{policy.id}: {policy.display_name} ({policy.kind}, {policy.status})",
        f"  countries  {c.mode}, {c.completeness}, {len(c.entries)} entries"
        + (f", unlisted → {c.unlisted}" if c.unlisted else ""),
    ]
    if c.entries:
        lines.append("             " + " ".join(_dated(e) for e in c.entries))
    if c.refused:
        lines.append("  refused    " + " ".join(_dated(e) for e in c.refused))
    lines.append(f"  source     {_cited(c.provenance)}")
    lines.append(f"             {c.provenance.note}")
    if policy.subdivisions:
        codes = " ".join(_dated(e) for e in policy.subdivisions.excluded)
        lines.append(f"  excluded   {codes} ({policy.subdivisions.basis})")
        lines.append(f"  source     {_cited(policy.subdivisions.provenance)}")
    for period in policy.enforcement:
        span = f"{_day(period.effective_from, '-∞')} … {_day(period.effective_until, '∞')}"
        lines.append(f"  enforce    {span}: {period.on_violation}")
    for cond in policy.account_conditions:
        who = "/".join(sorted(cond.allowed_tiers)) or "eligible customers (no fact shows it)"
        lines.append(
            f"  condition  {cond.id}: {','.join(sorted(cond.countries))} only for {who}, "
            f"otherwise {cond.otherwise}"
        )
        lines.append(f"  source     {_cited(cond.provenance)}")
    for account_rule in policy.account_rules:
        lines.append(f"  account    {account_rule.id}: {account_rule.describe()}")
        lines.append(f"  source     {_cited(account_rule.provenance)}")
    for index, rule in enumerate(policy.model_rules):
        then = f"apply {rule.apply_policy}" if rule.apply_policy else rule.action
        lines.append(f"  model[{index}]   /{rule.pattern.pattern}/ → {then}")
        if rule.note:
            lines.append(f"             {rule.note}")
        lines.append(f"  source     {_cited(rule.provenance)}")
    for group in policy.region_groups.values():
        names = sorted(group.regions)
        more = "…" if len(names) > 6 else ""
        line = f"  regions    {group.name}: {len(names)} ({', '.join(names[:6])}{more})"
        if group.eligibility:
            line += f"; only for {group.eligibility} accounts"
        lines.append(line)
        for name, note in group.restricted:
            lines.append(f"             {name} access-restricted: {note}")
    if policy.alternatives:
        lines.append(f"  reroute to {', '.join(policy.alternatives)}")
    return lines
