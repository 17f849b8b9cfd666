"""One vocabulary: the tier rule, outcomes and anonymizer flags mean the same everywhere."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError
from regiongate.api.models import Account
from regiongate.engine import Engine
from regiongate.errors import InvalidRequestError
from regiongate.geo import ANONYMIZER_KEYS
from regiongate.request import Request
from regiongate.rules import eligibility
from regiongate.vocabulary import (
    ANONYMIZER_FLAGS,
    Outcome,
    ReasonCode,
    check_tier,
    specific_anonymizers,
    valid_tier,
)

TIERS = st.one_of(
    st.text(alphabet="abcxyz019_-", max_size=40),
    st.text(max_size=40),
    st.sampled_from(["123", "é", "enterprise", "Enterprise", "a\n", "", "x" * 32, "x" * 33]),
)


def _api_accepts(tier: str) -> bool:
    try:
        Account(tier=tier)
    except ValidationError:
        return False
    return True


@given(TIERS)
def test_the_api_and_the_domain_accept_exactly_the_same_tiers(tier: str) -> None:
    assert _api_accepts(tier) == valid_tier(tier)


@pytest.mark.parametrize(("tier", "valid"), [("123", True), ("é", False), ("a\n", False)])
def test_a_tier_is_judged_alike_by_api_engine_and_eligibility(
    engine: Engine, tier: str, valid: bool
) -> None:
    assert _api_accepts(tier) is valid
    for _ in range(2):  # the second time the verdict would come from the memo
        if valid:
            engine.decide(Request("8.8.8.8", "openai", account_tier=tier))
            eligibility(engine, "openai", "US", account_tier=tier)
        else:
            with pytest.raises(InvalidRequestError):
                engine.decide(Request("8.8.8.8", "openai", account_tier=tier))
            with pytest.raises(InvalidRequestError):
                eligibility(engine, "openai", "US", account_tier=tier)


def test_check_tier_names_the_field() -> None:
    assert check_tier(None) is None
    with pytest.raises(InvalidRequestError) as bad:
        check_tier("Not A Tier!", "account_tier")
    assert bad.value.details["field"] == "account_tier"


def test_outcomes_and_reason_codes_are_their_plain_text() -> None:
    assert json.dumps([Outcome.REROUTE, ReasonCode.REROUTED]) == '["reroute", "REROUTED"]'
    assert f"{Outcome.ALLOW}" == "allow" and Outcome("deny") is Outcome.DENY


def test_geo_reports_only_known_anonymizer_flags() -> None:
    assert set(ANONYMIZER_KEYS.values()) == set(ANONYMIZER_FLAGS)


@pytest.mark.parametrize(
    ("flags", "judged"),
    [
        ((), set()),
        (("anonymous",), {"anonymous"}),
        (("anonymous", "vpn"), {"vpn"}),
        (("vpn", "tor"), {"vpn", "tor"}),
    ],
)
def test_generic_anonymous_flag_gives_way_to_a_specific_one(
    flags: tuple[str, ...], judged: set[str]
) -> None:
    assert specific_anonymizers(flags) == judged
