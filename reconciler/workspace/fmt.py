"""``reconciler fmt`` over a workspace: which files, what would change, atomic rewrites.

Only YAML is formatted (reconciler.yaml and the spec files); CSV files keep the layout other tools
expect. A file that is not valid YAML is reported, as ``validate`` would, and left untouched.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path

from reconciler.atomic import atomic_write_text
from reconciler.spec.diagnostics import Diagnostics, SourceRange
from reconciler.spec.files import file_problem
from reconciler.spec.yamlsource import load_yaml, read_text
from reconciler.workspace.canonical_yaml import FormatError, format_config, format_spec
from reconciler.workspace.config import CONFIG_FILE
from reconciler.workspace.loader import discover_spec_files, display_path, load_config


@dataclass
class FormatReport:
    changed: list[str] = field(default_factory=list)  # display names of files rewritten (or that would be)
    diffs: dict[str, str] = field(default_factory=dict)
    diagnostics: Diagnostics = field(default_factory=Diagnostics)


def format_workspace(root: Path | str = ".", *, write: bool = True) -> FormatReport:
    display_root = str(root)
    root = Path(root)
    report = FormatReport()
    if not root.is_dir():
        report.diagnostics.error(f'workspace "{display_root}" is not a directory', None)
        return report
    files: list[tuple[Path, str, bool]] = []
    quiet = Diagnostics()  # fmt formats what it can; validate is the place for model errors
    config, doc = load_config(root, display_root, quiet)
    if file_problem(root / CONFIG_FILE, root) is None:  # never a link out of the workspace: fmt writes
        files.append((root / CONFIG_FILE, display_path(display_root, CONFIG_FILE), True))
    found = discover_spec_files(root, display_root, config, report.diagnostics, doc.loc if doc is not None else None)
    files.extend((spec.path, spec.display, False) for spec in found)
    for path, display, is_config in files:
        _format_file(path, display, is_config, write, report)
    return report


def _format_file(path: Path, display: str, is_config: bool, write: bool, report: FormatReport) -> None:
    text = read_text(path, display, report.diagnostics)
    if text is None:
        return
    problems = Diagnostics()
    if load_yaml(text, display, problems) is None or problems.has_errors:
        # Only sound YAML is rewritten: a duplicate key or a syntax error needs a person, not a formatter.
        report.diagnostics.extend(problems)
        return
    try:
        formatted = format_config(text) if is_config else format_spec(text)
    except FormatError as exc:
        report.diagnostics.error(f"cannot format this file: {exc}", SourceRange.at(display, 1))
        return
    if formatted == text:
        return
    report.changed.append(display)
    report.diffs[display] = "".join(
        difflib.unified_diff(
            text.splitlines(keepends=True), formatted.splitlines(keepends=True), f"a/{display}", f"b/{display}"
        )
    )
    if write:
        atomic_write_text(path, formatted)
