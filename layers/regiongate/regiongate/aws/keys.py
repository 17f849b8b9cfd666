"""Keys of the audit trail: the secret that turns caller addresses into stable, unlinkable
hashes, and the audit table's item keys (one spelling, shared by the store and the journal).

In AWS the secret is an SSM SecureString parameter; locally it is a file (created on first use).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from regiongate.aws.clients import client
from regiongate.caches import process_cache
from regiongate.errors import RegiongateError


def chain_pk(partition: str) -> str:
    """The partition key of a chain's links."""
    return f"chain#{partition}"


def link_sk(sequence: int) -> str:
    """The sort key of a chain link: zero-padded, so links sort in sequence order."""
    return f"seq#{sequence:010d}"


LINK_PREFIX = "seq#"
POINTER_SK = "record"


def pointer_pk(decision_id: str) -> str:
    """The partition key of the item that says where a decision's link is."""
    return f"decision#{decision_id}"


def partition_of_pk(pk: str) -> str:
    """``chain#<partition>`` -> ``<partition>``."""
    return pk.split("#", 1)[1]


class KeyUnavailableError(RegiongateError):
    code = "audit_key_unavailable"
    http_status = 503


@process_cache
def ip_hash_key(parameter: str, file: str) -> bytes:
    if parameter:
        try:
            value = client("ssm").get_parameter(Name=parameter, WithDecryption=True)
        except Exception as exc:  # any failure to fetch the key must stop recording
            raise KeyUnavailableError(f"cannot read SSM parameter {parameter}") from exc
        return str(value["Parameter"]["Value"]).encode()
    path = Path(file or ".regiongate/ip-hash.key")
    if not path.exists():
        _create_key_file(path)
    return path.read_text().strip().encode()


def _create_key_file(path: Path) -> None:
    """Write a new random key so that no reader ever sees a partial file: write a private
    temporary file, then link it into place (which fails if another process won the race)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_hex(32))
        handle.flush()
        os.fsync(handle.fileno())
    try:
        os.link(temporary, path)
    except FileExistsError:
        pass  # someone else's key is in place; use theirs
    finally:
        temporary.unlink()
