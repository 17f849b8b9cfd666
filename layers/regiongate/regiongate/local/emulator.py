"""The local AWS emulator (moto's server) in a child process: as strict as DynamoDB where the
audit store relies on it, and never outliving the process that started it.

- Strict: DynamoDB's conditional writes are atomic per item; moto's are not (two threads
  can both pass ``attribute_not_exists`` and both write). ``make_dynamodb_atomic`` puts one
  lock around moto's DynamoDB writes (and the reads that iterate a table), in the child and in
  tests that run moto in-process.
- Bound to its parent: the child asks Linux to kill it when its parent dies
  (``PR_SET_PDEATHSIG``), and also watches its parent's pid (for other systems, and for the
  instant before the request took effect). ``Emulator.stop`` ends it however the server ends.
- It binds 127.0.0.1 port 0 itself and reports the port on its first line of output, so no
  other process can take the port between choosing and binding it.

- Fast: moto's server with the work it wastes taken out (:func:`speed_up`); each patch keeps
  what moto answers. EventBridge parses each JSONPath of a target's input paths map afresh for
  every target of every event, and jsonpath_ng builds its parser for each parse (about a fifth
  of the emulator's CPU per decision): parsed expressions are kept by their text. moto finds
  the service for a request's host by listing its own package directory on every request: the
  list is read once. SQS computes a queue's attributes (a walk over every message) once per
  call, not three times per attribute and once per message received. werkzeug's request log
  is off.

Only this child imports the module's patches, so nothing here runs in AWS or changes what the
functions do. Run as ``python -m regiongate.local.emulator --parent PID``.
"""

from __future__ import annotations

import argparse
import functools
import logging
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

# What must not interleave: every DynamoDB write, and the reads that iterate a table's items
# (a write during the iteration would break it).
_LOCKED = (
    "put_item",
    "update_item",
    "delete_item",
    "transact_write_items",
    "query",
    "scan",
)
READY = "regiongate-emulator listening on port "


def make_dynamodb_atomic() -> None:
    """Serialise moto's DynamoDB writes, as DynamoDB is atomic per item (idempotent)."""
    from moto.dynamodb.models import DynamoDBBackend  # noqa: PLC0415 - moto is heavy

    if getattr(DynamoDBBackend, "_regiongate_atomic", False):
        return
    lock = threading.RLock()
    for name in _LOCKED:
        original: Callable[..., Any] = getattr(DynamoDBBackend, name)

        def locked(*args: Any, __original: Callable[..., Any] = original, **kwargs: Any) -> Any:
            with lock:
                return __original(*args, **kwargs)

        setattr(DynamoDBBackend, name, functools.wraps(original)(locked))
    setattr(DynamoDBBackend, "_regiongate_atomic", True)  # noqa: B010


def speed_up() -> None:
    """Apply the speed patches to this process (idempotent)."""
    import jsonpath_ng.ext  # noqa: PLC0415 (moto's dependency; only in the emulator)
    from moto import backends  # noqa: PLC0415

    parse = vars(jsonpath_ng.ext)["parse"]
    if not hasattr(parse, "cache_info"):
        vars(jsonpath_ng.ext)["parse"] = functools.lru_cache(maxsize=1024)(parse)
    if not hasattr(backends.list_of_moto_modules, "cache_info"):
        listed = backends.list_of_moto_modules
        backends.list_of_moto_modules = functools.cache(lambda: tuple(listed()))
    _speed_up_sqs()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)


def _speed_up_sqs() -> None:
    """moto's SQS rebuilds every attribute of a queue — counting its messages, a walk over all
    of them — three times per attribute asked for, and asks for the retention period once per
    message it receives: a receive costs O(backlog²) and a backlog never catches up. The
    patched methods compute a queue's attributes once per call and read the retention period
    from the queue itself; the answers are the same."""
    from moto.core.utils import unix_time  # noqa: PLC0415
    from moto.sqs.exceptions import InvalidAttributeName  # noqa: PLC0415
    from moto.sqs.models import SQSBackend  # noqa: PLC0415

    if getattr(SQSBackend, "_regiongate_fast", False):
        return

    def get_queue_attributes(
        self: SQSBackend, queue_name: str, attribute_names: list[str]
    ) -> dict[str, Any]:
        queue = self.get_queue(queue_name)
        if not attribute_names:
            return {}
        valid = ["All", *queue.BASE_ATTRIBUTES, *queue.FIFO_ATTRIBUTES, *queue.KMS_ATTRIBUTES]
        invalid = next((name for name in attribute_names if name not in valid), None)
        if invalid or invalid == "":
            raise InvalidAttributeName(invalid)
        attributes: dict[str, Any] = queue.attributes
        if "All" in attribute_names:
            return attributes
        return {
            name: attributes[name]
            for name in attribute_names
            if name in attributes and attributes[name] is not None
        }

    def is_message_valid_based_on_retention_period(
        self: SQSBackend, queue_name: str, message: Any
    ) -> bool:
        retention_period = vars(self.get_queue(queue_name))["message_retention_period"]
        return bool(retention_period + message.sent_timestamp / 1000 > unix_time())

    setattr(SQSBackend, "get_queue_attributes", get_queue_attributes)  # noqa: B010
    setattr(  # noqa: B010
        SQSBackend,
        "is_message_valid_based_on_retention_period",
        is_message_valid_based_on_retention_period,
    )
    setattr(SQSBackend, "_regiongate_fast", True)  # noqa: B010


def _die_with_parent(parent: int) -> None:
    """Linux kills us when the parent dies; a watcher thread covers everything else."""
    if sys.platform.startswith("linux"):
        import ctypes  # noqa: PLC0415 - only on Linux

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)

    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(0)
    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def main(argv: list[str] | None = None) -> None:
    """The child: bind, report the port, serve until the parent stops us or dies."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parent", type=int, required=True, help="pid to die with")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    _die_with_parent(args.parent)
    # The parent decides when we stop (after draining); a terminal's Ctrl-C is not for us.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    speed_up()
    from moto.moto_server.werkzeug_app import (  # noqa: PLC0415
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server  # noqa: PLC0415

    make_dynamodb_atomic()
    server = make_server(
        "127.0.0.1",
        args.port,
        DomainDispatcherApplication(create_backend_app),
        threaded=True,
        request_handler=MotoRequestHandler,
    )
    sys.stdout.write(f"{READY}{server.server_address[1]}\n")
    sys.stdout.flush()
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)  # nobody reads our output any more: never block on a full pipe
    server.serve_forever()


class EmulatorError(RuntimeError):
    """The emulator could not be started."""


class Emulator:
    """The parent's handle on the child (see the module docstring)."""

    def __init__(self) -> None:
        self.process: subprocess.Popen[bytes] | None = None
        self.endpoint = ""

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def start(self, timeout: float = 60.0) -> str:
        """Start the child and wait for its port; returns the endpoint URL."""
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "regiongate.local.emulator", "--parent", str(os.getpid())],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
            # Its own session: a terminal's Ctrl-C must not stop it before we drain the queues.
            start_new_session=True,
        )
        try:
            port = self._read_port(timeout)
        except BaseException:
            self.stop()
            raise
        self.endpoint = f"http://127.0.0.1:{port}"
        return self.endpoint

    def _read_port(self, timeout: float) -> int:
        assert self.process is not None and self.process.stdout is not None
        deadline = time.monotonic() + timeout
        line = b""
        while not line.endswith(b"\n"):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise EmulatorError(f"the AWS emulator (moto) did not start within {timeout} s")
            ready, _, _ = select.select([self.process.stdout], [], [], remaining)
            if not ready:
                continue
            chunk = os.read(self.process.stdout.fileno(), 256)
            if not chunk:
                raise EmulatorError("the AWS emulator (moto) exited at start-up")
            line += chunk
        self.process.stdout.close()
        text = line.decode(errors="replace").strip()
        if not text.startswith(READY):
            raise EmulatorError(f"the AWS emulator (moto) said {text!r} at start-up")
        return int(text.removeprefix(READY))

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 5.0) -> None:
        """End the child: SIGTERM, then SIGKILL if it lingers. Safe to call twice."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


if __name__ == "__main__":
    main()
