"""The process-wide engine: policies and geo databases loaded once, shared by every caller.

Lambda functions, the local server and the CLI all get their engine here, so a warm process
never re-reads a policy file or reopens a database.
"""

from __future__ import annotations

import os

from regiongate.decision import Engine
from regiongate.geo import open_geolocator
from regiongate.policy import load_policy_set

_ENGINES: dict[tuple[tuple[str, ...], str], Engine] = {}


def get_engine(geo_paths: list[str] | None = None, policy_dir: str | None = None) -> Engine:
    """The shared engine for these databases and policy directory.

    Defaults come from ``REGIONGATE_GEO_DATABASES`` and ``REGIONGATE_POLICY_DIR``, then from
    the bundled DB-IP country database and bundled policies.
    """
    policy_dir = policy_dir or os.environ.get("REGIONGATE_POLICY_DIR") or ""
    geolocator = open_geolocator(geo_paths)
    key = (tuple(db.path for db in geolocator.databases), policy_dir)
    engine = _ENGINES.get(key)
    if engine is None:
        engine = Engine(load_policy_set(policy_dir or None), geolocator)
        _ENGINES[key] = engine
    return engine
