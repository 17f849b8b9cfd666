"""Typed domain errors. Each carries a stable ``code`` that APIs and the CLI report verbatim."""

from __future__ import annotations

from typing import Any


class RegiongateError(Exception):
    """Base of every error the domain raises on purpose."""

    code = "internal_error"
    http_status = 500

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = {k: v for k, v in details.items() if v is not None}


class InvalidAddressError(RegiongateError, ValueError):
    """The caller's address is not an IP address we can read."""

    code = "invalid_ip"
    http_status = 400

    def __init__(self, value: str, reason: str) -> None:
        super().__init__(f"invalid IP address {value!r}: {reason}", value=value, reason=reason)
        self.value = value


class UnknownProviderError(RegiongateError, LookupError):
    """The request names a provider that no loaded policy describes."""

    code = "unknown_provider"
    http_status = 404

    def __init__(self, provider: str, known: list[str]) -> None:
        super().__init__(f"unknown provider {provider!r}", provider=provider, known=known)
        self.provider = provider


class InvalidRequestError(RegiongateError, ValueError):
    """A request field has a value the domain cannot use."""

    code = "invalid_request"
    http_status = 400

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message, field=field)


class GeoDatabaseError(RegiongateError):
    """A geo database is missing, unreadable or corrupt; decisions must not proceed on it."""

    code = "geo_database_unavailable"
    http_status = 503

    def __init__(self, path: str, reason: str) -> None:
        # The message is what API bodies show: no path, no reader message (those are in
        # ``details``, which 5xx answers only log, and in ``str()`` for the CLI and logs).
        super().__init__("geo data is unavailable", path=path, reason=reason)
        self.path, self.reason = path, reason

    def __str__(self) -> str:
        return f"geo database {self.path}: {self.reason}"


class PolicyError(RegiongateError):
    """A policy file breaks the schema or contradicts itself."""

    code = "policy_invalid"
    http_status = 500

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        provider: str | None = None,
        field: str | None = None,
    ) -> None:
        where = ", ".join(
            f"{k} {v}" for k, v in (("file", file), ("provider", provider), ("field", field)) if v
        )
        super().__init__(
            f"{where}: {message}" if where else message, file=file, provider=provider, field=field
        )
        self.file, self.provider, self.field = file, provider, field
