"""Where ``regiongate audit`` reads the trail: a DynamoDB table (in AWS, or the emulator of a
running ``regiongate serve``), and a local journal — and whether the two agree.

``--data-dir`` names a ``regiongate serve`` data directory: its journal, and, while the
server runs, its emulator's table (the server writes the endpoint to ``endpoint`` there).
Without a region or credentials, or with the endpoint unreachable, the error says so in one
line instead of a traceback.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from regiongate.aws import clients
from regiongate.aws.journal import Journal
from regiongate.aws.store import AuditStore
from regiongate.errors import RegiongateError

Chains = dict[str, list[dict[str, Any]]]


class TrailUnavailableError(RegiongateError):
    """The trail named cannot be read (no such journal, no region or credentials, ...)."""

    code = "audit_trail_unavailable"
    http_status = 503


@dataclass
class Trail:
    """What to read: any of a journal and a table."""

    journal: Journal | None = None
    store: AuditStore | None = None
    where: str = ""

    def sources(self) -> list[tuple[str, Chains]]:
        """(name, partition -> links) for each source, journal first."""
        out: list[tuple[str, Chains]] = []
        if self.journal is not None:
            out.append((f"journal {self.journal.path}", self.journal.chains()))
        if self.store is not None:
            store = self.store
            out.append(
                (
                    f"table {store.table_name}{self.where}",
                    {p: list(store.chain(p)) for p in store.partitions()},
                )
            )
        return out


def disagreements(first: Chains, second: Chains) -> list[str]:
    """Links one source holds and the other does not, or holds with other content."""
    problems = []
    for partition in sorted(set(first) | set(second)):
        a = {int(r["sequence"]): r for r in first.get(partition, [])}
        b = {int(r["sequence"]): r for r in second.get(partition, [])}
        for sequence in sorted(set(a) | set(b)):
            if sequence not in a or sequence not in b:
                side = "journal" if sequence in a else "table"
                problems.append(f"{partition} link {sequence}: only in the {side}")
            elif a[sequence] != b[sequence]:
                problems.append(f"{partition} link {sequence}: journal and table differ")
    return problems


def use_endpoint(endpoint: str) -> None:
    """Point this process's AWS clients at a local emulator (which takes any credentials)."""
    os.environ.update(AWS_ENDPOINT_URL=endpoint)
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    clients.reset()


def check_aws_configured() -> None:
    """Fail with one line, before any call, when botocore could not sign a request."""
    import botocore.session  # noqa: PLC0415 - only the table paths need it

    session = botocore.session.get_session()
    if not session.get_config_variable("region"):
        raise TrailUnavailableError(
            "no AWS region: set AWS_REGION (or AWS_DEFAULT_REGION), or pass --region"
        )
    if session.get_credentials() is None:
        raise TrailUnavailableError("no AWS credentials found (see the AWS CLI's configuration)")


def local_service(data_dir: Path) -> tuple[str, str] | None:
    """(endpoint, table) of the ``regiongate serve`` using ``data_dir``, if it is running."""
    try:
        info = json.loads((data_dir / "endpoint").read_text())
        endpoint, table = str(info["endpoint"]), str(info["table"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    import urllib.request  # noqa: PLC0415

    try:
        with urllib.request.urlopen(endpoint + "/moto-api/data.json", timeout=2):  # noqa: S310
            return endpoint, table
    except OSError:
        return None


def open_trail(
    *,
    data_dir: str | None = None,
    journal: str | None = None,
    table: str | None = None,
    endpoint: str | None = None,
    region: str | None = None,
) -> Trail:
    """The trail the CLI's options name (see the module docstring)."""
    trail = Trail()
    if data_dir is not None:
        directory = Path(data_dir)
        if not directory.is_dir():
            raise TrailUnavailableError(f"no data directory at {data_dir}")
        journal = journal or str(directory / "audit-journal.jsonl")
        found = local_service(directory) if table is None and endpoint is None else None
        if found is not None:
            endpoint, table = found
            trail.where = f" (regiongate serve at {endpoint})"
    if journal is not None:
        if not Path(journal).is_file():
            raise TrailUnavailableError(f"no journal at {journal}")
        trail.journal = Journal(Path(journal))
    if table is not None:
        if region:
            os.environ.update(AWS_DEFAULT_REGION=region)
            clients.reset()
        if endpoint:
            use_endpoint(endpoint)
        check_aws_configured()
        trail.store = AuditStore(table)
    if trail.journal is None and trail.store is None:
        raise TrailUnavailableError(
            "name the trail: --data-dir DIR (regiongate serve's), --table NAME (DynamoDB; "
            "--endpoint URL for an emulator) or --journal FILE"
        )
    return trail
