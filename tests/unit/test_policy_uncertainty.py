"""Policy model v2, data side: model-id patterns, partial lists, dates known as ranges,
subdivisions only partly covered, region groups only some accounts may use (issue 11)."""

from __future__ import annotations

import urllib.parse

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from regiongate.checks import CallerFacts
from regiongate.engine import Engine
from regiongate.policy import load_policy_set, parse_instant
from regiongate.request import Request
from regiongate.vocabulary import Outcome, ReasonCode

ALLOW, DENY, REROUTE, REVIEW = Outcome.ALLOW, Outcome.DENY, Outcome.REROUTE, Outcome.REVIEW
HK = "223.255.128.1"
NOW = parse_instant("2026-11-23")


def facts(country: str, *subdivisions: str, tier: str | None = None) -> CallerFacts:
    return CallerFacts(
        "located", country, subdivisions, bool(subdivisions), frozenset(), None, tier
    )


# --- Bedrock: every id form of an Anthropic model gets Anthropic's rules ----------------

CLAUDE = "claude-sonnet-4-5-20250929-v1:0"
ANTHROPIC_IDS = [
    f"anthropic.{CLAUDE}",
    *(
        f"{geo}.anthropic.{CLAUDE}"
        for geo in ("us", "eu", "apac", "global", "jp", "au", "us-gov", "ca")
    ),
    f"arn:aws:bedrock:us-east-1::foundation-model/anthropic.{CLAUDE}",
    f"arn:aws:bedrock:eu-west-1:123456789012:inference-profile/eu.anthropic.{CLAUDE}",
    f"arn:aws:bedrock:ap-northeast-1:123456789012:inference-profile/apac.anthropic.{CLAUDE}",
    f"arn:aws:bedrock:us-east-1:123456789012:inference-profile/global.anthropic.{CLAUDE}",
    f"arn:aws-us-gov:bedrock:us-gov-west-1:123456789012:inference-profile/us-gov.anthropic.{CLAUDE}",
    "arn:aws:bedrock:us-east-1:123456789012:default-prompt-router/anthropic.claude:1",
    urllib.parse.quote(
        f"arn:aws:bedrock:ap-northeast-1:123456789012:inference-profile/jp.anthropic.{CLAUDE}",
        safe="",
    ),
    f"EU.Anthropic.{CLAUDE}",
]


@pytest.mark.parametrize("model", ANTHROPIC_IDS)
def test_hong_kong_caller_is_never_allowed_an_anthropic_model_on_bedrock(
    engine: Engine, model: str
) -> None:
    decision = engine.decide(Request(HK, "aws_bedrock", model=model))
    assert decision.geo.country == "HK"
    assert decision.outcome in (DENY, REROUTE), model
    assert decision.verdict.applied_policies == ("aws_bedrock", "anthropic")
    assert ReasonCode.COUNTRY_NOT_SUPPORTED in decision.verdict.reason_codes


@pytest.mark.parametrize(
    "model",
    [
        "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3d4e5",
        "arn:aws:bedrock:us-east-1:123456789012:provisioned-model/abcdef123456",
        "arn:aws:bedrock:us-east-1:123456789012:custom-model/anthropic.claude-3-haiku/xyz",
    ],
)
def test_a_bedrock_id_that_hides_its_model_goes_to_review_not_allow(
    engine: Engine, model: str
) -> None:
    decision = engine.decide(Request(HK, "aws_bedrock", model=model))
    assert decision.outcome in (REVIEW, DENY, REROUTE)
    assert decision.outcome != ALLOW
    us = engine.decide(Request("8.8.8.8", "aws_bedrock", model=model))
    assert us.outcome == REVIEW
    assert ReasonCode.MODEL_NOT_IDENTIFIED in us.verdict.reason_codes


@pytest.mark.parametrize(
    "model", ["meta.llama3-70b-instruct-v1:0", "amazon.nova-pro-v1:0", "us.meta.llama3-2-1b"]
)
def test_other_bedrock_models_are_not_judged_by_anthropic(engine: Engine, model: str) -> None:
    decision = engine.decide(Request(HK, "aws_bedrock", model=model))
    assert decision.outcome == ALLOW
    assert decision.verdict.applied_policies == ("aws_bedrock",)


# --- OpenAI: a partial list reviews what it cannot say; dates known as ranges -------------


@pytest.mark.parametrize("territory", ["PR", "GU", "VI", "GI", "IM", "JE", "GG", "GP", "RE"])
def test_openai_sends_territories_its_partial_list_cannot_place_to_review(
    engine: Engine, territory: str
) -> None:
    verdict = engine.verdict("openai", facts(territory), NOW)
    assert verdict.outcome == REVIEW
    assert verdict.reason_codes[0] == ReasonCode.COUNTRY_UNLISTED_ON_PARTIAL_LIST


@pytest.mark.parametrize("country", ["CN", "RU", "HK", "IR", "AS", "FK"])
def test_openai_still_refuses_codes_known_not_to_be_served(engine: Engine, country: str) -> None:
    verdict = engine.verdict("openai", facts(country), NOW)
    assert verdict.outcome in (DENY, REROUTE)
    assert verdict.reason_codes[0] in (
        ReasonCode.COUNTRY_NOT_SUPPORTED,
        ReasonCode.SANCTIONED_JURISDICTION,
    )


@pytest.mark.parametrize(
    ("code", "day", "outcome"),
    [
        ("AW", "2026-05-01", REROUTE),  # before the range: the complete snapshot refused it
        ("PR", "2026-05-01", REROUTE),  # the list was complete before 2026-05-27 (partial_from)
        ("AW", "2026-11-01", REVIEW),  # inside "added between 2026-05-27 and 2026-11-10"
        ("AW", "2026-11-10", ALLOW),
        ("GL", "2026-11-22", REVIEW),
        ("GL", "2026-11-23", ALLOW),
    ],
)
def test_openai_additions_known_only_as_a_date_range_are_reviewed_inside_it(
    engine: Engine, code: str, day: str, outcome: str
) -> None:
    verdict = engine.verdict("openai", facts(code), parse_instant(day))
    assert verdict.outcome == outcome
    if outcome == REVIEW:
        assert verdict.reason_codes == (ReasonCode.COUNTRY_DATE_UNCERTAIN,)


def test_gemini_andorra_is_reviewed_while_its_date_is_unknown(engine: Engine) -> None:
    assert engine.verdict("google_gemini", facts("AD"), parse_instant("2026-01-01")).outcome == (
        REVIEW
    )
    assert engine.verdict("google_gemini", facts("AD"), NOW).outcome == ALLOW


# --- OFAC: Crimea published and denied; DNR/LNR approximation reviewed -------------------


def test_crimea_is_a_sanctioned_jurisdiction_for_every_provider(engine: Engine) -> None:
    verdict = engine.verdict("aws_bedrock", facts("UA", "UA-43"), NOW)
    assert verdict.outcome == DENY
    assert verdict.reason_codes[0] == ReasonCode.SANCTIONED_JURISDICTION


@pytest.mark.parametrize("oblast", ["UA-14", "UA-09"])
def test_donetsk_and_luhansk_oblasts_are_reviewed_not_denied_by_the_baseline(
    engine: Engine, oblast: str
) -> None:
    verdict = engine.verdict("deepseek", facts("UA", oblast), NOW)
    assert verdict.outcome == REVIEW
    assert ReasonCode.SUBDIVISION_PARTLY_COVERED in verdict.reason_codes
    assert verdict.rule.rule_id == "us_ofac_comprehensive/subdivisions"


def test_every_ofac_subdivision_says_its_basis(engine: Engine) -> None:
    baseline = engine.policies.baselines[0]
    assert baseline.subdivisions is not None
    bases = {e.code: (e.basis, e.coverage) for e in baseline.subdivisions.excluded}
    assert bases == {
        "UA-43": ("published", "whole"),
        "UA-40": ("published", "whole"),
        "UA-14": ("inferred", "part"),
        "UA-09": ("inferred", "part"),
    }


# --- Azure: government regions and restricted regions are never offered -----------------


def test_bundled_region_groups_mark_government_and_chinaeast3(engine: Engine) -> None:
    azure = engine.policies.providers["azure_openai"].region_groups["government"]
    assert azure.eligibility == "azure_government"
    china = engine.policies.providers["azure_openai_china"].region_groups["china"]
    assert "chinaeast3" not in china.offered() and "chinaeast2" in china.offered()


# --- the verdict memo (keyed by time segment) agrees with a fresh evaluation --------------

_SHARED: dict[str, Engine] = {}


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    provider=st.sampled_from(["openai", "google_gemini", "aws_bedrock", "azure_openai"]),
    country=st.sampled_from(["AW", "GL", "PR", "CN", "AD", "UA", "US", "HK"]),
    subdivision=st.sampled_from([None, "UA-14", "UA-43"]),
    model=st.sampled_from([None, *ANTHROPIC_IDS[:3], ANTHROPIC_IDS[-1]]),
    offset=st.integers(min_value=-2, max_value=2),
    which=st.integers(min_value=0, max_value=10_000),
)
def test_memoised_verdicts_equal_fresh_ones_around_every_breakpoint(
    engine: Engine,
    provider: str,
    country: str,
    subdivision: str | None,
    model: str | None,
    offset: int,
    which: int,
) -> None:
    if "engine" not in _SHARED:
        _SHARED["engine"] = Engine(load_policy_set(), engine.geolocator)
    shared = _SHARED["engine"]
    points = sorted(shared._breakpoints)
    at = points[which % len(points)] + offset
    sub = (subdivision,) if subdivision and country == "UA" else ()
    memoised = shared.verdict(provider, facts(country, *sub), at, model)
    fresh = Engine(shared.policies, engine.geolocator).verdict(
        provider, facts(country, *sub), at, model
    )
    assert (memoised.outcome, memoised.reason_codes) == (fresh.outcome, fresh.reason_codes)
