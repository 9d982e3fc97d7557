"""Run ``signoff serve`` as a child process on a free loopback port.

Used by the demo and by the test suites of every environment, so that they all exercise
the real service the way a user starts it.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServiceProcess:
    """``with ServiceProcess(database_url=..., api_keys=[...]) as service: service.url``"""

    def __init__(
        self,
        *,
        database_url: str,
        api_keys: list[str],
        reviewer_tokens: list[str],
        extra_args: list[str] | None = None,
        port: int = 0,
        log_path: Path | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.database_url = database_url
        self.api_keys = api_keys
        self.reviewer_tokens = reviewer_tokens
        self.extra_args = extra_args or []
        self.port = port or free_port()
        self.log_path = log_path
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        args = [sys.executable, "-m", "signoff", "serve", "--port", str(self.port)]
        args += ["--database-url", self.database_url]
        for key in self.api_keys:
            args += ["--api-key", key]
        for token in self.reviewer_tokens:
            args += ["--reviewer-token", token]
        return args + self.extra_args

    def start(self, timeout: float = 90.0) -> ServiceProcess:
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        env = {**os.environ, **(self.env or {})}
        env.pop("SIGNOFF_API_KEY", None)
        env.pop("SIGNOFF_REVIEWER_TOKEN", None)
        self.proc = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            self.command(), stdout=log, stderr=subprocess.STDOUT, env=env
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"signoff serve exited with {self.proc.returncode}"
                    + (f"; see {self.log_path}" if self.log_path else "")
                )
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"signoff serve did not become healthy within {timeout}s")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def kill(self) -> None:
        """``kill -9``: no shutdown handlers, no flushing; what a crash looks like."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self) -> ServiceProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
