"""Files stay inside the workspace, are never echoed, and are never skipped silently.

Pull requests run ``validate`` and ``plan`` in CI with tenant secrets in the environment, so a spec
that names ``/proc/self/environ``, a ``../`` path or a link to a 0600 secret file must stop with a
located error that quotes none of it; an unreadable spec file must stop the run instead of making its
resources look deleted.
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from reconciler.spec.diagnostics import DETAIL_LIMIT, SUMMARY_LIMIT, Diagnostics, SourceRange, excerpt
from reconciler.workspace.fmt import format_workspace
from reconciler.workspace.loader import load_workspace
from tests.conftest import USER_MAPPINGS, Emulator, run_cli

QUICKSTART = Path(__file__).resolve().parents[2] / "examples" / "quickstart"
SECRET = "S3CRET-do-not-print-7f2c"
OUTSIDE = "files a workspace names must be inside it (symbolic links are followed); nothing was read from it"


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    """The quickstart workspace (no emulator needed: every case stops before the network)."""
    root = tmp_path / "ws"
    shutil.copytree(QUICKSTART, root)
    return root


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    """A 0600 file outside the workspace holding a secret, shaped like a valid identity map row."""
    path = tmp_path / "secret.csv"
    path.write_text(f"User,x,{SECRET}@contoso.onmicrosoft.com,{SECRET},{SECRET},Member\n", encoding="utf-8")
    path.chmod(0o600)
    return path


def _assert_refused(ws: Path, *expected: str, exact: bool = True) -> None:
    """validate and plan exit 1 with these located lines (``exact``: and no other), printing no byte of the secret."""
    for command in (("validate", "."), ("plan", ".")):
        out = _run(ws, *command)
        assert out.returncode == 1, out
        assert SECRET not in out.stdout + out.stderr
        assert "Traceback" not in out.stderr
        lines = [line for line in (out.stdout + out.stderr).splitlines() if ": error: " in line]
        assert lines == list(expected) if exact else set(expected) <= set(lines), out


def _run(ws: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cwd = os.getcwd()
    os.chdir(ws)  # paths in messages are as the user named them: relative to the workspace
    try:
        return run_cli(*args, env={"RECONCILER_TEST_SECRET": SECRET})
    finally:
        os.chdir(cwd)


def _csv_ref(ws: Path, path: str) -> None:
    (ws / "more.yaml").write_text(f"csv_files:\n  - path: {path}\n    format: identity_map\n", encoding="utf-8")


# -- the excerpt helper ----------------------------------------------------------------------------


def test_excerpt_is_bounded_and_escapes_what_a_terminal_would_hide() -> None:
    assert excerpt("short") == "short"
    assert excerpt("x" * 61) == "x" * 60 + "..."
    assert excerpt("a\nb\tc\rd\x00e\x1b[31m") == "a\\nb\\tc\\rd\\x00e\\x1b[31m"
    assert excerpt("zero\u200bwidth\u202eltr") == "zero\\u200bwidth\\u202eltr"
    assert excerpt('say "hi" \\o/', quote=True) == 'say \\"hi\\" \\\\o/'
    assert excerpt("ab" * 50, 4) == "abab..."


def test_every_diagnostic_is_bounded_and_one_line_whoever_built_it() -> None:
    diags = Diagnostics()
    diags.error("leak " + SECRET * 100, SourceRange.at("f.yaml", 1), detail="x\n" * 1000)
    diags.warning("fine", None, detail="short")
    first, second = diags.items
    assert len(first.summary) <= SUMMARY_LIMIT + 3
    assert len(first.detail) <= DETAIL_LIMIT + 3
    assert "\n" not in first.render()
    assert second.render() == "warning: fine; short"


def test_a_csv_cell_is_quoted_as_a_short_excerpt(ws: Path) -> None:
    (ws / "identity-map.csv").write_text(f"{SECRET * 10}\x00{SECRET},a\n", encoding="utf-8")
    out = _run(ws, "validate", ".")
    assert out.returncode == 1
    line = next(line for line in out.stdout.splitlines() if line.startswith("identity-map.csv:1:1:"))
    assert line == f'identity-map.csv:1:1: error: row type must be "User" or "Group", got "{(SECRET * 10)[:60]}..."'


def test_a_long_yaml_key_is_quoted_as_a_short_excerpt(ws: Path) -> None:
    (ws / "more.yaml").write_text(f"{'k' * 500}: 1\n", encoding="utf-8")
    diags = load_workspace(ws).diagnostics
    [line] = [d.render() for d in diags if d.range is not None and d.range.filename.endswith("more.yaml")]
    assert line.startswith(f'{ws}/more.yaml:1:1: error: unknown field "{"k" * 60}..."; ')


# -- files outside the workspace -------------------------------------------------------------------


def test_proc_self_environ_is_refused_unread(ws: Path) -> None:
    _csv_ref(ws, "/proc/self/environ")
    _assert_refused(
        ws, f'more.yaml:2:11: error: CSV file "/proc/self/environ" resolves outside the workspace; {OUTSIDE}'
    )


def test_a_dotdot_csv_path_is_refused_unread(ws: Path, secret_file: Path) -> None:
    _csv_ref(ws, "../secret.csv")
    _assert_refused(ws, f'more.yaml:2:11: error: CSV file "../secret.csv" resolves outside the workspace; {OUTSIDE}')


def test_a_link_to_a_secret_file_outside_is_refused_unread(ws: Path, secret_file: Path) -> None:
    (ws / "link.csv").symlink_to(secret_file)
    _csv_ref(ws, "link.csv")
    _assert_refused(ws, f'more.yaml:2:11: error: CSV file "link.csv" resolves outside the workspace; {OUTSIDE}')


def test_a_spec_file_linked_to_a_secret_outside_is_refused_unread(ws: Path, tmp_path: Path) -> None:
    secret = tmp_path / "secret.yaml"
    secret.write_text(f"{SECRET}: [\n", encoding="utf-8")  # a YAML error would quote it
    secret.chmod(0o600)
    (ws / "zz.yaml").symlink_to(secret)
    _assert_refused(
        ws,
        'zz.yaml:1:1: error: spec file "zz.yaml" resolves outside the workspace; '
        f'matched by spec_files pattern "**/*.yaml"; {OUTSIDE}',
    )


def test_a_folder_linked_out_of_the_workspace_is_refused_unread(ws: Path, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "users.yaml").write_text(f"{SECRET}: 1\n", encoding="utf-8")
    (ws / "linked").symlink_to(outside)
    config = ws / "reconciler.yaml"
    config.write_text(config.read_text(encoding="utf-8") + 'spec_files:\n  - "*.yaml"\n  - "linked/*.yaml"\n')
    _assert_refused(
        ws,
        'reconciler.yaml:35:5: error: spec file "linked/users.yaml" resolves outside the workspace; '
        f'matched by spec_files pattern "linked/*.yaml"; {OUTSIDE}',
    )


@pytest.mark.parametrize("pattern", ["../*.yaml", "/etc/*.conf", "specs/../../*.csv"])
def test_a_spec_files_pattern_leaving_the_workspace_is_located(ws: Path, pattern: str) -> None:
    config = ws / "reconciler.yaml"
    config.write_text(config.read_text(encoding="utf-8") + f'spec_files:\n  - "*.yaml"\n  - "{pattern}"\n')
    _assert_refused(
        ws,
        f'reconciler.yaml:35:5: error: spec_files: pattern "{pattern}" leaves the workspace; '
        "patterns are relative to the workspace, without .. or an absolute path",
    )


def test_a_config_linked_out_of_the_workspace_is_refused(ws: Path, tmp_path: Path) -> None:
    real = tmp_path / "real.yaml"
    shutil.move(ws / "reconciler.yaml", real)
    (ws / "reconciler.yaml").symlink_to(real)
    _assert_refused(ws, f"reconciler.yaml:1:1: error: reconciler.yaml resolves outside the workspace; {OUTSIDE}")


def test_fmt_never_writes_through_a_link_out_of_the_workspace(ws: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.yaml"
    outside.write_text("user_mappings: [ {source_upn: a@contoso.onmicrosoft.com,   target_upn: a@f.com} ]\n")
    before = outside.read_bytes()
    (ws / "zz.yaml").symlink_to(outside)
    report = format_workspace(ws, write=True)
    assert "zz.yaml" not in " ".join(report.changed)
    assert (ws / "zz.yaml").is_symlink()
    assert outside.read_bytes() == before
    assert any("resolves outside the workspace" in d.summary for d in report.diagnostics)


def test_links_that_stay_inside_the_workspace_are_followed(ws: Path) -> None:
    (ws / "maps").mkdir()
    shutil.move(ws / "identity-map.csv", ws / "maps" / "identity-map.csv")
    (ws / "identity-map.csv").symlink_to(Path("maps") / "identity-map.csv")
    shutil.move(ws / "waves.yaml", ws / "maps" / "waves.txt")  # not a spec file by name: read through the link
    (ws / "waves.yaml").symlink_to(Path("maps") / "waves.txt")
    loaded = load_workspace(ws)
    assert loaded.ok, [d.render() for d in loaded.diagnostics]
    assert "user006@contoso.onmicrosoft.com" in loaded.desired.user_mappings  # from the linked CSV
    assert "waves.yaml" in [Path(f).name for f in loaded.spec_files]


# -- nothing is skipped silently -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (lambda p: p.symlink_to("nowhere.yaml"), "is a symbolic link whose target does not exist"),
        (lambda p: p.symlink_to(p.name), "is a symbolic link loop"),
        (lambda p: p.mkdir(), "is a folder, not a file"),
        (lambda p: os.mkfifo(p), "is not a regular file (a device, pipe or socket)"),
    ],
    ids=["dangling", "loop", "folder", "fifo"],
)
def test_an_unreadable_spec_file_stops_validate_and_plan(ws: Path, make: object, problem: str) -> None:
    make(ws / "zz.yaml")  # type: ignore[operator]
    _assert_refused(
        ws,
        f'zz.yaml:1:1: error: spec file "zz.yaml" {problem}; matched by spec_files pattern "**/*.yaml"; '
        "nothing was read from it",
    )


def test_a_dangling_csv_link_is_located_at_the_path_that_names_it(ws: Path) -> None:
    (ws / "gone.csv").symlink_to("nowhere.csv")
    _csv_ref(ws, "gone.csv")
    _assert_refused(
        ws,
        'more.yaml:2:11: error: CSV file "gone.csv" is a symbolic link whose target does not exist; '
        "nothing was read from it",
    )


def test_non_utf8_spec_and_csv_files_are_located_at_the_byte(ws: Path) -> None:
    (ws / "zz.yaml").write_bytes(b"user_mappings: []\n# caf\xe9\n")
    (ws / "identity-map.csv").write_bytes(b"User,x,a\xff\n")
    _assert_refused(
        ws,
        "identity-map.csv:1:9: error: file is not valid UTF-8; byte 0xff",
        "zz.yaml:2:6: error: file is not valid UTF-8; byte 0xe9",
        exact=False,  # and the mappings of the unread CSV are missing for the migrations that need them
    )


def test_permission_denied_is_located_at_the_value_that_names_the_file(
    ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Tests run as root, who may read anything: the refusals are simulated where the code meets them.
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode: real_access(path, mode) and Path(path).name != "waves.yaml")
    real_read = Path.read_bytes

    def read_bytes(self: Path) -> bytes:
        if self.name == "identity-map.csv":
            raise PermissionError(errno.EACCES, "Permission denied")
        return real_read(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    diags = load_workspace(ws).diagnostics
    # The unread files' resources are missing too (undeclared waves, migrations without mappings).
    rendered = [d.render() for d in diags.sorted() if d.range and Path(d.range.filename).name != "migrations.yaml"]
    assert rendered == [
        f"{ws}/users.yaml:6:11: error: cannot read file: Permission denied",
        f'{ws}/waves.yaml:1:1: error: spec file "waves.yaml" cannot be read: permission denied; '
        'matched by spec_files pattern "**/*.yaml"; nothing was read from it',
    ]


def test_a_dangling_spec_file_stops_plan_and_apply_and_nothing_is_deleted(
    quickstart_workspace: Path, emu: Emulator
) -> None:
    ws = quickstart_workspace
    assert run_cli("apply", str(ws), "--auto-approve").returncode == 0
    state_file = ws / ".reconciler" / "state.json"
    state_before = state_file.read_bytes()
    users = ws / "users.yaml"
    users.unlink()
    users.symlink_to("users-moved.yaml")  # a rename in another commit left the link behind
    expected = (
        f'{ws}/users.yaml:1:1: error: spec file "users.yaml" is a symbolic link whose target does not '
        'exist; matched by spec_files pattern "**/*.yaml"; nothing was read from it'
    )
    for command in (("plan", str(ws)), ("apply", str(ws), "--auto-approve")):
        out = run_cli(*command)
        assert out.returncode == 1, out
        assert expected in out.stderr.splitlines(), out.stderr
        assert "Traceback" not in out.stderr
    assert state_file.read_bytes() == state_before
    for n in ("001", "002", "006"):  # users.yaml's own mappings and those of the CSV it names
        upn = f"user{n}@contoso.onmicrosoft.com"
        assert emu.graph("GET", f"{USER_MAPPINGS}(sourceUserPrincipalName='{upn}')", "target").status_code == 200


# -- no tracebacks ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("user_mappings: " + "[" * 1000 + "]" * 1000 + "\n", "zz.yaml:1:115"),
        ("user_mappings:\n" + "- " * 100_000 + "x\n", "zz.yaml:2:199"),  # the compiled composer crashed here
        ("user_mappings: " + "{a: " * 100_000 + "\n", "zz.yaml:1:412"),
    ],
    ids=["flow-1000", "block-100000", "unclosed-100000"],
)
def test_yaml_nested_too_deeply_is_a_located_error(ws: Path, text: str, where: str) -> None:
    (ws / "zz.yaml").write_text(text, encoding="utf-8")
    _assert_refused(
        ws,
        f"{where}: error: YAML nests too deeply; more than 100 levels of mappings and lists; "
        "a workspace file needs a handful",
    )


def test_a_credential_file_that_is_not_text_is_one_line(ws: Path, tmp_path: Path) -> None:
    from reconciler.workspace.connection import CredentialError, resolve_connection

    secret = tmp_path / "secret.bin"
    secret.write_bytes(b"\xff\xfe" + SECRET.encode())
    config = ws / "reconciler.yaml"
    text = config.read_text(encoding="utf-8").replace("emulator:\n  connection_file: .reconciler/emulator.json\n", "")
    credentials = (
        "  credentials:\n    type: client_secret\n    client_id: 0c9f2b1e-7a4d-4c36-9d0e-2b8f5a1c7e30\n"
        f"    client_secret_file: {secret}\n"
    )
    text = text.replace("  data_location: NAM\ntarget:", f"  data_location: NAM\n{credentials}target:")
    text = text.replace("fabrikam-my.sharepoint.com\n", "fabrikam-my.sharepoint.com\n" + credentials, 1)
    config.write_text(text, encoding="utf-8")
    loaded = load_workspace(ws)
    assert loaded.ok, [d.render() for d in loaded.diagnostics]
    with pytest.raises(CredentialError) as refused:
        resolve_connection(loaded, {})
    assert str(refused.value) == f"source: cannot read the client secret file {secret}: not UTF-8 text"
    secret.unlink()
    secret.mkdir()
    with pytest.raises(CredentialError, match=r"^source: cannot read the client secret file .*: not a regular file$"):
        resolve_connection(loaded, {})


def test_a_spec_files_pattern_that_is_not_a_glob_is_located(ws: Path) -> None:
    config = ws / "reconciler.yaml"
    config.write_text(config.read_text(encoding="utf-8") + 'spec_files:\n  - "*.yaml"\n  - "specs/a**b.yaml"\n')
    _assert_refused(
        ws,
        'reconciler.yaml:35:5: error: spec_files: pattern "specs/a**b.yaml" is not a valid glob; '
        "Invalid pattern: '**' can only be an entire path component",
    )
