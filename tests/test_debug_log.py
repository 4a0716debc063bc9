"""``--debug`` and ``RECONCILER_LOG``: every Graph and token request on stderr, never a secret or token.

Real plan and apply runs against the emulator; the client secrets of both apps are known (the
connection file), and every access token or client assertion is a JWT (``eyJ…``).
"""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import Emulator, run_cli

LINE = re.compile(
    r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z DEBUG reconciler\.graph: (GET|POST|PATCH) (https://\S+) -> (\d{3}) "
    r"request-id=([0-9a-f-]{36}) (\d+) ms$"
)


def _no_secrets(text: str, emu: Emulator) -> None:
    for role in ("source", "target"):
        secret = emu.conn["tenants"][role]["client_secret"]
        assert secret not in text, f"the {role} client secret is in the log"
        assert emu.token(role) not in text
    assert "Bearer" not in text
    assert "bearer" not in text.lower()
    assert "eyJ" not in text, "no JWT: access token or client assertion"
    assert "client_secret" not in text
    assert "client_assertion" not in text
    assert "Authorization" not in text


def _requests(stderr: str) -> list[tuple[str, str, int]]:
    found = []
    for line in stderr.splitlines():
        match = LINE.match(line)
        if match:
            found.append((match.group(1), match.group(2), int(match.group(3))))
    return found


def test_debug_logs_every_request_of_plan_and_apply_and_no_secret(quickstart_workspace: Path, emu: Emulator) -> None:
    emu.control("DELETE", "/counters")
    planned = run_cli("--debug", "plan", str(quickstart_workspace))
    assert planned.returncode == 0, planned.stderr
    applied = run_cli("--debug", "apply", str(quickstart_workspace), "--auto-approve")
    assert applied.returncode == 0, applied.stderr
    counters = emu.control("GET", "/counters")  # before the test's own token requests below
    for out in (planned, applied):
        _no_secrets(out.stdout + out.stderr, emu)
        assert "DEBUG" not in out.stdout, "the log goes to stderr only"
    logged = _requests(planned.stderr) + _requests(applied.stderr)
    graph = emu.conn["graph_base_url"]
    tokens = [r for r in logged if r[0] == "POST" and r[1].endswith("/oauth2/v2.0/token")]
    assert len(tokens) == 4, "one token request per tenant per run"
    assert ("POST", f"{graph}/$batch", 200) in logged
    assert ("PATCH", f"{graph}/solutions/sharePoint/migrations/crossOrganizationUserMappings", 200) in logged
    starts = [
        r
        for r in logged
        if r[:2] == ("POST", f"{graph}/solutions/sharePoint/migrations/crossOrganizationMigrationTasks")
    ]
    assert len(starts) == 9, "8 starts and 1 validate-only pre-flight"
    # Every request the emulator served (tokens, authority metadata, Graph, each $batch member) is one line.
    served = sum(n for by in counters.values() for n in by.values())
    members = [line for line in (planned.stderr + applied.stderr).splitlines() if "  $batch member " in line]
    assert served == len(logged) + len(members)


def test_reconciler_log_env_is_the_same_and_off_logs_nothing(quickstart_workspace: Path, emu: Emulator) -> None:
    on = run_cli("plan", str(quickstart_workspace), env={"RECONCILER_LOG": "debug"})
    assert on.returncode == 0, on.stderr
    assert _requests(on.stderr), on.stderr
    _no_secrets(on.stdout + on.stderr, emu)
    off = run_cli("plan", str(quickstart_workspace), env={"RECONCILER_LOG": "off"})
    assert off.returncode == 0
    assert _requests(off.stderr) == []
    assert "DEBUG" not in off.stderr
    bad = run_cli("plan", str(quickstart_workspace), env={"RECONCILER_LOG": "verbose"})
    assert bad.returncode == 1
    assert "Error: RECONCILER_LOG='verbose' is not one of debug, info, warn, error, off" in bad.stderr


def test_a_failed_token_request_is_logged_without_the_secret(quickstart_workspace: Path, emu: Emulator) -> None:
    import json

    conn_file = quickstart_workspace / ".reconciler" / "emulator.json"
    conn = json.loads(conn_file.read_text())
    wrong = "not-the-secret-" + "x" * 20
    conn["tenants"]["source"]["client_secret"] = wrong
    conn_file.write_text(json.dumps(conn))
    out = run_cli("--debug", "plan", str(quickstart_workspace))
    assert out.returncode == 1
    assert wrong not in out.stderr + out.stdout
    assert any(r[0] == "POST" and r[1].endswith("/oauth2/v2.0/token") and r[2] == 401 for r in _requests(out.stderr))
    _no_secrets(out.stdout + out.stderr, emu)
