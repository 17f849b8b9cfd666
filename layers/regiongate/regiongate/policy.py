"""Provider policies: the data files, their schema, and the checks that run when they load.

A policy directory holds one JSON file per provider (``kind: provider``) or baseline that
applies to every provider (``kind: baseline``, e.g. sanctions). The loader is the schema:
unknown keys, unknown ISO codes, unknown providers named as alternatives and contradictions
are rejected with a message naming the file, the provider and the field. The whole set gets
a version, the content hash of its files, which every decision carries.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import urllib.parse
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from regiongate.errors import PolicyError
from regiongate.vocabulary import ACTIONS, ANONYMIZER_FLAGS, Outcome, valid_tier

SCHEMA_VERSION = 1
DEFAULT_POLICY_DIR = Path(__file__).parent / "policies"
# What a rule that is not met may say.
REFUSING_ACTIONS = (Outcome.DENY, Outcome.REVIEW)
_PROVIDER_ID = re.compile(r"^[a-z0-9_]{2,40}$")
_SUBDIVISION = re.compile(r"^([A-Z]{2})-[A-Z0-9]{1,3}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
BASES = ("published", "inferred")
# How a country list answers for one code at one instant.
LISTED, UNCERTAIN, REFUSED, UNLISTED = "listed", "uncertain", "refused", "unlisted"


@cache
def iso_countries() -> dict[str, str]:
    """ISO 3166-1 alpha-2 code -> English name (plus XK, which providers use)."""
    path = Path(__file__).parent / "data" / "iso3166-1.json"
    data: dict[str, str] = json.loads(path.read_text(encoding="utf-8"))["countries"]
    return data


def parse_instant(value: str) -> int:
    """A date (UTC midnight) or ISO 8601 timestamp as epoch seconds.

    Raises ValueError with one wording for every caller (``--at``, a batch row's ``time``)."""
    text = value.strip()
    try:
        if _DATE.match(text):
            day = dt.date.fromisoformat(text)
            return int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp())
        stamp = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"not a date or ISO 8601 time: {value!r}") from None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=dt.UTC)
    return int(stamp.timestamp())


@dataclass(frozen=True, slots=True)
class Provenance:
    """Where a list comes from: the citation every decision quotes."""

    source_url: str
    as_of: str
    note: str
    extra: tuple[tuple[str, str], ...] = ()

    def to_dict(self) -> dict[str, str]:
        return {
            "source_url": self.source_url,
            "as_of": self.as_of,
            "note": self.note,
            **dict(self.extra),
        }


@dataclass(frozen=True, slots=True)
class DatedCode:
    """A country or subdivision code, optionally valid only within [from, until).

    ``certain_from`` marks a date known only as a range ("added between ``effective_from``
    and ``certain_from``"): inside the range the entry is ``uncertain`` and decisions go to
    review. ``basis`` says whether the source states the entry or it was inferred;
    ``coverage`` = ``part`` marks a subdivision only part of which the rule covers."""

    code: str
    effective_from: int | None = None
    effective_until: int | None = None
    note: str | None = None
    certain_from: int | None = None
    basis: str | None = None
    coverage: str = "whole"

    def active(self, at: int) -> bool:
        return (self.effective_from is None or at >= self.effective_from) and (
            self.effective_until is None or at < self.effective_until
        )

    def uncertain(self, at: int) -> bool:
        """Inside the range in which the entry was added, so not known to apply yet."""
        return self.certain_from is not None and self.active(at) and at < self.certain_from

    def stamps(self) -> tuple[int | None, ...]:
        return (self.effective_from, self.effective_until, self.certain_from)


@dataclass(frozen=True, slots=True)
class CountryRule:
    """A country list. A ``partial`` list may name codes known to be ``refused`` anyway and
    say in ``unlisted`` what happens to every other code it does not list (e.g. review)."""

    mode: str  # allowlist | denylist
    completeness: str  # complete | partial | unpublished
    entries: tuple[DatedCode, ...]
    unlisted: str | None
    provenance: Provenance
    refused: tuple[DatedCode, ...] = ()
    partial_from: int | None = None  # before this the list was complete: unlisted = refused

    def listed(self, country: str, at: int) -> bool:
        return any(e.code == country and e.active(at) for e in self.entries)

    def state(self, country: str, at: int) -> str:
        """``listed``, ``uncertain`` (added within a date range we are inside), ``refused``
        (known not listed) or ``unlisted`` (a partial list that says what happens to codes
        it does not name)."""
        for entry in self.entries:
            if entry.code == country and entry.active(at):
                return UNCERTAIN if entry.uncertain(at) else LISTED
        if (
            self.unlisted is None
            or (self.partial_from is not None and at < self.partial_from)
            or any(e.code == country and e.active(at) for e in self.refused)
        ):
            return REFUSED
        return UNLISTED


@dataclass(frozen=True, slots=True)
class SubdivisionRule:
    excluded: tuple[DatedCode, ...]
    basis: str
    provenance: Provenance

    def excluded_in(self, country: str, at: int) -> tuple[str, ...]:
        return tuple(e.code for e in self.excluded_entries(country, at))

    def excluded_entries(self, country: str, at: int) -> tuple[DatedCode, ...]:
        return tuple(e for e in self.excluded if e.code[:2] == country and e.active(at))


@dataclass(frozen=True, slots=True)
class EnforcementPeriod:
    effective_from: int | None
    effective_until: int | None
    on_violation: str
    note: str | None
    provenance: Provenance | None


@dataclass(frozen=True, slots=True)
class AccountCondition:
    """Callers from ``countries`` are served only to some accounts. With no
    ``allowed_tiers`` the sources name no fact a request can carry ("eligible customers"),
    so the condition is never met and ``otherwise`` decides."""

    id: str
    countries: frozenset[str]
    allowed_tiers: frozenset[str]
    otherwise: str
    exclude_region_countries: frozenset[str]
    provenance: Provenance


@dataclass(frozen=True, slots=True)
class ModelRule:
    """Model ids matching ``pattern`` (a regular expression anchored at the start, matched
    case-insensitively on the URL-decoded id) also get ``apply_policy``'s rules, or, for ids
    that do not say which model they run (e.g. application inference profile ARNs), the
    ``action`` (review)."""

    pattern: re.Pattern[str]
    apply_policy: str | None
    action: str | None
    provenance: Provenance
    note: str | None = None

    def matches(self, model: str) -> bool:
        return self.pattern.match(urllib.parse.unquote(model)) is not None


@dataclass(frozen=True, slots=True)
class AccountRule:
    """A rule over who the customer is. ``require`` is one of:

    - ``fact``: the account's ``fact`` must be one of ``allowed`` (tier, verification, contract);
    - ``ownership``: the account's country of incorporation/HQ must be served by this policy,
      and if its ultimate parent holds more than ``more_than`` percent, so must the parent's;
    - ``end_user_supported``: a stated end-user country must be served by this policy.

    Scope: ``user_countries`` (the end user's country if stated, else the caller's) and
    ``models`` (a model-id pattern). A fact the rule needs and the request lacks gives
    ``missing`` (review), never a pass; a fact that fails gives ``otherwise``."""

    id: str
    require: str
    fact: str | None
    allowed: frozenset[str]
    more_than: float | None
    user_countries: frozenset[str]
    models: re.Pattern[str] | None
    otherwise: str
    missing: str
    effective_from: int | None
    effective_until: int | None
    provenance: Provenance

    def active(self, at: int) -> bool:
        return (self.effective_from is None or at >= self.effective_from) and (
            self.effective_until is None or at < self.effective_until
        )

    def describe(self) -> str:
        if self.require == "fact":
            need = f"{self.fact} in {'/'.join(sorted(self.allowed))}"
        elif self.require == "ownership":
            need = (
                "HQ country served, and a parent owning more than "
                f"{self.more_than:g}% headquartered where served"
            )
        else:
            need = "a stated end-user country served"
        scope = []
        if self.user_countries:
            scope.append(f"users in {','.join(sorted(self.user_countries))}")
        if self.models is not None:
            scope.append(f"models /{self.models.pattern}/")
        where = f" (for {'; '.join(scope)})" if scope else ""
        return f"{need}{where}; otherwise {self.otherwise}, missing fact → {self.missing}"


@dataclass(frozen=True, slots=True)
class RegionGroup:
    """A group of deployment regions: ``eligibility`` names who alone may use it (e.g. Azure
    Government: US government customers); ``restricted`` regions are never offered."""

    name: str
    regions: dict[str, str]
    eligibility: str | None = None
    restricted: tuple[tuple[str, str], ...] = ()
    note: str | None = None
    provenance: Provenance | None = None

    def offered(self) -> tuple[str, ...]:
        closed = {name for name, _ in self.restricted}
        return tuple(name for name in self.regions if name not in closed)


@dataclass(frozen=True, slots=True)
class ProviderPolicy:
    """One provider's (or baseline's) rules, validated."""

    id: str
    display_name: str
    kind: str
    file: str
    countries: CountryRule
    subdivisions: SubdivisionRule | None
    enforcement: tuple[EnforcementPeriod, ...]
    anonymizers: dict[str, str] | None
    registered_country_mismatch: str
    account_conditions: tuple[AccountCondition, ...]
    model_rules: tuple[ModelRule, ...]
    regions: dict[str, dict[str, str]]
    regions_provenance: Provenance | None
    alternatives: tuple[str, ...]
    error_response: dict[str, Any] | None
    status: str
    status_note: str | None
    effective_from: int | None
    effective_until: int | None
    notes: str
    document: dict[str, Any] = field(repr=False, compare=False, hash=False)
    region_groups: dict[str, RegionGroup] = field(default_factory=dict)
    account_rules: tuple[AccountRule, ...] = ()

    def scoped_rules(self, model: str | None) -> tuple[int, ...]:
        """Indexes of the account rules scoped to models that ``model`` matches."""
        if not model:
            return ()
        decoded = urllib.parse.unquote(model)
        return tuple(
            i
            for i, rule in enumerate(self.account_rules)
            if rule.models is not None and rule.models.match(decoded)
        )

    def model_policies(self, model: str | None) -> tuple[str, ...]:
        """The other policies whose rules apply to ``model`` (in rule order, no repeats)."""
        if not model:
            return ()
        return tuple(
            dict.fromkeys(
                r.apply_policy for r in self.model_rules if r.apply_policy and r.matches(model)
            )
        )

    def model_actions(self, model: str | None) -> tuple[int, ...]:
        """Indexes of the rules that decide ``model`` by an action (the id hides the model)."""
        if not model:
            return ()
        return tuple(
            i for i, r in enumerate(self.model_rules) if r.action is not None and r.matches(model)
        )

    def enforcement_at(self, at: int) -> tuple[int, EnforcementPeriod]:
        for index, period in enumerate(self.enforcement):
            if (period.effective_from is None or at >= period.effective_from) and (
                period.effective_until is None or at < period.effective_until
            ):
                return index, period
        raise AssertionError("enforcement periods are validated to cover all time")

    def breakpoints(self) -> set[int]:
        """Every instant at which this policy's answer for some caller can change."""
        points: set[int] = set()
        stamps: list[int | None] = [
            self.effective_from,
            self.effective_until,
            self.countries.partial_from,
        ]
        for entry in (*self.countries.entries, *self.countries.refused):
            stamps += entry.stamps()
        if self.subdivisions:
            for entry in self.subdivisions.excluded:
                stamps += entry.stamps()
        for period in self.enforcement:
            stamps += [period.effective_from, period.effective_until]
        for rule in self.account_rules:
            stamps += [rule.effective_from, rule.effective_until]
        points.update(s for s in stamps if s is not None)
        return points


@dataclass(frozen=True)
class PolicySet:
    """All policies from one directory, with the content hash that versions them."""

    providers: dict[str, ProviderPolicy]
    baselines: tuple[ProviderPolicy, ...]
    version: str
    directory: str

    def provider_ids(self) -> list[str]:
        return sorted(self.providers)


class _Reader:
    """Reads one policy document, naming file/provider/field in every error."""

    def __init__(self, file: str, provider: str | None = None) -> None:
        self.file, self.provider = file, provider

    def fail(self, field_name: str, message: str) -> PolicyError:
        return PolicyError(message, file=self.file, provider=self.provider, field=field_name)

    def obj(self, value: Any, where: str, required: set[str], optional: set[str]) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(where, "must be an object")
        unknown = set(value) - required - optional
        if unknown:
            raise self.fail(where, f"unknown field(s): {', '.join(sorted(unknown))}")
        missing = required - set(value)
        if missing:
            raise self.fail(where, f"missing field(s): {', '.join(sorted(missing))}")
        return value

    def text(self, value: Any, where: str, *, empty: bool = False) -> str:
        if not isinstance(value, str) or (not empty and not value.strip()):
            raise self.fail(where, "must be a non-empty string")
        return value

    def choice(self, value: Any, where: str, options: tuple[str, ...]) -> str:
        if value not in options:
            raise self.fail(where, f"must be one of {', '.join(options)}; got {value!r}")
        return str(value)

    def instant(self, value: Any, where: str) -> int | None:
        if value is None:
            return None
        try:
            return parse_instant(self.text(value, where))
        except ValueError:
            raise self.fail(where, f"not a date or ISO 8601 timestamp: {value!r}") from None

    def country(self, value: Any, where: str) -> str:
        if not isinstance(value, str) or value not in iso_countries():
            raise self.fail(where, f"unknown ISO 3166-1 alpha-2 code {value!r}")
        return value

    def subdivision(self, value: Any, where: str) -> str:
        match = _SUBDIVISION.match(value) if isinstance(value, str) else None
        if not match or match.group(1) not in iso_countries():
            raise self.fail(where, f"not an ISO 3166-2 subdivision code: {value!r}")
        return str(value)

    def provenance(self, value: Any, where: str) -> Provenance:
        doc = self.obj(value, where, {"source_url", "as_of", "note"}, set(_EXTRA_PROVENANCE))
        url = self.text(doc["source_url"], f"{where}.source_url")
        if not url.startswith("https://"):
            raise self.fail(f"{where}.source_url", "must be an https:// URL")
        as_of = self.text(doc["as_of"], f"{where}.as_of")
        if as_of != "unknown" and not _DATE.match(as_of):
            raise self.fail(f"{where}.as_of", f"must be YYYY-MM-DD or 'unknown'; got {as_of!r}")
        extra = tuple((k, self.text(doc[k], f"{where}.{k}")) for k in _EXTRA_PROVENANCE if k in doc)
        if "last_checked" in doc and not _DATE.match(doc["last_checked"]):
            raise self.fail(f"{where}.last_checked", "must be YYYY-MM-DD")
        return Provenance(url, as_of, self.text(doc["note"], f"{where}.note"), extra)

    def dated_codes(self, value: Any, where: str, *, subdivision: bool) -> tuple[DatedCode, ...]:
        if not isinstance(value, list):
            raise self.fail(where, "must be a list")
        out: list[DatedCode] = []
        optional = {"effective_from", "effective_until", "added_between", "basis", "note"}
        if subdivision:
            optional.add("coverage")
        for i, item in enumerate(value):
            at = f"{where}[{i}]"
            check = self.subdivision if subdivision else self.country
            if isinstance(item, str):
                out.append(DatedCode(check(item, at)))
                continue
            doc = self.obj(item, at, {"code"}, optional)
            start = self.instant(doc.get("effective_from"), f"{at}.effective_from")
            certain = None
            if "added_between" in doc:
                start, certain = self.date_range(doc, at, start)
            entry = DatedCode(
                check(doc["code"], f"{at}.code"),
                start,
                self.instant(doc.get("effective_until"), f"{at}.effective_until"),
                self.text(doc["note"], f"{at}.note") if "note" in doc else None,
                certain,
                self.choice(doc["basis"], f"{at}.basis", BASES) if "basis" in doc else None,
                self.choice(doc.get("coverage", "whole"), f"{at}.coverage", ("whole", "part")),
            )
            if (
                entry.effective_from is not None
                and entry.effective_until is not None
                and (entry.effective_from >= entry.effective_until)
            ):
                raise self.fail(at, "effective_from must be before effective_until")
            out.append(entry)
        return self.unique(out, where)

    def date_range(self, doc: dict[str, Any], at: str, start: int | None) -> tuple[int, int]:
        """``added_between: [first, last]``: a date known only as a range."""
        where = f"{at}.added_between"
        if start is not None:
            raise self.fail(where, "give either effective_from or added_between, not both")
        span = doc["added_between"]
        if not isinstance(span, list) or len(span) != 2:
            raise self.fail(where, "must be [earliest, latest], two dates")
        first, last = self.instant(span[0], f"{where}[0]"), self.instant(span[1], f"{where}[1]")
        if first is None or last is None or first >= last:
            raise self.fail(where, "the earliest date must come before the latest")
        return first, last

    def unique(self, out: list[DatedCode], where: str) -> tuple[DatedCode, ...]:
        seen: dict[str, int] = {}
        for i, entry in enumerate(out):
            if entry.code in seen:
                raise self.fail(f"{where}[{i}]", f"{entry.code} is listed twice")
            seen[entry.code] = i
        return tuple(out)


_EXTRA_PROVENANCE = ("snapshot", "newer_source", "last_checked")
_TOP_REQUIRED = {"schema_version", "provider", "display_name", "kind", "countries", "enforcement"}
_TOP_OPTIONAL = {
    "subdivisions",
    "anonymizers",
    "registered_country_mismatch",
    "account_conditions",
    "model_rules",
    "regions",
    "alternatives",
    "error_response",
    "notes",
    "status",
    "status_note",
    "effective_from",
    "effective_until",
    "endpoints",
    "account_rules",
}


def _read_countries(r: _Reader, value: Any) -> CountryRule:
    doc = r.obj(
        value,
        "countries",
        {"mode", "completeness", "entries", "provenance"},
        {"unlisted", "refused", "partial_from"},
    )
    mode = r.choice(doc["mode"], "countries.mode", ("allowlist", "denylist"))
    completeness = r.choice(
        doc["completeness"], "countries.completeness", ("complete", "partial", "unpublished")
    )
    entries = r.dated_codes(doc["entries"], "countries.entries", subdivision=False)
    unlisted = doc.get("unlisted")
    refused: tuple[DatedCode, ...] = ()
    if completeness == "unpublished":
        if entries:
            raise r.fail("countries.entries", "an unpublished list must have no entries")
        if mode != "denylist":
            raise r.fail("countries.mode", "an unpublished list is written as an empty denylist")
        # Never a silent default: the file must say what happens to callers nobody listed.
        unlisted = r.choice(unlisted, "countries.unlisted", ACTIONS)
    elif not entries:
        raise r.fail("countries.entries", "a published list cannot be empty")
    elif completeness == "partial" and unlisted is not None:
        # What the list does not say is unknown: review it (or deny it), never allow it.
        unlisted = r.choice(unlisted, "countries.unlisted", ("review", "deny"))
        if mode != "allowlist":
            raise r.fail("countries.unlisted", "only a partial allowlist may set 'unlisted'")
    elif unlisted is not None:
        raise r.fail("countries.unlisted", "only a partial or unpublished list may set 'unlisted'")
    partial_from = r.instant(doc.get("partial_from"), "countries.partial_from")
    if partial_from is not None and (unlisted is None or completeness != "partial"):
        raise r.fail("countries.partial_from", "only a partial list with 'unlisted' has one")
    if "refused" in doc:
        if unlisted is None or completeness != "partial":
            raise r.fail(
                "countries.refused", "only a partial list with 'unlisted' names refused codes"
            )
        refused = r.dated_codes(doc["refused"], "countries.refused", subdivision=False)
        both = {e.code for e in entries} & {e.code for e in refused}
        if both:
            raise r.fail("countries.refused", f"{', '.join(sorted(both))} also listed in entries")
    return CountryRule(
        mode,
        completeness,
        entries,
        unlisted,
        r.provenance(doc["provenance"], "countries.provenance"),
        refused,
        partial_from,
    )


def _read_enforcement(r: _Reader, value: Any) -> tuple[EnforcementPeriod, ...]:
    if not isinstance(value, list) or not value:
        raise r.fail("enforcement", "must be a non-empty list of periods")
    periods: list[EnforcementPeriod] = []
    for i, item in enumerate(value):
        at = f"enforcement[{i}]"
        doc = r.obj(
            item, at, {"on_violation"}, {"effective_from", "effective_until", "note", "provenance"}
        )
        periods.append(
            EnforcementPeriod(
                r.instant(doc.get("effective_from"), f"{at}.effective_from"),
                r.instant(doc.get("effective_until"), f"{at}.effective_until"),
                r.choice(doc["on_violation"], f"{at}.on_violation", REFUSING_ACTIONS),
                doc.get("note"),
                r.provenance(doc["provenance"], f"{at}.provenance")
                if "provenance" in doc
                else None,
            )
        )
    # Periods must tile all of time, in order, with no gap and no overlap.
    if periods[0].effective_from is not None:
        raise r.fail("enforcement[0].effective_from", "the first period must be open-ended")
    if periods[-1].effective_until is not None:
        raise r.fail(
            f"enforcement[{len(periods) - 1}].effective_until", "the last period must be open-ended"
        )
    for i in range(1, len(periods)):
        if periods[i - 1].effective_until != periods[i].effective_from:
            raise r.fail(
                f"enforcement[{i}].effective_from",
                "periods must follow each other with no gap or overlap",
            )
    return tuple(periods)


_GROUP_FIELDS = {"eligibility", "restricted", "note", "provenance"}


def _read_regions(r: _Reader, value: Any) -> tuple[dict[str, RegionGroup], Provenance | None]:
    """Region groups: ``{region: country}``, or ``{regions, eligibility?, restricted?, note?,
    provenance?}`` for a group only some accounts may use or with access-restricted regions."""
    if value is None:
        return {}, None
    if not isinstance(value, dict) or "provenance" not in value:
        raise r.fail("regions", "must be an object of region groups with a provenance")
    groups: dict[str, RegionGroup] = {}
    for group, body in value.items():
        if group == "provenance":
            continue
        where = f"regions.{group}"
        spec: dict[str, Any] = {}
        regions = body
        if isinstance(body, dict) and "regions" in body:
            spec = r.obj(body, where, {"regions"}, _GROUP_FIELDS)
            regions = spec["regions"]
            where = f"{where}.regions"
        if not isinstance(regions, dict) or not regions:
            raise r.fail(where, "must map region names to country codes")
        names = {str(name): r.country(code, f"{where}.{name}") for name, code in regions.items()}
        restricted = spec.get("restricted", {})
        if not isinstance(restricted, dict):
            raise r.fail(f"regions.{group}.restricted", "must map region names to a note")
        for name, note in restricted.items():
            if name not in names:
                raise r.fail(f"regions.{group}.restricted.{name}", "not a region of this group")
            r.text(note, f"regions.{group}.restricted.{name}")
        eligibility = spec.get("eligibility")
        if eligibility is not None and not (
            isinstance(eligibility, str) and valid_tier(eligibility)
        ):
            raise r.fail(f"regions.{group}.eligibility", "must be a lower-case eligibility name")
        groups[group] = RegionGroup(
            group,
            names,
            eligibility,
            tuple(sorted(restricted.items())),
            r.text(spec["note"], f"regions.{group}.note") if "note" in spec else None,
            r.provenance(spec["provenance"], f"regions.{group}.provenance")
            if "provenance" in spec
            else None,
        )
    return groups, r.provenance(value["provenance"], "regions.provenance")


def _read_document(r: _Reader, doc: dict[str, Any]) -> ProviderPolicy:
    doc = r.obj(doc, "(document)", _TOP_REQUIRED, _TOP_OPTIONAL)
    if doc["schema_version"] != SCHEMA_VERSION:
        raise r.fail("schema_version", f"must be {SCHEMA_VERSION}; got {doc['schema_version']!r}")
    kind = r.choice(doc["kind"], "kind", ("provider", "baseline"))
    countries = _read_countries(r, doc["countries"])
    subdivisions = None
    if doc.get("subdivisions") is not None:
        sub = r.obj(doc["subdivisions"], "subdivisions", {"excluded", "basis", "provenance"}, set())
        subdivisions = SubdivisionRule(
            r.dated_codes(sub["excluded"], "subdivisions.excluded", subdivision=True),
            r.choice(sub["basis"], "subdivisions.basis", ("published", "inferred")),
            r.provenance(sub["provenance"], "subdivisions.provenance"),
        )
    anonymizers = None
    if doc.get("anonymizers") is not None:
        anon = r.obj(doc["anonymizers"], "anonymizers", set(ANONYMIZER_FLAGS), set())
        anonymizers = {k: r.choice(v, f"anonymizers.{k}", ACTIONS) for k, v in anon.items()}
    elif kind == "provider":
        raise r.fail("anonymizers", "a provider must say what to do with each anonymizer")
    region_groups, regions_provenance = _read_regions(r, doc.get("regions"))
    conditions = []
    for i, item in enumerate(doc.get("account_conditions", [])):
        at = f"account_conditions[{i}]"
        cond = r.obj(
            item,
            at,
            {"id", "countries", "otherwise", "provenance"},
            {"serve_from", "allowed_tiers"},
        )
        tiers = cond.get("allowed_tiers", [])
        if (
            ("allowed_tiers" in cond and not tiers)
            or not isinstance(tiers, list)
            or not all(isinstance(t, str) and valid_tier(t) for t in tiers)
        ):
            raise r.fail(f"{at}.allowed_tiers", "must be a non-empty list of tier names")
        serve = r.obj(
            cond.get("serve_from", {}), f"{at}.serve_from", set(), {"exclude_region_countries"}
        )
        conditions.append(
            AccountCondition(
                r.text(cond["id"], f"{at}.id"),
                frozenset(r.country(c, f"{at}.countries") for c in cond["countries"]),
                frozenset(tiers),
                r.choice(cond["otherwise"], f"{at}.otherwise", REFUSING_ACTIONS),
                frozenset(
                    r.country(c, f"{at}.serve_from")
                    for c in serve.get("exclude_region_countries", [])
                ),
                r.provenance(cond["provenance"], f"{at}.provenance"),
            )
        )
    model_rules = []
    for i, item in enumerate(doc.get("model_rules", [])):
        at = f"model_rules[{i}]"
        model_rules.append(_read_model_rule(r, item, at))
    alternatives = doc.get("alternatives", [])
    if not isinstance(alternatives, list) or not all(isinstance(a, str) for a in alternatives):
        raise r.fail("alternatives", "must be a list of provider ids")
    policy = ProviderPolicy(
        id=str(doc["provider"]),
        display_name=r.text(doc["display_name"], "display_name"),
        kind=kind,
        file=r.file,
        countries=countries,
        subdivisions=subdivisions,
        enforcement=_read_enforcement(r, doc["enforcement"]),
        anonymizers=anonymizers,
        registered_country_mismatch=r.choice(
            doc.get("registered_country_mismatch", "ignore"),
            "registered_country_mismatch",
            ("ignore", "review"),
        ),
        account_conditions=tuple(conditions),
        model_rules=tuple(model_rules),
        regions={name: group.regions for name, group in region_groups.items()},
        regions_provenance=regions_provenance,
        alternatives=tuple(alternatives),
        error_response=doc.get("error_response"),
        status=r.choice(doc.get("status", "available"), "status", ("available", "unconfirmed")),
        status_note=doc.get("status_note"),
        effective_from=r.instant(doc.get("effective_from"), "effective_from"),
        effective_until=r.instant(doc.get("effective_until"), "effective_until"),
        notes=str(doc.get("notes", "")),
        document=doc,
        region_groups=region_groups,
        account_rules=tuple(
            _read_account_rule(r, item, f"account_rules[{i}]")
            for i, item in enumerate(_list(r, doc.get("account_rules", []), "account_rules"))
        ),
    )
    _check_contradictions(r, policy)
    return policy


def _list(r: _Reader, value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise r.fail(where, "must be a list")
    return value


def _read_account_rule(r: _Reader, item: Any, at: str) -> AccountRule:
    doc = r.obj(
        item,
        at,
        {"id", "require", "otherwise", "provenance"},
        {"missing", "user_countries", "models", "effective_from", "effective_until", "note"},
    )
    need = r.obj(
        doc["require"],
        f"{at}.require",
        set(),
        {"fact", "in", "ownership_more_than", "end_user_supported"},
    )
    kinds = [k for k in ("fact", "ownership_more_than", "end_user_supported") if k in need]
    if len(kinds) != 1:
        raise r.fail(
            f"{at}.require",
            "give exactly one of fact (with in), ownership_more_than, end_user_supported",
        )
    fact, allowed, more_than = None, frozenset[str](), None
    if kinds[0] == "fact":
        fact = r.choice(need["fact"], f"{at}.require.fact", ("tier", "verification", "contract"))
        values = need.get("in")
        if (
            not isinstance(values, list)
            or not values
            or not all(isinstance(v, str) and valid_tier(v) for v in values)
        ):
            raise r.fail(f"{at}.require.in", "must be a non-empty list of lower-case values")
        allowed = frozenset(values)
    elif kinds[0] == "ownership_more_than":
        share = need["ownership_more_than"]
        if isinstance(share, bool) or not isinstance(share, int | float) or not 0 <= share < 100:
            raise r.fail(f"{at}.require.ownership_more_than", "must be a percentage from 0 to 100")
        more_than = float(share)
    elif need["end_user_supported"] is not True:
        raise r.fail(f"{at}.require.end_user_supported", "must be true")
    models = None
    if "models" in doc:
        try:
            models = re.compile(r.text(doc["models"], f"{at}.models"), re.IGNORECASE)
        except re.error as exc:
            raise r.fail(f"{at}.models", f"not a regular expression: {exc}") from None
    users = _list(r, doc.get("user_countries", []), f"{at}.user_countries")
    rule = AccountRule(
        id=r.text(doc["id"], f"{at}.id"),
        require={"fact": "fact", "ownership_more_than": "ownership"}.get(kinds[0], "end_user"),
        fact=fact,
        allowed=allowed,
        more_than=more_than,
        user_countries=frozenset(r.country(c, f"{at}.user_countries") for c in users),
        models=models,
        otherwise=r.choice(doc["otherwise"], f"{at}.otherwise", ("deny", "review")),
        missing=r.choice(doc.get("missing", "review"), f"{at}.missing", ("review", "deny")),
        effective_from=r.instant(doc.get("effective_from"), f"{at}.effective_from"),
        effective_until=r.instant(doc.get("effective_until"), f"{at}.effective_until"),
        provenance=r.provenance(doc["provenance"], f"{at}.provenance"),
    )
    if rule.require == "end_user" and rule.user_countries:
        raise r.fail(f"{at}.user_countries", "an end-user rule already judges the end user")
    return rule


def _read_model_rule(r: _Reader, item: Any, at: str) -> ModelRule:
    """``model_prefix`` (a literal start) or ``model_pattern`` (a regular expression), and
    either ``apply_policy`` or ``action``."""
    rule = r.obj(
        item,
        at,
        {"provenance"},
        {"model_prefix", "model_pattern", "apply_policy", "action", "note"},
    )
    if ("model_prefix" in rule) == ("model_pattern" in rule):
        raise r.fail(at, "give exactly one of model_prefix and model_pattern")
    if ("apply_policy" in rule) == ("action" in rule):
        raise r.fail(at, "give exactly one of apply_policy and action")
    if "model_prefix" in rule:
        source = re.escape(r.text(rule["model_prefix"], f"{at}.model_prefix"))
    else:
        source = r.text(rule["model_pattern"], f"{at}.model_pattern")
    try:
        pattern = re.compile(source, re.IGNORECASE)
    except re.error as exc:
        raise r.fail(f"{at}.model_pattern", f"not a regular expression: {exc}") from None
    return ModelRule(
        pattern,
        r.text(rule["apply_policy"], f"{at}.apply_policy") if "apply_policy" in rule else None,
        r.choice(rule["action"], f"{at}.action", ("review", "deny")) if "action" in rule else None,
        r.provenance(rule["provenance"], f"{at}.provenance"),
        r.text(rule["note"], f"{at}.note") if "note" in rule else None,
    )


def _check_contradictions(r: _Reader, policy: ProviderPolicy) -> None:
    if policy.kind == "baseline" and (policy.alternatives or policy.account_conditions):
        raise r.fail("kind", "a baseline applies to every provider: no alternatives or conditions")
    if policy.id in policy.alternatives:
        raise r.fail("alternatives", "a provider cannot be its own alternative")
    if len(set(policy.alternatives)) != len(policy.alternatives):
        raise r.fail("alternatives", "lists a provider twice")
    rule = policy.countries
    for i, cond in enumerate(policy.account_conditions):
        for country in sorted(cond.countries):
            listed = any(e.code == country for e in rule.entries)
            blocked = (rule.mode == "allowlist" and not listed) or (
                rule.mode == "denylist" and listed
            )
            if blocked:
                raise r.fail(
                    f"account_conditions[{i}].countries",
                    f"{country} is refused by the country list, so the condition could never apply",
                )
    if policy.subdivisions and rule.mode == "denylist" and rule.completeness != "unpublished":
        for i, entry in enumerate(policy.subdivisions.excluded):
            if any(
                e.code == entry.code[:2] and e.effective_from is None and e.effective_until is None
                for e in rule.entries
            ):
                raise r.fail(
                    f"subdivisions.excluded[{i}]",
                    f"{entry.code} lies in {entry.code[:2]}, which is denied outright",
                )


def load_policy_set(directory: str | Path | None = None) -> PolicySet:
    """Load and validate every ``*.json`` policy in ``directory`` (default: the bundled set)."""
    root = Path(directory) if directory else DEFAULT_POLICY_DIR
    if not root.is_dir():
        raise PolicyError(f"policy directory {root} does not exist")
    files = sorted(p for p in root.glob("*.json") if not p.name.startswith("_"))
    if not files:
        raise PolicyError(f"policy directory {root} holds no *.json policy files")
    digest = hashlib.sha256()
    policies: dict[str, ProviderPolicy] = {}
    for path in files:
        raw = path.read_bytes()
        digest.update(path.name.encode() + b"\0" + raw + b"\0")
        try:
            doc = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise PolicyError(f"invalid JSON: {exc}", file=path.name) from exc
        provider = doc.get("provider") if isinstance(doc, dict) else None
        reader = _Reader(path.name, provider if isinstance(provider, str) else None)
        if not isinstance(provider, str) or not _PROVIDER_ID.match(provider):
            raise reader.fail(
                "provider", f"must be a lower-case id like 'openai'; got {provider!r}"
            )
        if path.stem != provider:
            raise reader.fail("provider", f"file name must be {provider}.json")
        policies[provider] = _read_document(reader, doc)
    _check_references(policies)
    providers = {k: v for k, v in policies.items() if v.kind == "provider"}
    baselines = tuple(v for k, v in sorted(policies.items()) if v.kind == "baseline")
    return PolicySet(providers, baselines, "sha256:" + digest.hexdigest()[:16], str(root))


def _check_references(policies: dict[str, ProviderPolicy]) -> None:
    for policy in policies.values():
        r = _Reader(policy.file, policy.id)
        for i, alt in enumerate(policy.alternatives):
            target = policies.get(alt)
            if target is None or target.kind != "provider":
                raise r.fail(f"alternatives[{i}]", f"unknown provider {alt!r}")
        for i, rule in enumerate(policy.model_rules):
            if rule.apply_policy is None:
                continue
            target = policies.get(rule.apply_policy)
            if target is None or target.kind != "provider" or target.id == policy.id:
                raise r.fail(
                    f"model_rules[{i}].apply_policy", f"unknown provider {rule.apply_policy!r}"
                )
