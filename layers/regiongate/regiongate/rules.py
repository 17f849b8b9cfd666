"""Read-only views of the policy set for the rules API and CLI (no geolocation involved)."""

from __future__ import annotations

from typing import Any

from regiongate.checks import CallerFacts
from regiongate.engine import Engine
from regiongate.errors import InvalidRequestError, UnknownProviderError
from regiongate.geo import LOCATED
from regiongate.policy import PolicySet, iso_countries
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
