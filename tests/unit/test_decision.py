"""Decisions: the scenarios the project exists for, evaluated on real databases."""

from __future__ import annotations

import re
import uuid

import pytest
from regiongate.account import AccountFacts
from regiongate.addresses import parse_address
from regiongate.checks import caller_facts
from regiongate.decision import provider_error
from regiongate.engine import Engine
from regiongate.errors import InvalidAddressError, InvalidRequestError, UnknownProviderError
from regiongate.ids import format_decision_id
from regiongate.policy import PolicySet, parse_instant
from regiongate.request import Request
from regiongate.vocabulary import Outcome, ReasonCode

ALLOW, DENY, REROUTE, REVIEW = Outcome.ALLOW, Outcome.DENY, Outcome.REROUTE, Outcome.REVIEW

CN, HK, US = "1.2.4.8", "223.255.128.1", "8.8.8.8"
BEFORE_ENFORCEMENT, AFTER_ENFORCEMENT = parse_instant("2024-07-01"), parse_instant("2024-07-10")


def test_china_is_refused_by_openai_with_a_cited_country_reason(engine: Engine) -> None:
    decision = engine.decide(Request(CN, "openai"))
    assert decision.geo.country == "CN"
    assert decision.outcome in (DENY, REROUTE)
    assert decision.verdict.reasons[0].code == ReasonCode.COUNTRY_NOT_SUPPORTED
    assert decision.verdict.rule.rule_id == "openai/countries"
    assert decision.verdict.rule.provenance is not None
    assert "help.openai.com" in decision.verdict.rule.provenance.source_url


def test_openai_reroute_lists_qualifying_and_excluded_alternatives_with_reasons(
    engine: Engine,
) -> None:
    verdict = engine.decide(Request(CN, "openai")).verdict
    assert verdict.outcome == REROUTE
    usable = {a.provider for a in verdict.alternatives}
    excluded = {a.provider: a for a in verdict.excluded}
    assert {"alibaba_model_studio", "deepseek"} <= usable
    assert excluded["anthropic"].reasons[0].code == ReasonCode.COUNTRY_NOT_SUPPORTED
    assert excluded["azure_openai"].reasons[-1].code == ReasonCode.ACCOUNT_ELIGIBILITY_UNVERIFIED
    assert all(a.outcome == ALLOW for a in verdict.alternatives)
    # Alternatives come in the order the policy prefers them.
    order = list(engine.policies.providers["openai"].alternatives)
    assert [a.provider for a in verdict.alternatives] == sorted(usable, key=order.index)


def test_openai_in_china_before_enforcement_follows_the_pre_enforcement_rule(
    engine: Engine,
) -> None:
    before = engine.decide(Request(CN, "openai", at=BEFORE_ENFORCEMENT))
    after = engine.decide(Request(CN, "openai", at=AFTER_ENFORCEMENT))
    assert before.outcome == REVIEW
    assert before.verdict.reason_codes == (
        ReasonCode.COUNTRY_NOT_SUPPORTED,
        ReasonCode.ENFORCEMENT_NOT_ACTIVE,
    )
    assert after.outcome == REROUTE
    assert before.evaluated_at == BEFORE_ENFORCEMENT


@pytest.mark.parametrize(
    ("provider", "outcome"),
    [
        ("anthropic", REROUTE),
        ("openai", REROUTE),
        ("azure_openai", ALLOW),
        ("google_gemini", REROUTE),
    ],
)
def test_hong_kong(engine: Engine, provider: str, outcome: str) -> None:
    decision = engine.decide(Request(HK, provider))
    assert decision.geo.country == "HK"
    assert decision.outcome == outcome


@pytest.mark.parametrize(
    "provider", ["anthropic", "openai", "azure_openai", "google_gemini", "aws_bedrock", "deepseek"]
)
def test_united_states_is_allowed_everywhere(engine: Engine, provider: str) -> None:
    # An independent US company: Anthropic's ownership rule needs these facts.
    company = AccountFacts(country="US", parent_ownership=0, source="test")
    assert engine.decide(Request(US, provider, account_facts=company)).outcome == ALLOW


def test_anthropic_without_account_facts_is_reviewed_naming_the_missing_fact(
    engine: Engine,
) -> None:
    decision = engine.decide(Request(US, "anthropic"))
    assert decision.outcome == REVIEW
    assert decision.verdict.reason_codes == (ReasonCode.MISSING_ACCOUNT_COUNTRY,)
    assert (
        decision.verdict.rule.rule_id == "anthropic/account_rules/ownership-in-unsupported-regions"
    )


@pytest.mark.parametrize(
    "form",
    ["::ffff:1.2.4.8", "2002:102:408::1", "[::ffff:1.2.4.8]:443", "1.2.4.8/32", "1.2.4.8:8443"],
)
def test_other_forms_of_an_address_get_the_plain_ipv4_answer(engine: Engine, form: str) -> None:
    plain = engine.decide(Request(CN, "openai"))
    other = engine.decide(Request(form, "openai"))
    assert other.verdict is plain.verdict


def test_native_ipv6_addresses_are_decided(engine: Engine) -> None:
    decision = engine.decide(Request("2001:da8::1", "anthropic"))
    assert (decision.geo.country, decision.outcome) == ("CN", REROUTE)


@pytest.mark.parametrize("ip", ["10.0.0.1", "192.168.0.1/32", "127.0.0.1", "fe80::1"])
def test_unroutable_addresses_go_to_review(engine: Engine, ip: str) -> None:
    decision = engine.decide(Request(ip, "openai"))
    assert decision.outcome == REVIEW
    assert decision.verdict.reason_codes == (ReasonCode.ADDRESS_NOT_ROUTABLE,)
    assert decision.geo.status == "not_routable"


def test_azure_openai_sends_mainland_china_to_review_since_no_source_says_who_is_eligible(
    engine: Engine,
) -> None:
    # Microsoft serves "eligible customers" in China from outside China; no source names a
    # tier, so no tier unlocks it (the old data invented "enterprise").
    for tier in (None, "enterprise"):
        decision = engine.decide(Request(CN, "azure_openai", account_tier=tier))
        assert decision.outcome == REVIEW
        assert ReasonCode.ACCOUNT_ELIGIBILITY_UNVERIFIED in decision.verdict.reason_codes
        assert decision.verdict.rule.rule_id.startswith("azure_openai/account_conditions/")
        assert decision.verdict.serve_from_regions is None


def test_azure_china_cloud_is_unconfirmed_so_china_callers_go_to_review(engine: Engine) -> None:
    unknown = engine.decide(Request(CN, "azure_openai_china"))
    assert unknown.outcome == REVIEW
    assert unknown.verdict.reason_codes == (ReasonCode.MISSING_CONTRACT,)
    presence = AccountFacts(contract="azure_china", source="test")
    decision = engine.decide(Request(CN, "azure_openai_china", account_facts=presence))
    assert decision.outcome == REVIEW
    assert ReasonCode.PROVIDER_AVAILABILITY_UNCONFIRMED in decision.verdict.reason_codes
    assert engine.decide(Request(US, "azure_openai_china")).outcome in (DENY, REROUTE)


def test_sanctioned_countries_are_denied_for_every_provider_without_reroute(
    rich_engine: Engine,
) -> None:
    for provider in rich_engine.policies.providers:
        decision = rich_engine.decide(Request("4.0.0.1", provider))  # IR in the test city database
        assert decision.outcome == DENY, provider
        assert decision.verdict.reason_codes[0] == ReasonCode.SANCTIONED_JURISDICTION
        assert decision.verdict.alternatives == ()


def test_syria_was_sanctioned_until_2025_07_01(engine: Engine, policies: PolicySet) -> None:
    from regiongate.addresses import parse_address
    from regiongate.geo import GeoResult

    geo = GeoResult(parse_address("5.0.0.9"), "located", country="SY")
    before = engine.decide(
        Request(geo.address.original, "deepseek", at=parse_instant("2025-06-30")), geo=geo
    )
    after = engine.decide(
        Request(geo.address.original, "deepseek", at=parse_instant("2025-07-01")), geo=geo
    )
    assert before.outcome == DENY
    assert before.verdict.reason_codes == (ReasonCode.SANCTIONED_JURISDICTION,)
    assert after.outcome == ALLOW


def test_crimea_is_sanctioned_and_kyiv_is_fine_with_subdivision_data(rich_engine: Engine) -> None:
    crimea = rich_engine.decide(Request("5.0.0.1", "google_gemini"))
    assert crimea.outcome == DENY
    assert crimea.verdict.rule.rule_id == "us_ofac_comprehensive/subdivisions"
    assert rich_engine.decide(Request("5.0.1.1", "google_gemini")).outcome in (ALLOW, REVIEW)


def test_ukraine_without_subdivision_data_goes_to_review(
    engine: Engine, rich_engine: Engine
) -> None:
    from regiongate.addresses import parse_address
    from regiongate.geo import GeoResult

    geo = GeoResult(parse_address("5.0.0.9"), "located", country="UA")
    decision = engine.decide(Request(geo.address.original, "anthropic"), geo=geo)
    assert decision.outcome == REVIEW
    assert ReasonCode.SUBDIVISION_UNKNOWN in decision.verdict.reason_codes
    # City data that names no subdivision is no better.
    assert rich_engine.decide(Request("5.0.2.1", "anthropic")).outcome == REVIEW


def test_anonymizers_follow_each_providers_policy(rich_engine: Engine) -> None:
    # 5.0.1.0/24: UA Kyiv flagged as VPN; 2.0.0.0/24: US on Tor; 81.2.69.0/24: GB hosting.
    vpn = rich_engine.decide(Request("5.0.1.1", "anthropic"))
    assert vpn.outcome == REVIEW
    assert ReasonCode.ANONYMIZER_FLAGGED in vpn.verdict.reason_codes
    tor = rich_engine.decide(Request("2.0.0.1", "openai"))
    assert tor.outcome in (DENY, REROUTE)
    assert tor.verdict.rule.rule_id == "openai/anonymizers/tor"
    hosting = rich_engine.decide(Request("81.2.69.1", "openai"))
    assert hosting.outcome == ALLOW  # servers call APIs from hosting networks all day
    assert caller_facts(hosting.geo, None).anonymizers == {"hosting"}


def test_registered_country_mismatch_is_reviewed_where_the_policy_cares(
    rich_engine: Engine,
) -> None:
    # 2.0.0.0/24 is located in the US but registered to CN (and is a Tor exit: use Azure,
    # whose policy ignores the mismatch, for contrast on the same address).
    openai = rich_engine.decide(Request("7.0.0.1", "openai"))
    assert openai.outcome == ALLOW
    from regiongate.addresses import parse_address
    from regiongate.geo import GeoResult

    geo = GeoResult(parse_address("7.0.0.1"), "located", country="US", registered_country="CN")
    assert rich_engine.decide(
        Request(geo.address.original, "openai"), geo=geo
    ).verdict.reason_codes == (ReasonCode.REGISTERED_COUNTRY_MISMATCH,)
    assert (
        rich_engine.decide(Request(geo.address.original, "azure_openai"), geo=geo).outcome == ALLOW
    )


def test_unknown_country_goes_to_review(rich_engine: Engine) -> None:
    decision = rich_engine.decide(Request("1.1.1.1", "openai"))
    assert decision.outcome == REVIEW
    assert decision.verdict.reason_codes == (ReasonCode.COUNTRY_UNKNOWN,)


def test_bedrock_applies_anthropics_rules_to_anthropic_models(engine: Engine) -> None:
    plain = engine.decide(Request(HK, "aws_bedrock", model="amazon.nova-pro-v1:0"))
    claude = engine.decide(Request(HK, "aws_bedrock", model="anthropic.claude-sonnet-4-5"))
    assert plain.outcome == ALLOW
    assert claude.outcome in (DENY, REROUTE)
    assert claude.verdict.applied_policies == ("aws_bedrock", "anthropic")


def test_decisions_have_time_ordered_unique_ids_and_carry_the_policy_version(
    engine: Engine,
) -> None:
    decisions = [engine.decide(Request(US, "openai")) for _ in range(2000)]
    ids = [d.decision_id for d in decisions]
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)
    parsed = uuid.UUID(ids[0])
    assert parsed.version == 7
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", decisions[0].decided_at)
    assert decisions[0].policy_version == engine.policies.version


def test_openai_denials_are_expressible_in_openais_error_shape(engine: Engine) -> None:
    status, body = provider_error(engine.decide(Request(CN, "openai")), engine.policies) or (0, {})
    assert status == 403
    assert body["error"]["code"] == "unsupported_country_region_territory"
    assert body["error"]["type"] == "request_forbidden"
    assert provider_error(engine.decide(Request(US, "openai")), engine.policies) is None


def test_bad_requests_raise_typed_errors(engine: Engine) -> None:
    with pytest.raises(UnknownProviderError) as unknown:
        engine.decide(Request(US, "skynet"))
    assert "openai" in unknown.value.details["known"]
    with pytest.raises(InvalidAddressError):
        engine.decide(Request("999.1.1.1", "openai"))
    with pytest.raises(InvalidRequestError):
        engine.decide(Request(US, "openai", account_tier="Not A Tier!"))


def test_verdicts_are_memoised_per_facts_and_time_segment(engine: Engine) -> None:
    first = engine.decide(Request("8.8.4.4", "openai")).verdict
    assert engine.decide(Request("8.8.8.8", "openai")).verdict is first
    earlier = engine.decide(Request("8.8.8.8", "openai", at=BEFORE_ENFORCEMENT)).verdict
    assert earlier is not first and earlier.outcome == first.outcome == ALLOW
    # CN changes verdict across the enforcement date: different memo entries.
    assert (
        engine.decide(Request(CN, "openai", at=BEFORE_ENFORCEMENT)).verdict
        is not engine.decide(Request(CN, "openai")).verdict
    )


def test_decision_dict_is_complete(engine: Engine) -> None:
    data = engine.decide(
        Request(CN, "openai", account_id="acct-1", account_tier="standard")
    ).to_dict()
    assert {
        "decision_id",
        "decided_at",
        "evaluated_at",
        "provider",
        "model",
        "account",
        "policy_version",
        "outcome",
        "reasons",
        "rule",
        "alternatives",
        "excluded_alternatives",
        "geo",
    } <= set(data)
    assert data["account"] == {"id": "acct-1", "tier": "standard"}
    assert data["geo"]["evidence"][0]["database"]["type"] == "DBIP-City-Lite-regiongate"
    assert data["geo"]["network"] == "1.2.4.0/22"


@pytest.mark.parametrize("fixture", ["engine", "rich_engine"])
def test_network_shortcut_decides_exactly_as_the_general_path(
    fixture: str, request: pytest.FixtureRequest
) -> None:
    """A plain IPv4 request is decided from its network's shared answer; the decision must be
    the one the general path (full geo result, facts memo) gives, field for field."""
    shared: Engine = request.getfixturevalue(fixture)
    # A fixed clock: both paths must evaluate "now" as the same second.
    now = AFTER_ENFORCEMENT * 1_000_000_000
    engine = Engine(shared.policies, shared.geolocator, clock=lambda: now)
    ips = [CN, HK, US, "81.2.69.1", "5.0.1.1", "2.0.0.1", "3.0.0.1", "8.0.0.1", "1.1.1.1"]
    ips += ["2001:da8::1", "2400:CB00::1", "2a03:2880:f003::1"]
    moments = (None, BEFORE_ENFORCEMENT, AFTER_ENFORCEMENT)
    for ip in ips:
        for provider in ("openai", "anthropic", "azure_openai", "google_gemini", "deepseek"):
            for at in moments:
                for _ in range(2):  # the second time, network and verdict come from memos
                    fast = engine.decide(Request(ip, provider, account_id="a", at=at))
                    assert fast.place is not None
                    general = engine.decide(
                        Request(ip, provider, account_id="a", at=at),
                        geo=engine.geolocator.locate_address(parse_address(ip)),
                    )
                    assert general.place is None
                    assert _stable(fast.to_dict()) == _stable(general.to_dict()), (ip, provider)
                    assert fast.verdict is general.verdict or fast.verdict == general.verdict


def _stable(decision: dict[str, object]) -> dict[str, object]:
    return {k: v for k, v in decision.items() if k not in ("decision_id", "decided_at")}


def test_decision_ids_carry_the_millisecond_version_variant_and_sequence() -> None:
    ns = parse_instant("2026-11-22T01:02:03.456Z") * 1_000_000_000 + 456_789_000
    for sequence in (0, 1, (1 << 62) - 1, 1 << 62, (1 << 74) - 1, (1 << 74) + 5):
        value = uuid.UUID(format_decision_id(sequence, ns))
        assert value.version == 7
        assert value.variant == uuid.RFC_4122
        assert value.int >> 80 == ns // 1_000_000
        counter = sequence & ((1 << 74) - 1)
        assert (value.int >> 64) & 0xFFF == counter >> 62
        assert value.int & ((1 << 62) - 1) == counter & ((1 << 62) - 1)
