"""Policy files: the bundled set is valid and cited; broken files are rejected precisely."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pycountry
import pytest
from regiongate.checks import CallerFacts
from regiongate.engine import Engine
from regiongate.errors import PolicyError
from regiongate.policy import (
    DEFAULT_POLICY_DIR,
    PolicySet,
    iso_countries,
    load_policy_set,
    parse_instant,
)

REQUIRED_PROVIDERS = {
    "openai",
    "anthropic",
    "google_gemini",
    "azure_openai",
    "azure_openai_china",
    "aws_bedrock",
    "alibaba_model_studio",
    "baidu_qianfan",
    "deepseek",
    "moonshot",
}


def test_bundled_set_has_every_required_provider_and_the_sanctions_baseline(
    policies: PolicySet,
) -> None:
    assert set(policies.providers) >= REQUIRED_PROVIDERS
    assert [b.id for b in policies.baselines] == ["us_ofac_comprehensive"]
    assert policies.version.startswith("sha256:")


def test_every_list_in_the_bundled_set_cites_a_source_and_date(policies: PolicySet) -> None:
    for policy in (*policies.providers.values(), *policies.baselines):
        cited = [policy.countries.provenance]
        if policy.subdivisions:
            cited.append(policy.subdivisions.provenance)
        cited += [c.provenance for c in policy.account_conditions]
        if policy.regions:
            assert policy.regions_provenance is not None
            cited.append(policy.regions_provenance)
        for provenance in cited:
            assert provenance.source_url.startswith("https://"), policy.id
            assert provenance.as_of == "unknown" or provenance.as_of[:2] == "20", policy.id
            assert provenance.note, policy.id


def test_providers_without_a_published_list_say_so_explicitly(policies: PolicySet) -> None:
    unpublished = {
        p.id for p in policies.providers.values() if p.countries.completeness == "unpublished"
    }
    assert unpublished == {
        "azure_openai",
        "aws_bedrock",
        "alibaba_model_studio",
        "baidu_qianfan",
        "deepseek",
        "moonshot",
    }
    for pid in unpublished:
        assert policies.providers[pid].countries.unlisted in ("allow", "review", "deny")
        assert "explicit" in policies.providers[pid].countries.provenance.note


def test_iso_table_matches_pycountry_plus_kosovo() -> None:
    assert set(iso_countries()) == {c.alpha_2 for c in pycountry.countries} | {"XK"}


def test_every_subdivision_code_in_the_bundled_set_exists_in_iso_3166_2(
    policies: PolicySet,
) -> None:
    known = {s.code for s in pycountry.subdivisions}
    for policy in (*policies.providers.values(), *policies.baselines):
        for entry in policy.subdivisions.excluded if policy.subdivisions else ():
            assert entry.code in known, (policy.id, entry.code)


def test_version_is_a_content_hash(tmp_path: Path, policies: PolicySet) -> None:
    copy = tmp_path / "p"
    shutil.copytree(DEFAULT_POLICY_DIR, copy)
    assert load_policy_set(copy).version == policies.version
    doc = json.loads((copy / "deepseek.json").read_text())
    doc["notes"] = "changed"
    (copy / "deepseek.json").write_text(json.dumps(doc))
    assert load_policy_set(copy).version != policies.version


# --- rejection: each broken file names file, provider and field ------------------------


def _broken(tmp_path: Path, provider: str, mutate: Any) -> Path:
    copy = tmp_path / "policies"
    shutil.copytree(DEFAULT_POLICY_DIR, copy)
    path = copy / f"{provider}.json"
    doc = json.loads(path.read_text())
    mutate(doc)
    path.write_text(json.dumps(doc))
    return copy


@pytest.mark.parametrize(
    ("provider", "mutate", "field", "message"),
    [
        (
            "openai",
            lambda d: d["countries"]["entries"].append("QQ"),
            "countries.entries[197]",
            "unknown ISO 3166-1",
        ),
        (
            "openai",
            lambda d: d["countries"]["entries"].append("US"),
            "countries.entries[197]",
            "listed twice",
        ),
        (
            "openai",
            lambda d: d["alternatives"].append("skynet"),
            "alternatives[8]",
            "unknown provider 'skynet'",
        ),
        (
            "openai",
            lambda d: d["alternatives"].append("us_ofac_comprehensive"),
            "alternatives[8]",
            "unknown provider",
        ),
        (
            "openai",
            lambda d: d["alternatives"].append("openai"),
            "alternatives",
            "its own alternative",
        ),
        (
            "anthropic",
            lambda d: d["subdivisions"]["excluded"].append("UA-XYZW"),
            "subdivisions.excluded[4]",
            "ISO 3166-2",
        ),
        (
            "deepseek",
            lambda d: d["countries"].pop("unlisted"),
            "countries.unlisted",
            "must be one of",
        ),
        (
            "deepseek",
            lambda d: d["countries"]["entries"].append("CN"),
            "countries.entries",
            "unpublished list must have no entries",
        ),
        (
            "anthropic",
            lambda d: d["countries"].update(unlisted="review"),
            "countries.unlisted",
            "only a partial or unpublished list",
        ),
        ("openai", lambda d: d.update(colour="blue"), "(document)", "unknown field(s): colour"),
        (
            "openai",
            lambda d: d["countries"]["provenance"].pop("as_of"),
            "countries.provenance",
            "missing field(s): as_of",
        ),
        (
            "openai",
            lambda d: d["countries"]["provenance"].update(as_of="last year"),
            "countries.provenance.as_of",
            "YYYY-MM-DD",
        ),
        (
            "openai",
            lambda d: d["enforcement"][1].update(effective_from="2024-08-01"),
            "enforcement[1].effective_from",
            "no gap or overlap",
        ),
        (
            "openai",
            lambda d: d["enforcement"][0].update(effective_from="2020-01-01"),
            "enforcement[0].effective_from",
            "open-ended",
        ),
        (
            "openai",
            lambda d: d["countries"]["entries"][-1].update(effective_until="2020-01-01"),
            "countries.entries[196]",
            "before effective_until",
        ),
        (
            "azure_openai",
            lambda d: (
                d["countries"].update(
                    mode="allowlist", completeness="complete", entries=["US"], unlisted=None
                )
                or d["countries"].pop("unlisted")
            ),
            "account_conditions[0].countries",
            "could never apply",
        ),
        ("openai", lambda d: d.pop("anonymizers"), "anonymizers", "must say what to do"),
        (
            "openai",
            lambda d: d["anonymizers"].update(tor="maybe"),
            "anonymizers.tor",
            "must be one of",
        ),
        ("openai", lambda d: d.update(schema_version=2), "schema_version", "must be 1"),
        (
            "aws_bedrock",
            lambda d: d["model_rules"][0].update(apply_policy="nobody"),
            "model_rules[0].apply_policy",
            "unknown provider",
        ),
        (
            "azure_openai",
            lambda d: d["regions"]["global"].update(marsnorth="MA1"),
            "regions.global.marsnorth",
            "unknown ISO",
        ),
        # policy model v2: new fields (issue 11)
        (
            "openai",
            lambda d: d["countries"]["entries"][-1].update(added_between=["2026-11-23"]),
            "countries.entries[196].added_between",
            "two dates",
        ),
        (
            "openai",
            lambda d: d["countries"]["entries"][-1].update(
                added_between=["2026-11-23", "2026-01-01"]
            ),
            "countries.entries[196].added_between",
            "earliest date must come before",
        ),
        (
            "openai",
            lambda d: d["countries"]["entries"][-1].update(effective_from="2026-01-01"),
            "countries.entries[196].added_between",
            "not both",
        ),
        (
            "openai",
            lambda d: d["countries"]["entries"][-1].update(basis="rumour"),
            "countries.entries[196].basis",
            "must be one of published, inferred",
        ),
        (
            "openai",
            lambda d: d["countries"]["entries"][-1].update(coverage="part"),
            "countries.entries[196]",
            "unknown field(s): coverage",
        ),
        (
            "us_ofac_comprehensive",
            lambda d: d["subdivisions"]["excluded"][2].update(coverage="most"),
            "subdivisions.excluded[2].coverage",
            "must be one of whole, part",
        ),
        (
            "openai",
            lambda d: d["countries"].update(unlisted="allow"),
            "countries.unlisted",
            "must be one of review, deny",
        ),
        (
            "anthropic",
            lambda d: d["countries"].update(partial_from="2026-01-01"),
            "countries.partial_from",
            "only a partial list",
        ),
        (
            "anthropic",
            lambda d: d["countries"].update(refused=["CN"]),
            "countries.refused",
            "only a partial list",
        ),
        (
            "openai",
            lambda d: d["countries"]["refused"].append("US"),
            "countries.refused",
            "US also listed in entries",
        ),
        (
            "openai",
            lambda d: d["countries"]["provenance"].update(last_checked="yesterday"),
            "countries.provenance.last_checked",
            "YYYY-MM-DD",
        ),
        (
            "aws_bedrock",
            lambda d: d["model_rules"][0].update(model_pattern="(anthropic"),
            "model_rules[0].model_pattern",
            "not a regular expression",
        ),
        (
            "aws_bedrock",
            lambda d: d["model_rules"][0].update(model_prefix="anthropic."),
            "model_rules[0]",
            "exactly one of model_prefix and model_pattern",
        ),
        (
            "aws_bedrock",
            lambda d: d["model_rules"][1].update(apply_policy="anthropic"),
            "model_rules[1]",
            "exactly one of apply_policy and action",
        ),
        (
            "aws_bedrock",
            lambda d: d["model_rules"][1].update(action="allow"),
            "model_rules[1].action",
            "must be one of review, deny",
        ),
        (
            "azure_openai",
            lambda d: d["regions"]["government"].update(eligibility="US Gov!"),
            "regions.government.eligibility",
            "lower-case",
        ),
        (
            "azure_openai_china",
            lambda d: d["regions"]["china"]["restricted"].update(marsnorth="closed"),
            "regions.china.restricted.marsnorth",
            "not a region of this group",
        ),
        (
            "azure_openai",
            lambda d: d["regions"]["government"].update(colour="blue"),
            "regions.government",
            "unknown field(s): colour",
        ),
        (
            "azure_openai",
            lambda d: d["account_conditions"][0].update(allowed_tiers=[]),
            "account_conditions[0].allowed_tiers",
            "non-empty list",
        ),
    ],
)
def test_broken_policy_is_rejected_naming_file_provider_and_field(
    tmp_path: Path, provider: str, mutate: Any, field: str, message: str
) -> None:
    directory = _broken(tmp_path, provider, mutate)
    with pytest.raises(PolicyError) as info:
        load_policy_set(directory)
    error = info.value
    assert (error.file, error.provider, error.field) == (f"{provider}.json", provider, field)
    assert message in str(error)


def test_serve_from_never_offers_government_or_access_restricted_regions(
    tmp_path: Path, engine: Engine
) -> None:
    def give_a_tier(doc: dict[str, Any]) -> None:
        doc["account_conditions"][0]["allowed_tiers"] = ["vetted"]
        doc["regions"]["global"] = {
            "regions": doc["regions"]["global"],
            "restricted": {"uaenorth": "test: closed"},
        }

    changed = Engine(
        load_policy_set(_broken(tmp_path, "azure_openai", give_a_tier)), engine.geolocator
    )
    cn = CallerFacts("located", "CN", (), False, frozenset(), None, "vetted")
    verdict = changed.verdict("azure_openai", cn, parse_instant("2026-11-23"))
    assert verdict.outcome == "allow"
    regions = verdict.serve_from_regions or ()
    assert "eastus" in regions
    assert not {"usgovarizona", "usgovvirginia", "uaenorth"} & set(regions)


def test_invalid_json_and_misnamed_files_are_rejected(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(PolicyError, match=r"bad\.json.*invalid JSON"):
        load_policy_set(tmp_path)
    (tmp_path / "bad.json").write_text(json.dumps({"provider": "other"}))
    with pytest.raises(PolicyError, match=r"file name must be other\.json"):
        load_policy_set(tmp_path)


def test_missing_or_empty_directory_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="does not exist"):
        load_policy_set(tmp_path / "nope")
    with pytest.raises(PolicyError, match=r"no \*\.json"):
        load_policy_set(tmp_path)


# --- the bundled data against the research reference (vendored in tests/data/reference) ----

REFERENCE = Path(__file__).resolve().parents[1] / "data" / "reference" / "provider-regions.json"


def test_bundled_lists_match_the_reference(policies: PolicySet) -> None:
    reference = json.loads(REFERENCE.read_text())
    by_id = {p["id"]: p for p in reference["providers"]}
    for pid in ("openai", "anthropic", "google_gemini", "us_ofac_comprehensive"):
        ref = by_id[pid]
        policy = policies.providers.get(pid) or policies.baselines[0]
        undated = {
            e.code
            for e in policy.countries.entries
            if e.effective_from is None and e.effective_until is None
        }
        assert undated == set(ref["countries"]), pid
        assert policy.countries.provenance.source_url == ref["source_url"]
    # Newer additions are dated by the range in which they appeared (Andorra for Gemini).
    gemini = policies.providers["google_gemini"].countries.entries
    ranged = {e.code for e in gemini if e.certain_from is not None}
    assert ranged == set(by_id["google_gemini"]["newer_additions_partial"])
    # Greenland comes from the November 2026 findings, newer than the reference.
    assert {e.code for e in policies.providers["openai"].countries.entries} == set(
        by_id["openai"]["countries"]
    ) | set(by_id["openai"]["newer_additions_partial"]) | {"GL"}
    assert (
        policies.providers["aws_bedrock"].regions["commercial"] == by_id["aws_bedrock"]["regions"]
    )
    assert policies.providers["azure_openai"].regions["global"] == by_id["azure_openai"]["regions"]
