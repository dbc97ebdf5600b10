"""A real `redis-server` (Debian's package) on a loopback port, started and stopped by the tests.

Fleet state lives on Redis, so its tests run against the real server, never a mock. The fault
tests stop, pause (SIGSTOP) and flush it; `restart()` brings it back on the same port.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

_START_TIMEOUT = 10.0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _command(port: int, *parts: str, timeout: float = 1.0) -> bytes:
    """Send one RESP command and return the first reply line (enough for PING, FLUSHALL)."""
    payload = f"*{len(parts)}\r\n".encode() + b"".join(
        f"${len(part.encode())}\r\n".encode() + part.encode() + b"\r\n" for part in parts
    )
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as connection:
        connection.sendall(payload)
        return connection.recv(4096).split(b"\r\n", 1)[0]


class RedisServer:
    """One redis-server process with no persistence, in a folder of its own."""

    def __init__(self, folder: Path) -> None:
        executable = shutil.which("redis-server")
        if executable is None:
            raise RuntimeError(
                "the Redis tests need Debian's redis-server: apt-get install redis-server "
                "(.ci/run installs it when missing)"
            )
        self._executable = executable
        self._folder = folder
        self.port = _free_port()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self._process = subprocess.Popen(  # noqa: S603 (the Debian redis-server on PATH)
            [
                self._executable,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self._folder),
                "--logfile",
                str(self._folder / "redis.log"),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + _START_TIMEOUT
        while True:
            try:
                if _command(self.port, "PING") == b"+PONG":
                    return
            except OSError:
                pass
            if self._process.poll() is not None or time.monotonic() > deadline:
                log = (self._folder / "redis.log").read_text(errors="replace")
                self.stop()
                raise RuntimeError(f"redis-server did not start on port {self.port}:\n{log}")
            time.sleep(0.02)

    def stop(self) -> None:
        """Terminate the server (resuming it first if paused); its data is gone."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        os.kill(process.pid, signal.SIGCONT)
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def restart(self) -> None:
        """Stop, then start an empty server on the same port (a Redis that comes back)."""
        self.stop()
        self.start()

    def pause(self) -> None:
        """SIGSTOP: connections stay open and nothing answers (a hung Redis)."""
        assert self._process is not None
        os.kill(self._process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        assert self._process is not None
        os.kill(self._process.pid, signal.SIGCONT)

    def flush(self) -> None:
        """FLUSHALL: every key gone, as after an operator's flush or a failover to an empty node."""
        if _command(self.port, "FLUSHALL") != b"+OK":
            raise RuntimeError("FLUSHALL was refused")
