"""``reconciler doctor`` end to end against the emulator over HTTPS: every check passing, then each failure a user
meets first (a missing variable, a wrong secret, an expired certificate, an app without the Manage role, an
endpoint that does not answer, an untrusted host, a broken reconciler.yaml, a held lock), each named with its fix."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.graph.diagnose import MANAGE_ROLE, READ_ROLE
from reconciler.state.local import LocalBackend
from tests.conftest import Emulator, run_cli
from tests.doctor.helpers import by_name, certificate_pem, closed_port, days_from_now, doctor, set_credentials

_SECRET_FROM_ENV = "    type: client_secret\n    client_id: {client_id}\n    client_secret_env: DOCTOR_SOURCE_SECRET\n"
NAMES = [
    "config",
    "spec",
    "credentials.source",
    "credentials.target",
    "token.source",
    "token.target",
    "roles.source",
    "roles.target",
    "graph.source",
    "graph.target",
    "clock",
    "state",
]


def test_a_working_workspace_passes_every_check_in_text_and_json(quickstart_workspace: Path, emu: Emulator) -> None:
    out = run_cli("doctor", str(quickstart_workspace))
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    shown = [line.split()[:2] for line in lines[: len(NAMES)]]
    assert shown == [["ok", name] for name in NAMES]
    assert lines[-1] == "No problems found: 12 passed, 0 warnings, 0 failed, 0 skipped (for apply)."
    assert "fix:" not in out.stdout

    code, report = doctor(quickstart_workspace)
    assert code == 0
    assert report["ok"] is True
    assert report["for"] == "apply"
    assert report["counts"] == {"pass": 12, "warn": 0, "fail": 0, "skip": 0}
    assert [c["name"] for c in report["checks"]] == NAMES
    assert all(set(c) == {"name", "status", "detail", "fix"} and c["fix"] is None for c in report["checks"])
    checks = by_name(report)
    assert MANAGE_ROLE in checks["roles.source"]["detail"]
    assert "answered GET" in checks["graph.target"]["detail"]
    # The lock was taken and released and nothing was written: no state, no lock left behind.
    assert "no state yet" in checks["state"]["detail"]
    state_dir = quickstart_workspace / ".reconciler"
    assert not (state_dir / "state.json").exists()
    assert not (state_dir / "state.json.lock").exists()
    # Nothing secret in the output: the emulator apps' secrets stay in the connection file.
    for tenant in emu.conn["tenants"].values():
        assert tenant["client_secret"] not in out.stdout + json.dumps(report)


def test_a_missing_variable_fails_the_credential_and_skips_what_needs_it(
    quickstart_workspace: Path, emu: Emulator
) -> None:
    set_credentials(
        quickstart_workspace,
        "source",
        _SECRET_FROM_ENV.format(client_id=emu.source["client_id"]),
    )
    out = run_cli("doctor", str(quickstart_workspace), env={"DOCTOR_SOURCE_SECRET": ""})
    assert out.returncode == 1
    assert "FAIL  credentials.source  source: environment variable DOCTOR_SOURCE_SECRET is not set" in out.stdout
    assert re.search(r"fix: set DOCTOR_SOURCE_SECRET to the source app's client secret value", out.stdout)
    assert re.search(r"^skip  token\.source +no credential to sign in with", out.stdout, re.MULTILINE)
    assert re.search(r"^ok    token\.target ", out.stdout, re.MULTILINE)  # the other tenant is still checked
    assert out.stdout.splitlines()[-1].startswith("Problems found: ")


def test_a_wrong_secret_is_named_by_its_aadsts_code_with_the_fix(quickstart_workspace: Path, emu: Emulator) -> None:
    set_credentials(
        quickstart_workspace,
        "source",
        _SECRET_FROM_ENV.format(client_id=emu.source["client_id"]),
    )
    wrong = "not-the-secret-4f1c9b"
    code, report = doctor(quickstart_workspace, env={"DOCTOR_SOURCE_SECRET": wrong})
    assert code == 1
    checks = by_name(report)
    assert checks["credentials.source"]["status"] == "pass"
    token = checks["token.source"]
    assert token["status"] == "fail"
    assert "-> 401 invalid_client" in token["detail"]
    assert "AADSTS7000215" in token["detail"]
    assert "not its Secret ID" in token["fix"]
    assert "DOCTOR_SOURCE_SECRET" in token["fix"]
    assert checks["roles.source"]["status"] == "skip"
    assert wrong not in json.dumps(report)


def _new_certificate(workspace: Path, emu: Emulator, not_after_days: float) -> None:
    """app.pem: a certificate registered on the source app, ending ``not_after_days`` from now."""
    key_pem, cert_pem = certificate_pem(days_from_now(-400), days_from_now(not_after_days))
    (workspace / "app.pem").write_text(key_pem + cert_pem)
    emu.control("POST", f"/tenants/contoso/apps/{emu.source['client_id']}/certificates", {"certificate_pem": cert_pem})


def test_an_expired_certificate_fails_and_one_expiring_soon_warns(quickstart_workspace: Path, emu: Emulator) -> None:
    set_credentials(
        quickstart_workspace,
        "source",
        f"    type: certificate\n    client_id: {emu.source['client_id']}\n    certificate_path: app.pem\n",
    )
    _new_certificate(quickstart_workspace, emu, not_after_days=-2)
    code, report = doctor(quickstart_workspace)
    assert code == 1
    credentials = by_name(report)["credentials.source"]
    assert credentials["status"] == "fail"
    assert re.search(r"CN=doctor test app, thumbprint [0-9A-F]{40} expired on \d{4}-\d\d-\d\d", credentials["detail"])
    assert "create a new certificate" in credentials["fix"]

    _new_certificate(quickstart_workspace, emu, not_after_days=10.5)
    code, report = doctor(quickstart_workspace)
    checks = by_name(report)
    assert checks["credentials.source"]["status"] == "warn"
    assert "expires on" in checks["credentials.source"]["detail"]
    assert "in 10 days" in checks["credentials.source"]["detail"]
    assert checks["token.source"]["status"] == "pass"  # signed in with it
    assert code == 0, "a warning alone does not fail the doctor"


def test_a_certificate_whose_key_is_another_is_refused_before_any_sign_in(
    quickstart_workspace: Path, emu: Emulator
) -> None:
    key_pem, _ = certificate_pem(days_from_now(-1), days_from_now(30))
    _, cert_pem = certificate_pem(days_from_now(-1), days_from_now(30))
    (quickstart_workspace / "app.pem").write_text(key_pem + cert_pem)
    set_credentials(
        quickstart_workspace,
        "source",
        f"    type: certificate\n    client_id: {emu.source['client_id']}\n    certificate_path: app.pem\n",
    )
    code, report = doctor(quickstart_workspace)
    assert code == 1
    checks = by_name(report)
    assert checks["credentials.source"]["detail"].endswith("the private key does not belong to the certificate in it")
    assert "BEGIN" not in json.dumps(report)  # the file's content is never quoted


@pytest.fixture
def read_only_source(emu: Emulator) -> Iterator[Emulator]:
    """The source app with Read.All only; app registrations survive /reset, so the roles are put back."""
    path = f"/tenants/contoso/apps/{emu.source['client_id']}"
    emu.control("PATCH", path, {"roles": [READ_ROLE]})
    try:
        yield emu
    finally:
        emu.control("PATCH", path, {"roles": [READ_ROLE, MANAGE_ROLE]})


def test_an_app_without_the_manage_role_fails_for_apply_and_passes_for_plan(
    quickstart_workspace: Path, read_only_source: Emulator
) -> None:
    code, report = doctor(quickstart_workspace)
    assert code == 1
    roles = by_name(report)["roles.source"]
    assert roles["status"] == "fail"
    assert roles["detail"] == f"the token carries {READ_ROLE}; apply needs {MANAGE_ROLE}"
    assert "source tenant's Microsoft Entra admin center" in roles["fix"]
    assert f"Application permissions > {MANAGE_ROLE}, then Grant admin consent" in roles["fix"]
    assert by_name(report)["roles.target"]["status"] == "pass"

    code, report = doctor(quickstart_workspace, "--for", "plan")
    assert code == 0
    assert report["for"] == "plan"
    assert by_name(report)["roles.source"]["detail"].endswith(f"(enough for plan; apply also needs {MANAGE_ROLE})")


@pytest.fixture
def manage_only_source(emu: Emulator) -> Iterator[Emulator]:
    path = f"/tenants/contoso/apps/{emu.source['client_id']}"
    emu.control("PATCH", path, {"roles": [MANAGE_ROLE]})
    try:
        yield emu
    finally:
        emu.control("PATCH", path, {"roles": [READ_ROLE, MANAGE_ROLE]})


def test_manage_without_read_fails_too_as_graph_documents_read_all_for_every_read(
    quickstart_workspace: Path, manage_only_source: Emulator
) -> None:
    code, report = doctor(quickstart_workspace, "--for", "plan")
    assert code == 1
    roles = by_name(report)["roles.source"]
    assert roles["detail"] == f"the token carries {MANAGE_ROLE}; plan needs {READ_ROLE}"
    assert f"Application permissions > {READ_ROLE}, then Grant admin consent" in roles["fix"]


def test_an_endpoint_that_does_not_answer_fails_sign_in_and_graph_at_once(
    quickstart_workspace: Path, emu: Emulator
) -> None:
    connection_file = quickstart_workspace / ".reconciler" / "emulator.json"
    port = closed_port()
    text = re.sub(r"127\.0\.0\.1:\d+", f"127.0.0.1:{port}", connection_file.read_text())
    connection_file.write_text(text)
    code, report = doctor(quickstart_workspace)
    assert code == 1
    checks = by_name(report)
    for role in ("source", "target"):
        assert checks[f"token.{role}"]["detail"] == f"cannot reach https://127.0.0.1:{port} (connection refused)"
        assert checks[f"graph.{role}"]["detail"] == f"cannot reach https://127.0.0.1:{port}/beta (connection refused)"
        assert "is the emulator running?" in checks[f"graph.{role}"]["fix"]
        assert checks[f"roles.{role}"]["status"] == "skip"
    assert checks["clock"]["status"] == "skip"
    assert checks["state"]["status"] == "pass"  # the local state does not depend on Graph


def test_a_real_credential_is_never_sent_to_an_untrusted_host(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "reconciler.yaml").write_text(
        "version: 1\n"
        "source:\n  tenant_id: 79d49731-4eec-55d9-bcd4-6d55505b7f2c\n  domain: contoso.onmicrosoft.com\n"
        "  credentials:\n    type: client_secret\n    client_id: a2c4d506-27a9-5427-b583-9ade81289055\n"
        "    client_secret_env: DOCTOR_SOURCE_SECRET\n"
        "target:\n  tenant_id: 209a1d2e-6cb2-5501-a039-58b1392b7c3d\n  domain: fabrikam.onmicrosoft.com\n"
        "  credentials:\n    type: client_secret\n    client_id: c04da7ff-0402-5d16-9723-70d0f0b4f9ab\n"
        "    client_secret_env: DOCTOR_TARGET_SECRET\n"
        "graph:\n  graph_base_url: https://graph.attacker.invalid/beta\n"
        "  authority_base_url: https://login.attacker.invalid\n"
    )
    env = {"DOCTOR_SOURCE_SECRET": "s", "DOCTOR_TARGET_SECRET": "t", "RECONCILER_TRUSTED_HOSTS": ""}
    code, report = doctor(ws, env=env)
    assert code == 1
    checks = by_name(report)
    for role in ("source", "target"):
        assert checks[f"credentials.{role}"]["detail"].startswith(
            f"{role}: refusing to send this tenant's credential or token to login.attacker.invalid"
        )
        assert "RECONCILER_TRUSTED_HOSTS" in checks[f"credentials.{role}"]["fix"]
        assert checks[f"token.{role}"]["status"] == "skip"
        assert checks[f"graph.{role}"]["detail"] == "not contacted: the host is not trusted (see credentials)"


def test_a_broken_reconciler_yaml_is_located_and_the_rest_is_skipped(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "reconciler.yaml").write_text("version: 1\nsource:\n  tenant_id: not-a-guid\ntarget: {}\n")
    out = run_cli("doctor", str(ws))
    assert out.returncode == 1
    first = out.stdout.splitlines()[0]
    assert first.startswith("FAIL  config ")
    assert f"{ws}/reconciler.yaml:3:" in first
    assert f"fix: correct it; `reconciler validate {ws}` lists every problem" in out.stdout
    assert all(line.startswith("skip") for line in out.stdout.splitlines()[2 : len(NAMES)])


def test_a_state_locked_by_another_run_fails_naming_it(quickstart_workspace: Path, emu: Emulator) -> None:
    holder = LocalBackend(quickstart_workspace / ".reconciler" / "state.json")
    lock = holder.lock("apply")
    try:
        code, report = doctor(quickstart_workspace)
    finally:
        holder.release(lock)
    assert code == 1
    state = by_name(report)["state"]
    assert state["status"] == "fail"
    assert f"lock id {lock.id}" in state["detail"]
    assert "break the lock only if the run is gone" in state["fix"]
