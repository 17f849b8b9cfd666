"""The words every layer shares: outcomes, reason codes, account tiers and anonymizer flags.

Each is defined here once and used by the policy loader, the engine, the HTTP models, the
handlers, the CLI and replay, so a tier the API accepts is a tier the engine accepts, and an
outcome is spelled one way everywhere. Outcomes and reason codes are ``StrEnum``: they compare
equal to (and encode in JSON as) their plain text, which records and policy files use.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from enum import StrEnum

from regiongate.errors import InvalidRequestError


class Outcome(StrEnum):
    """What a decision answers. Policies act with the first three (see ``ACTIONS``)."""

    ALLOW = "allow"
    REVIEW = "review"
    DENY = "deny"
    REROUTE = "reroute"


# What a policy rule may say, from mildest to most severe: the worst check decides.
SEVERITY: dict[str, int] = {Outcome.ALLOW: 0, Outcome.REVIEW: 1, Outcome.DENY: 2}
ACTIONS: tuple[Outcome, ...] = (Outcome.ALLOW, Outcome.REVIEW, Outcome.DENY)
REFUSALS: frozenset[Outcome] = frozenset((Outcome.DENY, Outcome.REROUTE))


class ReasonCode(StrEnum):
    """Typed reason codes; the complete vocabulary a decision can report."""

    COUNTRY_LISTED = "COUNTRY_LISTED"
    COUNTRY_NOT_DENYLISTED = "COUNTRY_NOT_DENYLISTED"
    NO_PUBLISHED_COUNTRY_LIST = "NO_PUBLISHED_COUNTRY_LIST"
    COUNTRY_NOT_SUPPORTED = "COUNTRY_NOT_SUPPORTED"
    COUNTRY_UNLISTED_ON_PARTIAL_LIST = "COUNTRY_UNLISTED_ON_PARTIAL_LIST"
    COUNTRY_DATE_UNCERTAIN = "COUNTRY_DATE_UNCERTAIN"
    COUNTRY_DENYLISTED = "COUNTRY_DENYLISTED"
    SANCTIONED_JURISDICTION = "SANCTIONED_JURISDICTION"
    SUBDIVISION_EXCLUDED = "SUBDIVISION_EXCLUDED"
    SUBDIVISION_UNKNOWN = "SUBDIVISION_UNKNOWN"
    SUBDIVISION_PARTLY_COVERED = "SUBDIVISION_PARTLY_COVERED"
    ENFORCEMENT_NOT_ACTIVE = "ENFORCEMENT_NOT_ACTIVE"
    ACCOUNT_CONDITION_MET = "ACCOUNT_CONDITION_MET"
    ACCOUNT_TIER_REQUIRED = "ACCOUNT_TIER_REQUIRED"
    ACCOUNT_ELIGIBILITY_UNVERIFIED = "ACCOUNT_ELIGIBILITY_UNVERIFIED"
    ACCOUNT_RULE_MET = "ACCOUNT_RULE_MET"
    ACCOUNT_FACT_NOT_ACCEPTED = "ACCOUNT_FACT_NOT_ACCEPTED"
    OWNERSHIP_IN_UNSUPPORTED_REGION = "OWNERSHIP_IN_UNSUPPORTED_REGION"
    END_USER_COUNTRY_NOT_SUPPORTED = "END_USER_COUNTRY_NOT_SUPPORTED"
    # A rule needs a fact the request did not carry: review, naming the fact.
    MISSING_ACCOUNT_COUNTRY = "MISSING_ACCOUNT_COUNTRY"
    MISSING_PARENT_COUNTRY = "MISSING_PARENT_COUNTRY"
    MISSING_PARENT_OWNERSHIP = "MISSING_PARENT_OWNERSHIP"
    MISSING_VERIFICATION = "MISSING_VERIFICATION"
    MISSING_CONTRACT = "MISSING_CONTRACT"
    MISSING_TIER = "MISSING_TIER"
    ANONYMIZER_FLAGGED = "ANONYMIZER_FLAGGED"
    REGISTERED_COUNTRY_MISMATCH = "REGISTERED_COUNTRY_MISMATCH"
    PROVIDER_AVAILABILITY_UNCONFIRMED = "PROVIDER_AVAILABILITY_UNCONFIRMED"
    PROVIDER_NOT_EFFECTIVE = "PROVIDER_NOT_EFFECTIVE"
    MODEL_RULE_APPLIED = "MODEL_RULE_APPLIED"
    MODEL_NOT_IDENTIFIED = "MODEL_NOT_IDENTIFIED"
    ADDRESS_NOT_ROUTABLE = "ADDRESS_NOT_ROUTABLE"
    COUNTRY_UNKNOWN = "COUNTRY_UNKNOWN"
    GEO_DATA_UNAVAILABLE = "GEO_DATA_UNAVAILABLE"
    REROUTED = "REROUTED"


# The reason a rule reports when the request lacks the fact it needs.
MISSING_FACT: dict[str, ReasonCode] = {
    "country": ReasonCode.MISSING_ACCOUNT_COUNTRY,
    "parent_country": ReasonCode.MISSING_PARENT_COUNTRY,
    "parent_ownership": ReasonCode.MISSING_PARENT_OWNERSHIP,
    "verification": ReasonCode.MISSING_VERIFICATION,
    "contract": ReasonCode.MISSING_CONTRACT,
    "tier": ReasonCode.MISSING_TIER,
}

# --- account tiers -------------------------------------------------------------------------

# The one tier rule: 1-32 of ASCII lower-case letters, digits, '_' and '-'. The HTTP models
# hand this pattern to pydantic (so it is in the OpenAPI document); everything else calls
# ``valid_tier``. A test proves the two agree.
TIER_PATTERN = r"^[a-z0-9_-]{1,32}$"
_TIER = re.compile(TIER_PATTERN)


def valid_tier(tier: str) -> bool:
    """Whether ``tier`` is a well-formed account tier name."""
    return _TIER.fullmatch(tier) is not None


def check_tier(tier: str | None, field: str = "account.tier") -> str | None:
    """``tier`` itself when absent or well formed; InvalidRequestError (400) otherwise."""
    if tier is not None and not valid_tier(tier):
        raise InvalidRequestError(f"invalid account tier {tier!r}", field)
    return tier


# --- anonymizer flags ----------------------------------------------------------------------

ANONYMOUS = "anonymous"
ANONYMIZER_FLAGS: tuple[str, ...] = (
    ANONYMOUS,
    "vpn",
    "hosting",
    "public_proxy",
    "residential_proxy",
    "tor",
)


def specific_anonymizers(flags: Iterable[str]) -> frozenset[str]:
    """The flags a policy judges: MaxMind sets ``anonymous`` alongside every specific flag,
    so when a specific one is present the generic one is dropped."""
    found = frozenset(flags)
    if len(found) > 1 and ANONYMOUS in found:
        return found - {ANONYMOUS}
    return found
