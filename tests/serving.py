"""Run a real ``regiongate serve`` subprocess on a free loopback port (tests and bench)."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


class Server:
    def __init__(self, data_dir: Path, args: list[str] | None = None) -> None:
        self.data_dir = data_dir
        self.args = args or []
        self.process: subprocess.Popen[str] | None = None
        self.url = ""
        self.banner: list[str] = []
        self._output: list[str] = []
        self._reader: threading.Thread | None = None

    def start(self, port: int = 0, sigint: Any = signal.SIG_DFL, ready: bool = True) -> None:
        """Start serve; ``sigint`` is the SIGINT disposition it inherits (the default, not
        whatever the test runner was started with); ``ready=False`` returns at once."""
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        for key in [k for k in env if k.startswith(("AWS_", "REGIONGATE_"))]:
            env.pop(key)
        self.banner = []
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "regiongate.cli",
                "serve",
                "--port",
                str(port),
                "--trusted-proxy-hops",
                "1",
                "--data-dir",
                str(self.data_dir),
                *self.args,
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            preexec_fn=lambda: signal.signal(signal.SIGINT, sigint),  # noqa: PLW1509
        )
        assert self.process.stdout is not None
        if not ready:
            return
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                raise RuntimeError("serve exited early:\n" + "".join(self.banner))
            self.banner.append(line)
            if "regiongate serving" in line:
                self.url = line.split()[2]
            if line.strip().startswith("try"):
                self._read_the_rest()
                return
        raise RuntimeError("serve did not start in 60 s")

    def _read_the_rest(self) -> None:
        """Keep reading its output, so the server never blocks writing to a full pipe."""
        stream = self.process.stdout if self.process is not None else None
        assert stream is not None
        self._output = []
        self._reader = threading.Thread(
            target=lambda: self._output.extend(iter(stream.readline, "")), daemon=True
        )
        self._reader.start()

    def wait(self, timeout: float = 60) -> str:
        """Wait for the server to end; returns what it printed after its banner."""
        assert self.process is not None
        if self._reader is None:
            out, _ = self.process.communicate(timeout=timeout)
            return out
        self.process.wait(timeout=timeout)
        self._reader.join(timeout=timeout)
        return "".join(self._output)

    def stop(self, timeout: float = 60) -> str:
        """Ctrl-C, as a person would; returns what the server printed while stopping."""
        assert self.process is not None
        self.process.send_signal(signal.SIGINT)
        out = self.wait(timeout)
        assert self.process.returncode == 0, out
        return out

    def audit(self, *args: str) -> subprocess.CompletedProcess[str]:
        """``regiongate audit ARGS --data-dir <this server's>``, in a clean environment."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "REGIONGATE_"))}
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "regiongate.cli",
                "audit",
                *args,
                "--data-dir",
                str(self.data_dir),
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=1800,
            check=False,
        )

    def emulators(self) -> list[int]:
        """Live emulator processes started by this server (found by their ``--parent``)."""
        assert self.process is not None
        return emulators_of(self.process.pid)

    def wait_for_emulators_to_end(self, timeout: float = 10) -> list[int]:
        deadline = time.monotonic() + timeout
        left = self.emulators()
        while left and time.monotonic() < deadline:
            time.sleep(0.1)
            left = self.emulators()
        return left

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        request = urllib.request.Request(
            self.url + path, data=body, method=method, headers=headers or {}
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                raw = response.read()
                status = response.status
        except urllib.error.HTTPError as error:
            raw, status = error.read(), error.code
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, raw.decode()

    def classify(self, ip: str, provider: str, **extra: Any) -> tuple[int, Any]:
        return self.request(
            "POST",
            "/v1/classify",
            json.dumps({"provider": provider, **extra}).encode(),
            {"x-forwarded-for": ip, "content-type": "application/json"},
        )


def emulators_of(parent: int) -> list[int]:
    """Pids of live ``regiongate.local.emulator --parent <parent>`` processes."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if (
            b"regiongate.local.emulator" in argv
            and str(parent).encode() in argv
            and state not in ("Z", "X")
        ):
            found.append(int(entry.name))
    return found


class Load:
    """Concurrent keep-alive clients classifying until stopped; keeps every 200's id."""

    def __init__(self, url: str, clients: int, accounts: int, requests: int | None = None):
        self.url, self.clients, self.accounts = url, clients, accounts
        self.requests = requests  # per client; None: until stop()
        self.answered: list[str] = []
        self.statuses: dict[int, int] = {}
        self.latencies: list[float] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._client, args=(i,), daemon=True) for i in range(clients)
        ]

    def start(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self.join()

    def join(self) -> None:
        for thread in self._threads:
            thread.join()

    def _client(self, index: int) -> None:
        host, port = self.url.removeprefix("http://").split(":")
        connection = http.client.HTTPConnection(host, int(port), timeout=60)
        ips = ["1.2.4.8", "8.8.8.8", "223.255.128.1", "81.2.69.1", "2001:da8::1"]
        sent = 0
        while not self._stop.is_set() and (self.requests is None or sent < self.requests):
            account = f"load-{(index + sent) % self.accounts}"
            body = json.dumps({"provider": "anthropic", "account": {"id": account}})
            started = time.perf_counter()
            try:
                connection.request(
                    "POST",
                    "/v1/classify",
                    body,
                    {"content-type": "application/json", "x-forwarded-for": ips[sent % 5]},
                )
                response = connection.getresponse()
                payload, status = response.read(), response.status
            except (OSError, http.client.HTTPException):
                connection.close()
                connection = http.client.HTTPConnection(host, int(port), timeout=60)
                payload, status = b"", 0
                if self._stop.is_set():
                    return
                time.sleep(0.05)
            elapsed = time.perf_counter() - started
            sent += 1
            with self._lock:
                self.statuses[status] = self.statuses.get(status, 0) + 1
                self.latencies.append(elapsed)
                if status == 200:
                    self.answered.append(json.loads(payload)["decision_id"])
        connection.close()
