"""Start a throwaway ``redis-server`` on loopback for tests and examples (Debian's package)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["redis_server"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def redis_server(executable: str = "redis-server", *, start_timeout_s: float = 10.0) -> Iterator[str]:
    """Run a private, persistence-free Redis on a free loopback port; yield its ``redis://`` URL.

    Raises:
        RuntimeError: ``redis-server`` is not installed (``apt-get install redis-server``) or did
            not start in time.
    """
    binary = shutil.which(executable)
    if binary is None:
        raise RuntimeError(
            f"{executable!r} is not on PATH; install Debian's redis-server (apt-get install -y redis-server)"
        )
    port = _free_port()
    with tempfile.TemporaryDirectory(prefix="sirp-redis-") as tmp:
        proc = subprocess.Popen(
            [
                binary,
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                tmp,
                "--logfile",
                str(Path(tmp) / "redis.log"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + start_timeout_s
            while True:
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=0.2) as s:
                        s.sendall(b"PING\r\n")
                        if s.recv(16).startswith(b"+PONG"):
                            break
                except OSError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    log = Path(tmp) / "redis.log"
                    detail = log.read_text()[-500:] if log.exists() else ""
                    raise RuntimeError(f"redis-server did not start on port {port}: {detail}")
                time.sleep(0.05)
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
