"""Read spec files (and the CSV files they name) into validated items, reporting every problem on the way.

Each file is read once; a broken file or item is reported and skipped so the rest is still checked.
The cross-item checks and the defaults live in ``resolve.py``.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from reconciler.spec.csvfiles import CsvItems, UserMappingItem, read_identity_map, read_migrations
from reconciler.spec.desired import item_address
from reconciler.spec.diagnostics import Diagnostics, SourceRange, excerpt
from reconciler.spec.enums import CsvFormat
from reconciler.spec.files import OUTSIDE, OUTSIDE_DETAIL, file_problem
from reconciler.spec.model_errors import did_you_mean, report_validation_error, yaml_locator
from reconciler.spec.models import (
    ITEM_MODELS,
    CsvFileSpec,
    GroupMappingSpec,
    GroupMigrationSpec,
    SiteMigrationSpec,
    SpecModel,
    UserMappingSpec,
    UserMigrationSpec,
    WaveSpec,
)
from reconciler.spec.sourced import Sourced, YamlItemLocator
from reconciler.spec.yamlsource import Loc, load_yaml, read_text, yaml_type


@dataclass(frozen=True)
class SpecPath:
    """A file to read and the name diagnostics give it (relative to where the user pointed us)."""

    path: Path
    display: str


@dataclass
class SpecSources:
    """Every valid item read, in file order, with where it came from."""

    waves: list[Sourced[WaveSpec]] = field(default_factory=list)
    user_mappings: list[Sourced[UserMappingItem]] = field(default_factory=list)
    group_mappings: list[Sourced[GroupMappingSpec]] = field(default_factory=list)
    user_migrations: list[Sourced[UserMigrationSpec]] = field(default_factory=list)
    site_migrations: list[Sourced[SiteMigrationSpec]] = field(default_factory=list)
    group_migrations: list[Sourced[GroupMigrationSpec]] = field(default_factory=list)
    csv_waves: list[Sourced[CsvFileSpec]] = field(default_factory=list)  # CSV files that set a default wave
    files: list[str] = field(default_factory=list)

    def add_csv(self, items: CsvItems) -> None:
        self.user_mappings.extend(items.user_mappings)
        self.group_mappings.extend(items.group_mappings)
        for migration in items.migrations:
            self.add(migration)

    def add(self, item: Sourced[Any]) -> None:
        spec = item.spec
        if isinstance(spec, WaveSpec):
            self.waves.append(item)
        elif isinstance(spec, UserMappingSpec):
            self.user_mappings.append(item)
        elif isinstance(spec, GroupMappingSpec):
            self.group_mappings.append(item)
        elif isinstance(spec, UserMigrationSpec):
            self.user_migrations.append(item)
        elif isinstance(spec, SiteMigrationSpec):
            self.site_migrations.append(item)
        elif isinstance(spec, GroupMigrationSpec):
            self.group_migrations.append(item)


def read_specs(files: list[SpecPath], diags: Diagnostics, root: Path | None = None) -> SpecSources:
    """Read every spec file; CSV files they name must resolve inside ``root`` (the workspace) when given."""
    sources = SpecSources()
    csv_seen: dict[Path, SourceRange] = {}
    for spec_path in files:
        sources.files.append(spec_path.display)
        _read_spec_file(spec_path, sources, csv_seen, diags, root)
    return sources


def _read_spec_file(
    spec_path: SpecPath,
    sources: SpecSources,
    csv_seen: dict[Path, SourceRange],
    diags: Diagnostics,
    root: Path | None,
) -> None:
    filename = spec_path.display
    text = read_text(spec_path.path, filename, diags)
    if text is None:
        return
    doc = load_yaml(text, filename, diags)
    if doc is None or doc.value is None:
        return
    if not isinstance(doc.value, dict):
        diags.error(
            f"a spec file is a mapping of kinds to lists, got {yaml_type(doc.value)}",
            doc.loc.range(filename),
            detail=f"expected keys: {', '.join(ITEM_MODELS)}",
        )
        return
    assert doc.loc.keys is not None
    for kind, value in doc.value.items():
        key_loc, value_loc = doc.loc.keys[kind]
        model = ITEM_MODELS.get(kind)
        if model is None:
            diags.error(
                f'unknown field "{excerpt(kind, quote=True)}"',
                key_loc.range(filename),
                detail=did_you_mean(kind, ITEM_MODELS),
            )
            continue
        if value is None:
            continue  # `user_mappings:` with nothing under it yet
        if not isinstance(value, list):
            diags.error(f"{kind}: expected a list, got {yaml_type(value)}", value_loc.range(filename))
            continue
        assert value_loc.items is not None
        for raw, item_loc in zip(value, value_loc.items, strict=True):
            spec = _validate_item(model, raw, item_loc, filename, diags)
            if spec is None:
                continue
            where = YamlItemLocator(filename, item_loc)
            if isinstance(spec, CsvFileSpec):
                _read_csv(spec, where, spec_path, sources, csv_seen, diags, root)
            else:
                sources.add(Sourced(spec, where))


def _validate_item(model: type[SpecModel], raw: Any, loc: Loc, filename: str, diags: Diagnostics) -> SpecModel | None:
    if not isinstance(raw, dict):
        diags.error(f"expected a mapping of fields, got {yaml_type(raw)}", loc.range(filename))
        return None
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        report_validation_error(exc, model, yaml_locator(loc, filename), diags, address=item_address(model, raw))
        return None


def _read_csv(
    ref: CsvFileSpec,
    where: YamlItemLocator,
    spec_path: SpecPath,
    sources: SpecSources,
    csv_seen: dict[Path, SourceRange],
    diags: Diagnostics,
    root: Path | None,
) -> None:
    named = spec_path.path.parent / ref.path
    path = named.resolve()
    display = posixpath.normpath(posixpath.join(posixpath.dirname(spec_path.display), ref.path))
    shown = excerpt(ref.path, quote=True)
    first = csv_seen.get(path)
    if first is not None:
        diags.error(f'CSV file "{shown}" is already named', where.field("path"), detail=f"first named at {first}")
        return
    csv_seen[path] = where.field("path")
    problem = file_problem(named, root)
    if problem == "does not exist":
        diags.error(f'CSV file "{shown}" does not exist', where.field("path"), detail=f"looked for {excerpt(display)}")
        return
    if problem is not None:
        detail = OUTSIDE_DETAIL if problem == OUTSIDE else "nothing was read from it"
        diags.error(f'CSV file "{shown}" {problem}', where.field("path"), detail=detail)
        return
    text = read_text(path, display, diags, named_at=where.field("path"))
    if text is None:
        return
    sources.files.append(display)
    if ref.format is CsvFormat.IDENTITY_MAP:
        if ref.wave is not None:
            diags.error("wave: an identity map holds mappings, not migrations", where.field("wave"))
        sources.add_csv(read_identity_map(text, display, diags, protect=ref.protect))
        return
    if ref.wave is not None:
        sources.csv_waves.append(Sourced(ref, where))
    sources.add_csv(read_migrations(text, display, ref.format, diags, protect=ref.protect, wave=ref.wave))
