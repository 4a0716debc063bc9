"""Seed files, start-up options and their errors, the probe command, the default world."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from reconciler.emulator.world import build_world, default_seed, stable_id
from tests.conftest import TASKS, Emulator, start_emulator, stop_emulator


def _serve(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reconciler", "emulator", "serve", *args], capture_output=True, text=True, timeout=60
    )


def test_default_world_is_as_documented() -> None:
    world = build_world(default_seed())
    contoso, fabrikam = world.by_name("contoso"), world.by_name("fabrikam")
    assert contoso is not None
    assert fabrikam is not None
    assert contoso.tenant_id == stable_id("tenant", "contoso")
    for tenant in (contoso, fabrikam):
        assert len(tenant.users_by_upn) == 50
        assert f"user050@{tenant.domain}" in tenant.users_by_upn
        assert all(u.one_drive_url for u in tenant.users_by_upn.values())
        assert len(tenant.groups_by_nick) == 10
        assert tenant.hosts[:2] == (f"https://{tenant.name}.sharepoint.com", f"https://{tenant.name}-my.sharepoint.com")
        assert len(tenant.sites) == 20  # ten regular sites and ten group-connected sites
        assert len(tenant.apps) == 1
        assert not tenant.user_mappings
        assert not tenant.tasks
    assert world.trust == {(contoso.tenant_id, fabrikam.tenant_id), (fabrikam.tenant_id, contoso.tenant_id)}


def test_seed_file_builds_a_custom_world(tmp_path: Path) -> None:
    seed = tmp_path / "seed.yaml"
    seed.write_text(
        "tenants:\n"
        "  - name: northwind\n"
        "    users: [{user_principal_name: ana@northwind.onmicrosoft.com}]\n"
        "    sites: [{url: https://northwind.sharepoint.com/sites/Finance}]\n"
        "  - name: tailspin\n"
        "    users: [{user_principal_name: ana@tailspin.onmicrosoft.com}]\n"
        "trust: [{source: northwind, target: tailspin}]\n"
        "engine: {queue_delay_seconds: 0, duration_seconds: 0}\n"
    )
    proc, conn = start_emulator(tmp_path, "--seed", str(seed))
    try:
        assert conn["tenants"]["source"]["name"] == "northwind"
        assert conn["tenants"]["target"]["domain"] == "tailspin.onmicrosoft.com"
        e = Emulator(conn)
        try:
            e.map_user("ana@northwind.onmicrosoft.com", "ana@tailspin.onmicrosoft.com")
            body = {
                "parameters": {
                    "@odata.type": "#microsoft.graph.sharePointUserMigrationTaskParameters",
                    "targetOrganizationId": conn["tenants"]["target"]["tenant_id"],
                    "sourceUserIdentity": {"userPrincipalName": "ana@northwind.onmicrosoft.com"},
                    "targetUserIdentity": {"userPrincipalName": "ana@tailspin.onmicrosoft.com"},
                }
            }
            r = e.graph("POST", TASKS, json=body)
            assert r.status_code == 200, r.text
            assert e.graph("GET", f"{TASKS}/{r.json()['id']}").json()["status"] == "completed"
        finally:
            e.close()
    finally:
        stop_emulator(proc)


def test_bad_seed_names_the_file_and_field(tmp_path: Path) -> None:
    seed = tmp_path / "seed.yaml"
    seed.write_text("tenants:\n  - name: a\n    userz: []\n  - name: b\n")
    out = _serve("--seed", str(seed))
    assert out.returncode == 1
    assert f"{seed}: tenants.0.userz: Extra inputs are not permitted" in out.stderr
    seed.write_text("tenants: [\n")
    out = _serve("--seed", str(seed))
    assert out.returncode == 1
    assert "not valid YAML" in out.stderr


def test_bad_switch_values_are_reported(tmp_path: Path) -> None:
    out = _serve("--behaviour", "duplicate_create=sometimes")
    assert out.returncode == 1
    assert "duplicate_create" in out.stderr
    out = _serve("--behaviour", "no_such_switch=1")
    assert out.returncode == 1
    assert "unknown name" in out.stderr
    out = _serve("--engine", "duration_seconds")
    assert out.returncode == 1  # a usage error: 1, never 2 (see reconciler.cli.main)
    assert "NAME=VALUE" in out.stderr


def test_port_in_use_is_a_clear_error(emulator_process: dict[str, str]) -> None:
    port = emulator_process["authority_base_url"].rsplit(":", 1)[1]
    out = _serve("--port", port)
    assert out.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in out.stderr


def test_probe_reports_ok(emulator_process: dict[str, str], tmp_path: Path) -> None:
    import json

    conn_file = tmp_path / "conn.json"
    conn_file.write_text(json.dumps(emulator_process))
    out = subprocess.run(
        [sys.executable, "-m", "reconciler", "emulator", "probe", "--connection-file", str(conn_file)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("emulator OK")
    assert "validateOnly): 200, status completed" in out.stdout


def test_control_key_is_required_when_set(tmp_path: Path) -> None:
    import httpx

    from tests.conftest import tls

    proc, conn = start_emulator(tmp_path, "--control-key", "s3cret")
    try:
        with httpx.Client(base_url=conn["control_url"], verify=tls(conn["ca_file"])) as client:
            denied = client.get("/health")
            assert denied.status_code == 401
            assert denied.json()["error"]["code"] == "emulatorControl"
            assert client.get("/health", headers={"X-Emulator-Key": "wrong"}).status_code == 401
            assert client.get("/health", headers={"X-Emulator-Key": "s3cret"}).status_code == 200
    finally:
        stop_emulator(proc)


def test_a_stopped_emulator_cleans_up_and_the_probe_says_it_is_not_running(tmp_path: Path) -> None:
    proc, conn = start_emulator(tmp_path)
    private_dir = Path(conn["ca_file"]).parent  # its TLS files live here when it has no --state
    assert private_dir.is_dir()
    stop_emulator(proc)  # SIGTERM, as a service manager or CI stops it
    assert not private_dir.exists(), "SIGTERM left the emulator's temporary folder behind"
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "reconciler",
            "emulator",
            "probe",
            "--connection-file",
            str(tmp_path / "connection.json"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 1
    assert "Traceback" not in out.stderr
    assert "Is `reconciler emulator serve` running" in out.stderr
