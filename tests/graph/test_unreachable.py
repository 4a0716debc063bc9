"""The network edge through the real CLI: a refused, unknown, untrusted or proxied-away endpoint is one
``Error:`` line naming the endpoint and what to check, exit 1, no traceback, for every command."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Emulator, run_cli

ADDRESS = 'user_migration["user001@contoso.onmicrosoft.com"]'
COMMANDS: dict[str, list[str]] = {
    "plan": ["plan", "{ws}"],
    "status": ["status", "{ws}"],
    "apply": ["apply", "{ws}", "--auto-approve"],
    "import": ["import", ADDRESS, "-w", "{ws}"],
    "export": ["export", "{ws}", "--out", "{ws}/exported", "--force"],
}


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _rewire(ws: Path, emu: Emulator, **changes: str) -> None:
    (ws / ".reconciler" / "emulator.json").write_text(json.dumps({**emu.conn, **changes}))


@pytest.fixture
def applied(quickstart_workspace: Path, emu: Emulator) -> Path:
    """A workspace whose state manages migrations, so that every command has something to read."""
    emu.control("PUT", "/engine", {"queue_delay_seconds": 0, "duration_seconds": 0})
    first = run_cli("apply", str(quickstart_workspace), "--auto-approve")
    assert first.returncode == 0, first.stdout + first.stderr
    return quickstart_workspace


def _run(command: str, ws: Path, env: dict[str, str] | None = None) -> tuple[str, str]:
    args = [a.replace("{ws}", str(ws)) for a in COMMANDS[command]]
    out = run_cli(*args, env=env)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "Traceback" not in out.stderr
    errors = [line for line in out.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, out.stderr
    assert "Error" not in out.stdout
    return errors[0], out.stderr


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_refused_authority_is_one_line_for_every_command(command: str, applied: Path, emu: Emulator) -> None:
    port = _closed_port()
    _rewire(applied, emu, authority_base_url=f"https://127.0.0.1:{port}")
    line, _ = _run(command, applied)
    assert line == (
        f"Error: cannot reach https://127.0.0.1:{port} (connection refused): check the endpoint in "
        "reconciler.yaml (graph.authority_base_url), the network and any proxy (HTTPS_PROXY, NO_PROXY)"
    )


@pytest.mark.parametrize("command", ["plan", "status", "apply"])
def test_a_refused_graph_endpoint_is_one_line_within_seconds(command: str, applied: Path, emu: Emulator) -> None:
    port = _closed_port()
    _rewire(applied, emu, graph_base_url=f"https://127.0.0.1:{port}/beta")
    line, _ = _run(command, applied)
    assert line.startswith(f"Error: cannot reach https://127.0.0.1:{port}/beta (connection refused, for ")
    assert line.endswith(
        "check the endpoint in reconciler.yaml (graph:), the network and any proxy (HTTPS_PROXY, NO_PROXY)"
    )


@pytest.mark.parametrize("command", ["plan", "export"])
def test_an_unknown_host_names_dns(command: str, applied: Path, emu: Emulator) -> None:
    graph = emu.conn["graph_base_url"].replace("127.0.0.1", "graph.nonexistent.invalid")
    _rewire(applied, emu, graph_base_url=graph)
    line, _ = _run(command, applied)
    assert line == (
        f"Error: cannot reach {graph} (DNS: the host graph.nonexistent.invalid was not found): check the host "
        "name in reconciler.yaml (graph:) and the DNS settings"
    )


@pytest.mark.parametrize("command", ["plan", "import"])
def test_an_untrusted_certificate_names_the_ca_bundle(
    command: str, applied: Path, emu: Emulator, tmp_path: Path
) -> None:
    from tests.conftest import self_signed_certificate

    _, other_ca = self_signed_certificate("some other CA")
    bundle = tmp_path / "other-ca.pem"
    bundle.write_text(other_ca)
    _rewire(applied, emu, ca_file=str(bundle))
    line, _ = _run(command, applied)
    assert line.startswith(f"Error: cannot reach {emu.conn['authority_base_url']} (TLS verification failed: ")
    assert line.endswith(
        f"its certificate is not trusted by the CA bundle {bundle}; check graph.ca_bundle in reconciler.yaml "
        "and any TLS-intercepting proxy"
    )


class _RefusingProxy(BaseHTTPRequestHandler):
    def do_CONNECT(self) -> None:
        self.send_response(407, "Proxy Authentication Required")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def refusing_proxy() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _RefusingProxy)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("command", ["plan", "status"])
def test_a_proxy_refusal_names_the_proxy_settings(
    command: str, applied: Path, emu: Emulator, refusing_proxy: str
) -> None:
    env = {"HTTPS_PROXY": refusing_proxy, "NO_PROXY": "", "no_proxy": ""}
    line, _ = _run(command, applied, env)
    assert line.startswith(f"Error: cannot reach {emu.conn['authority_base_url']} (the proxy refused: ")
    assert line.endswith("check HTTPS_PROXY and NO_PROXY")
