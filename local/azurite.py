"""Start and stop Azurite (the Blob and Queue emulator from npm) on loopback, on free ports. Dev and tests only."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
AZURITE_BIN = REPO / "node_modules" / ".bin" / "azurite"
ACCOUNT = "devstoreaccount1"
# Azurite's fixed, publicly documented development key: not a secret.
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


class Azurite:
    """One Azurite process (blob + queue + table) with its data in `location` (a temporary folder by default).

    `stop()` then `start()` again keeps the ports and the data: tests use it to take storage away mid-run.
    """

    def __init__(self, location: Path | None = None) -> None:
        self._tmp = None if location else tempfile.TemporaryDirectory(prefix="azurite-")
        self.location = location or Path(self._tmp.name)  # type: ignore[union-attr]
        self.blob_port = free_port()
        self.queue_port = free_port()
        self.table_port = free_port()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
            f"BlobEndpoint=http://127.0.0.1:{self.blob_port}/{ACCOUNT};"
            f"QueueEndpoint=http://127.0.0.1:{self.queue_port}/{ACCOUNT};"
            f"TableEndpoint=http://127.0.0.1:{self.table_port}/{ACCOUNT};"
        )

    def start(self, timeout: float = 30.0) -> Azurite:
        if self._process is not None:
            return self
        if not AZURITE_BIN.exists():
            raise RuntimeError(f"Azurite is not installed at {AZURITE_BIN}: run ./dev (it runs `npm ci`)")
        self.location.mkdir(parents=True, exist_ok=True)
        command = [
            str(AZURITE_BIN), "--silent", "--skipApiVersionCheck", "--loose", "--disableTelemetry",
            "--location", str(self.location),
            "--blobHost", "127.0.0.1", "--blobPort", str(self.blob_port),
            "--queueHost", "127.0.0.1", "--queuePort", str(self.queue_port),
            "--tableHost", "127.0.0.1", "--tablePort", str(self.table_port),
        ]
        log_file = (self.location / "azurite.log").open("ab")
        # Its own process group, so that stop() also ends the node process behind the npm shim.
        self._process = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True)
        log_file.close()
        deadline = time.monotonic() + timeout
        while not (_port_open(self.blob_port) and _port_open(self.queue_port)):
            if self._process.poll() is not None:
                raise RuntimeError(f"Azurite exited with {self._process.returncode}; see {self.location}/azurite.log")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"Azurite did not open its ports within {timeout:.0f} s")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)

    def close(self) -> None:
        self.stop()
        if self._tmp is not None:
            self._tmp.cleanup()

    def __enter__(self) -> Azurite:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()
