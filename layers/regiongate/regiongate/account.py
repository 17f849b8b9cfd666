"""Account facts: who the customer is, who owns it, and where its end users are.

Some provider terms judge the customer, not the packet: Anthropic refuses entities more than
50% owned by companies headquartered in unsupported regions, Azure in China serves
organisations with a business presence there, Gemini's paid-only rule follows the end user's
country. These facts are inputs a request carries, believed only from trusted sources (a
trusted gateway, the operator's CLI or batch file) and recorded with that source, so every
decision that used them can be audited and replayed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from regiongate.errors import InvalidRequestError, RegiongateError
from regiongate.policy import iso_countries
from regiongate.vocabulary import valid_tier

VERIFICATION_STATES = ("verified", "unverified", "pending")
# Field name in requests -> attribute; the end user's country travels beside the account.
ACCOUNT_FACT_FIELDS = ("country", "parent_country", "parent_ownership", "verification", "contract")
END_USER_FIELD = "end_user_country"


class ForbiddenFactsError(RegiongateError):
    """A caller that is not a trusted source tried to state facts about the account."""

    code = "account_facts_forbidden"
    http_status = 403

    def __init__(self) -> None:
        super().__init__(
            "account facts (country, ownership, verification, contract, end-user country) are "
            "accepted only from callers configured as trusted gateways "
            "(REGIONGATE_TRUSTED_GATEWAY_CIDRS)"
        )


@dataclass(frozen=True, slots=True)
class AccountFacts:
    """What a trusted source says about the customer. ``None`` means not stated (a rule that
    needs it sends the request to review); ``source`` says who stated the rest."""

    country: str | None = None  # of incorporation or headquarters
    parent_country: str | None = None  # headquarters of the ultimate parent
    parent_ownership: float | None = None  # percent of the account the ultimate parent holds
    verification: str | None = None  # provider-side organisation verification (KYC)
    contract: str | None = None  # contract or cloud, e.g. azure_china, azure_government
    end_user_country: str | None = None  # the end user's country, for platforms
    source: str = field(default="", compare=False)

    def to_dict(self) -> dict[str, Any]:
        """The stated facts and their source (for evidence, records and replay)."""
        out: dict[str, Any] = {
            name: getattr(self, name)
            for name in (*ACCOUNT_FACT_FIELDS, END_USER_FIELD)
            if getattr(self, name) is not None
        }
        out["source"] = self.source
        return out


def _country(value: Any, where: str) -> str | None:
    if value is None:
        return None
    code = value.upper() if isinstance(value, str) else value
    if not isinstance(code, str) or code not in iso_countries():
        raise InvalidRequestError(f"unknown ISO 3166-1 country code {value!r}", where)
    return code


def _name(value: Any, where: str, allowed: tuple[str, ...] | None = None) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not valid_tier(value) or (allowed and value not in allowed):
        expected = f"one of {', '.join(allowed)}" if allowed else "a lower-case name"
        raise InvalidRequestError(f"{where} must be {expected}; got {value!r}", where)
    return value


def _share(value: Any, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise InvalidRequestError(f"{where} must be a number from 0 to 100", where) from None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 100:
        raise InvalidRequestError(f"{where} must be a number from 0 to 100", where)
    return float(value)


def account_facts(
    account: Mapping[str, Any] | None,
    end_user_country: Any,
    source: str,
    prefix: str = "account",
) -> AccountFacts | None:
    """Facts from an ``account`` mapping (its fact fields; ``id``/``tier`` are not facts) and
    an end-user country; None when nothing is stated. Raises InvalidRequestError naming the
    field for a malformed value."""
    account = account or {}
    facts = AccountFacts(
        country=_country(account.get("country"), f"{prefix}.country"),
        parent_country=_country(account.get("parent_country"), f"{prefix}.parent_country"),
        parent_ownership=_share(account.get("parent_ownership"), f"{prefix}.parent_ownership"),
        verification=_name(
            account.get("verification"), f"{prefix}.verification", VERIFICATION_STATES
        ),
        contract=_name(account.get("contract"), f"{prefix}.contract"),
        end_user_country=_country(end_user_country, END_USER_FIELD),
        source=source,
    )
    return facts if facts != AccountFacts() else None


def accept_facts(facts: AccountFacts | None, trusted: bool) -> AccountFacts | None:
    """Facts pass only from a trusted source: an untrusted caller stating any gets 403, as
    naming the address does (``ip_override_forbidden``)."""
    if facts is not None and not trusted:
        raise ForbiddenFactsError
    return facts
