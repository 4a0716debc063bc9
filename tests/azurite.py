"""Azurite, Microsoft's Azure Storage emulator (npm package ``azurite``), for the Azure Blob state backend.

``make azurite`` installs it under tools/azurite; the tests start one in-memory blob service per
session on a free loopback port. A missing install fails the tests that need it, naming the fix.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from azure.storage.blob import BlobServiceClient, ContainerSasPermissions, generate_container_sas

from tests.conftest import stop_emulator

ROOT = Path(__file__).resolve().parents[1]
# The well-known development account every Azurite has (published in Microsoft's docs; not a secret).
ACCOUNT = "devstoreaccount1"
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


@dataclass(frozen=True)
class Azurite:
    port: int

    @property
    def account_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/{ACCOUNT}"

    @property
    def connection_string(self) -> str:
        return f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={KEY};BlobEndpoint={self.account_url};"

    def new_container(self) -> str:
        name = f"state-{uuid.uuid4().hex[:12]}"
        BlobServiceClient.from_connection_string(self.connection_string).create_container(name)
        return name

    def sas_token(self, container: str, permission: str = "racwd") -> str:
        return generate_container_sas(
            ACCOUNT,
            container,
            account_key=KEY,
            permission=ContainerSasPermissions.from_string(permission),
            expiry=datetime.now(UTC) + timedelta(hours=2),
        )


def azurite_binary() -> str:
    configured = os.environ.get("AZURITE_BLOB")
    local = ROOT / "tools" / "azurite" / "node_modules" / ".bin" / "azurite-blob"
    found = configured or (str(local) if local.exists() else shutil.which("azurite-blob"))
    if not found:
        raise RuntimeError(
            "Azurite is not installed: run `make azurite` (needs Node.js and npm), or set AZURITE_BLOB to its "
            "azurite-blob executable"
        )
    return found


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running_azurite(workdir: Path) -> Iterator[Azurite]:
    binary = azurite_binary()
    for _attempt in range(3):  # a free port can be taken between choosing it and Azurite binding it
        port = _free_port()
        log_path = workdir / f"azurite-{port}.log"
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                [
                    binary,
                    "--blobHost",
                    "127.0.0.1",
                    "--blobPort",
                    str(port),
                    "--inMemoryPersistence",
                    "--disableTelemetry",
                    # The SDK speaks a newer API version than Azurite releases list; the calls we use exist in both.
                    "--skipApiVersionCheck",
                ],
                cwd=workdir,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            if b"successfully listens" in log_path.read_bytes():
                break
            time.sleep(0.1)
        if proc.poll() is None and b"successfully listens" in log_path.read_bytes():
            try:
                yield Azurite(port)
            finally:
                stop_emulator(proc)
            return
        proc.kill()
        proc.wait()
    raise RuntimeError(f"Azurite did not start; see {log_path}:\n{log_path.read_text(errors='replace')[-2000:]}")
