"""The documentation fails the suite when it drifts from the CLI or links to files that are not there.

* docs/commands.md has a section headed with each command path of the click tree (`reconciler`,
  `reconciler plan`, `reconciler state rm`, ...), with a synopsis, exit codes and an example run,
  and a row of its options table for every long option name; every documented command and every
  option in an options table exists.
* Every relative link in README.md and docs/*.md resolves to a file in the repository, and an
  anchor into a Markdown file names one of its headings (GitHub's slugs).
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from pathlib import Path

import click
import pytest

from reconciler.cli.main import main

ROOT = Path(__file__).resolve().parent.parent
COMMANDS_MD = ROOT / "docs" / "commands.md"
LINKED_DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


# --- the click tree ---------------------------------------------------------------------------------


def _walk(command: click.Command, path: str) -> list[tuple[str, click.Command]]:
    found = [(path, command)]
    if isinstance(command, click.Group):
        for name, sub in sorted(command.commands.items()):
            found.extend(_walk(sub, f"{path} {name}"))
    return found


COMMANDS = dict(_walk(main, "reconciler"))
LEAVES = sorted(path for path, command in COMMANDS.items() if not isinstance(command, click.Group))


def _option_names(command: click.Command) -> list[str]:
    """Every long name of every option: `--x`, `--no-x`, and single-dash long names such as `-out`."""
    names: list[str] = []
    for param in command.params:
        if isinstance(param, click.Option):
            names.extend(n for n in (*param.opts, *param.secondary_opts) if n.startswith("--") or len(n) > 2)
    return names


def _all_option_names(command: click.Command) -> set[str]:
    names = {"-h", "--help"}
    for param in command.params:
        if isinstance(param, click.Option):
            names.update(param.opts, param.secondary_opts)
    return names


# --- Markdown ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    number: int
    text: str
    in_code: bool  # inside a fenced code block (fence lines included)


def _lines(text: str) -> list[Line]:
    out: list[Line] = []
    fence: str | None = None
    for number, raw in enumerate(text.splitlines(), 1):
        match = re.match(r" {0,3}(`{3,}|~{3,})", raw)
        if fence is None and match:
            fence = match.group(1)
            out.append(Line(number, raw, True))
        elif fence is not None:
            closing = re.fullmatch(r" {0,3}(`{3,}|~{3,})\s*", raw)
            if closing and closing.group(1)[0] == fence[0] and len(closing.group(1)) >= len(fence):
                fence = None
            out.append(Line(number, raw, True))
        else:
            out.append(Line(number, raw, False))
    return out


def _heading(line: Line) -> tuple[int, str] | None:
    if line.in_code:
        return None
    match = re.match(r" {0,3}(#{1,6})\s+(.*?)(?:\s+#+)?\s*$", line.text)
    return (len(match.group(1)), match.group(2)) if match else None


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: link text kept, lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    anchors: set[str] = set()
    seen: dict[str, int] = {}
    for line in _lines(path.read_text(encoding="utf-8")):
        if (heading := _heading(line)) is not None:
            slug = _slug(heading[1])
            count = seen.get(slug, 0)
            seen[slug] = count + 1
            anchors.add(slug if count == 0 else f"{slug}-{count}")
    return anchors


def _command_sections(path: Path) -> dict[str, str]:
    """Command path -> its section: from its heading (`reconciler state rm`) to the next heading."""
    lines = _lines(path.read_text(encoding="utf-8"))
    starts = [i for i, line in enumerate(lines) if _heading(line) is not None] + [len(lines)]
    sections: dict[str, str] = {}
    for start, end in itertools.pairwise(starts):
        heading = _heading(lines[start])
        assert heading is not None
        match = re.fullmatch(r"`(reconciler(?: [a-z][a-z-]*)*)`", heading[1])
        if match is None:
            continue
        command = match.group(1)
        assert command not in sections, f"{path.name}: two sections are headed `{command}`"
        sections[command] = "\n".join(line.text for line in lines[start:end])
    return sections


SECTIONS = _command_sections(COMMANDS_MD)


def _table_options(section: str) -> set[str]:
    """The option names in the first column of the section's options table."""
    names: set[str] = set()
    for line in _lines(section):
        if not line.in_code and line.text.startswith("| `-"):
            names.update(re.findall(r"`(--?[A-Za-z][\w-]*)", line.text.split("|")[1]))
    return names


def _section(command: str) -> str:
    if command not in SECTIONS:
        pytest.fail(f"docs/commands.md has no section headed `{command}`")
    return SECTIONS[command]


# --- commands.md against the CLI --------------------------------------------------------------------


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_has_a_section(command: str) -> None:
    _section(command)


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_option_is_documented_under_its_command(command: str) -> None:
    documented = _table_options(_section(command))
    missing = [name for name in _option_names(COMMANDS[command]) if name not in documented]
    assert not missing, f"docs/commands.md, section `{command}`: no options-table row for {', '.join(missing)}"


@pytest.mark.parametrize("command", LEAVES)
def test_every_command_section_has_a_synopsis_exit_codes_and_an_example(command: str) -> None:
    section = _section(command)
    code = [line.text.strip() for line in _lines(section) if line.in_code]
    assert any(line.startswith(f"{command} ") or line == command for line in code), f"`{command}`: no synopsis"
    assert "**Exit codes:**" in section, f"`{command}`: no exit codes"
    assert any(line.startswith(f"$ {command}") for line in code), f"`{command}`: no example run"


def test_every_documented_command_exists() -> None:
    unknown = sorted(set(SECTIONS) - set(COMMANDS))
    assert not unknown, f"docs/commands.md documents commands the CLI does not have: {unknown}"


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_option_in_an_options_table_exists(command: str) -> None:
    unknown = sorted(_table_options(_section(command)) - _all_option_names(COMMANDS[command]))
    assert not unknown, f"docs/commands.md, section `{command}`, documents options it does not have: {unknown}"


# --- links ------------------------------------------------------------------------------------------

_INLINE_CODE = re.compile(r"``.+?``|`[^`]+`")
_INLINE_LINK = re.compile(r"\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_REFERENCE_DEFINITION = re.compile(r" {0,3}\[[^\]]+\]:\s*<?([^\s>]+)>?")


def _links(path: Path) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    for line in _lines(path.read_text(encoding="utf-8")):
        if line.in_code:
            continue
        text = _INLINE_CODE.sub("", line.text)
        targets = _INLINE_LINK.findall(text)
        if definition := _REFERENCE_DEFINITION.match(text):
            targets.append(definition.group(1))
        found.extend((line.number, target) for target in targets)
    return found


def _broken(source: Path, target: str) -> str | None:
    """Why a link from ``source`` does not resolve (None when it does, or when it is not checked)."""
    if re.match(r"[A-Za-z][A-Za-z0-9+.-]*:", target) or target.startswith("//"):
        return None  # https:, mailto:, ...: not a file of this repository
    file_part, _, anchor = target.partition("#")
    resolved = (source.parent / file_part).resolve() if file_part else source
    if not resolved.is_relative_to(ROOT):
        return "points outside the repository"
    relative = resolved.relative_to(ROOT).as_posix()
    if not resolved.exists():
        return f"{relative} does not exist"
    if anchor and resolved.suffix == ".md" and anchor not in _anchors(resolved):
        return f"{relative} has no heading with the anchor #{anchor}"
    return None


@pytest.mark.parametrize("source", LINKED_DOCS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_relative_links_resolve(source: Path) -> None:
    problems = [
        f"{source.relative_to(ROOT).as_posix()}:{number}: ({target}) {why}"
        for number, target in _links(source)
        if (why := _broken(source, target)) is not None
    ]
    assert not problems, "broken links:\n" + "\n".join(problems)


def test_the_link_checker_sees_links_and_anchors(tmp_path: Path) -> None:
    """The checks above pass vacuously if they find no links; this keeps them honest."""
    assert len(_links(COMMANDS_MD)) > 20
    assert "reconciler-state-push" in _anchors(COMMANDS_MD)
    assert _broken(COMMANDS_MD, "no-such-page.md") == "docs/no-such-page.md does not exist"
    assert (
        _broken(COMMANDS_MD, "plan.md#no-such-heading")
        == "docs/plan.md has no heading with the anchor #no-such-heading"
    )
    assert _broken(COMMANDS_MD, "#reconciler-plan") is None
    assert _broken(COMMANDS_MD, "https://learn.microsoft.com/graph/") is None
    page = tmp_path / "page.md"
    page.write_text("# A `b` [c](d.md)\n\n```md\n# not a heading\n[x](missing.md)\n```\n## A b c\n", encoding="utf-8")
    assert _anchors(page) == {"a-b-c", "a-b-c-1"}
    assert _links(page) == [(1, "d.md")]


# --- the guides -------------------------------------------------------------------------------------

DOCS_INDEX = ROOT / "docs" / "README.md"


def _linked_pages(path: Path) -> set[str]:
    return {target.partition("#")[0] for _, target in _links(path)}


def test_every_page_of_docs_is_linked_from_the_index() -> None:
    linked = _linked_pages(DOCS_INDEX)
    pages = {p.name for p in (ROOT / "docs").glob("*.md") if p.name != "README.md"}
    assert {"tutorial.md", "real-tenants.md", "troubleshooting.md"} <= pages
    missing = sorted(pages - linked)
    assert not missing, f"docs/README.md does not link {', '.join(missing)}"


def test_the_readme_links_the_tutorial_real_tenants_and_troubleshooting() -> None:
    linked = _linked_pages(ROOT / "README.md")
    assert {"docs/tutorial.md", "docs/real-tenants.md", "docs/troubleshooting.md"} <= linked


def test_the_doctor_section_names_every_check_the_doctor_makes(tmp_path: Path) -> None:
    from reconciler.operations.doctor import run_doctor

    # A folder without a workspace: the config check fails and every other check is listed as skipped.
    names = [check.name for check in run_doctor(str(tmp_path)).checks]
    assert len(names) == 12
    section = _section("reconciler doctor")
    unnamed = [name for name in names if f"`{name}`" not in section]
    assert not unnamed, f"docs/commands.md, section `reconciler doctor`, does not name the checks {unnamed}"


def test_the_real_tenant_guide_names_permissions_cmdlets_and_errors_with_microsofts_pages() -> None:
    text = (ROOT / "docs" / "real-tenants.md").read_text(encoding="utf-8")
    for needed in (
        "SharePointCrossTenantMigration.Read.All",
        "SharePointCrossTenantMigration.Manage.All",
        "admin consent",
        "Set-SPOCrossTenantRelationship",
        "Verify-SPOCrossTenantRelationship",
        "Get-SPOCrossTenantCompatibilityStatus",
        "Start-SPOCrossTenantCompatibilityCheck",
        "Get-SPOCrossTenantHostUrl",
        "workload_identity",
        "type: certificate",
        "format: identity_map",
        "AADSTS7000215",
        "AADSTS700027",
        "AADSTS700016",
        "AADSTS90002",
        "`403",
        "`422`",
        "`409`",
    ):
        assert needed in text, f"docs/real-tenants.md does not mention {needed}"
    microsoft = [
        t for _, t in _links(ROOT / "docs" / "real-tenants.md") if t.startswith("https://learn.microsoft.com/")
    ]
    assert len(microsoft) >= 8


def test_troubleshooting_covers_what_users_meet_first() -> None:
    text = (ROOT / "docs" / "troubleshooting.md").read_text(encoding="utf-8")
    for needed in (
        "reconciler doctor",
        "is locked by",
        "is stale",
        "is held",
        "RECONCILER_TRUSTED_HOSTS",
        "cannot reach",
    ):
        assert needed in text, f"docs/troubleshooting.md does not cover {needed!r}"


def test_no_page_promises_work_for_a_later_issue() -> None:
    stale = [
        f"{path.relative_to(ROOT).as_posix()}:{line.number}"
        for path in LINKED_DOCS
        for line in _lines(path.read_text(encoding="utf-8"))
        if re.search(r"\b(?:come|comes|coming) with issue \d+|\bissue #?\d+\b", line.text, re.IGNORECASE)
    ]
    assert not stale, f"pages that point at a tracker issue instead of saying what is: {stale}"
