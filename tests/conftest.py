"""Shared fixtures: generated geo databases, the bundled engine, the reference data path."""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import geodb
from helpers import Stack
from regiongate.engine import Engine
from regiongate.geo import GeoDatabase, Geolocator, open_geolocator
from regiongate.policy import PolicySet, load_policy_set

ROOT = Path(__file__).resolve().parent.parent
EVENTS = ROOT / "events"

# Tests run offline and with settings of their own.
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "1")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "regiongate-tests")
os.environ.pop("REGIONGATE_GEO_DATABASES", None)
os.environ.pop("REGIONGATE_POLICY_DIR", None)


def pytest_collection_finish(session: pytest.Session) -> None:
    """The coverage floor (``fail_under`` in pyproject.toml) holds for the full default run
    (``make test``, CI, land-check); a run of some tests (paths, -k or -m) is not held to it."""
    option = session.config.option
    coverage = session.config.pluginmanager.getplugin("_cov")  # pytest-cov, with its options
    default_marks = option.markexpr in ("", "not slow")  # addopts leaves out the slow tests
    if coverage is not None and (option.file_or_dir or option.keyword or not default_marks):
        coverage.options.cov_fail_under = None


@pytest.fixture(autouse=True)
def _no_outside_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unit tests may talk to loopback only: an unmocked AWS call fails loudly."""
    real_connect = socket.socket.connect

    def guarded(self: socket.socket, address: object) -> object:
        host = address[0] if isinstance(address, tuple) else address
        if (
            isinstance(host, str)
            and host not in ("127.0.0.1", "localhost", "::1")
            and not (host.startswith("127.") or self.family == socket.AF_UNIX)
        ):
            raise RuntimeError(f"test tried to reach {address!r}")
        return real_connect(self, address)  # type: ignore[arg-type]

    monkeypatch.setattr(socket.socket, "connect", guarded)


@pytest.fixture(scope="session")
def geo_dbs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return geodb.build_all(tmp_path_factory.mktemp("geo"))


@pytest.fixture(scope="session")
def policies() -> PolicySet:
    return load_policy_set()


@pytest.fixture(scope="session")
def engine(policies: PolicySet) -> Engine:
    """The bundled policies over the bundled DB-IP country database."""
    return Engine(policies, open_geolocator())


@pytest.fixture(scope="session")
def rich_engine(policies: PolicySet, geo_dbs: dict[str, Path]) -> Iterator[Engine]:
    """Bundled policies over City + Anonymous IP + ASN test databases."""
    geolocator = Geolocator([GeoDatabase(geo_dbs[k]) for k in ("city", "anonymous", "asn")])
    yield Engine(policies, geolocator)
    geolocator.close()


# --- the serverless application in-process, on moto, built from template.yaml ------------


@pytest.fixture
def stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    from moto import mock_aws
    from regiongate.aws import clients
    from regiongate.local.emulator import make_dynamodb_atomic
    from regiongate.local.provision import provision
    from regiongate.local.template import Template

    make_dynamodb_atomic()  # as strict as DynamoDB, as `regiongate serve`'s emulator is
    with mock_aws():
        clients.reset()
        template = Template.load(ROOT / "template.yaml")
        provision(template)
        yield Stack(template, tmp_path, monkeypatch)
    monkeypatch.undo()
    from regiongate.caches import reset_process_caches

    reset_process_caches()
