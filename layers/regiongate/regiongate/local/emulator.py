"""The local AWS emulator: moto's server with the work it wastes taken out.

``regiongate serve`` runs ``python -m regiongate.local.emulator -H 127.0.0.1 -p PORT`` in
place of ``python -m moto.server``: only that child process imports this module, so nothing
here runs in AWS or changes what the functions do. Each patch keeps what moto answers:

- EventBridge: for every target of every event, moto parses each JSONPath of the target's
  input paths map afresh, and jsonpath_ng builds its parser for each parse (about a fifth of
  the emulator's CPU per decision). Parsed expressions are kept by their text; ``find`` only
  reads them.
- Every request: moto finds the service for the request's host by listing its own package
  directory (a ``listdir`` and ~200 ``isdir`` calls); the list is read once.
- werkzeug logs every request line (serve discards the child's output anyway).
"""

from __future__ import annotations

import functools
import logging
import sys


def speed_up() -> None:
    """Apply the patches to this process (idempotent)."""
    import jsonpath_ng.ext  # noqa: PLC0415 (moto's dependency; only in the emulator)
    from moto import backends  # noqa: PLC0415

    parse = vars(jsonpath_ng.ext)["parse"]
    if not hasattr(parse, "cache_info"):
        vars(jsonpath_ng.ext)["parse"] = functools.lru_cache(maxsize=1024)(parse)
    if not hasattr(backends.list_of_moto_modules, "cache_info"):
        listed = backends.list_of_moto_modules
        backends.list_of_moto_modules = functools.cache(lambda: tuple(listed()))
    logging.getLogger("werkzeug").setLevel(logging.WARNING)


def main(argv: list[str] | None = None) -> None:
    """moto's server command line, after :func:`speed_up`."""
    speed_up()
    from moto.server import main as moto_main  # noqa: PLC0415

    moto_main(argv if argv is not None else sys.argv[1:])


if __name__ == "__main__":
    main()
