"""Load a workspace: ``reconciler.yaml``, the spec files it selects, and the desired state they declare.

Reads local files only, never the network. Every problem lands in ``Workspace.diagnostics``; loading
carries on past them so one run reports them all.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from reconciler.gcpause import gc_paused
from reconciler.spec.desired import Desired
from reconciler.spec.diagnostics import Diagnostics, SourceRange, excerpt
from reconciler.spec.files import OUTSIDE, OUTSIDE_DETAIL, file_problem, inside
from reconciler.spec.loader import SpecPath, read_specs
from reconciler.spec.model_errors import validate_model, yaml_locator
from reconciler.spec.resolve import SpecContext, resolve
from reconciler.spec.yamlsource import Loc, YamlDocument, load_yaml, read_text
from reconciler.workspace.config import (
    CONFIG_FILE,
    DEFAULT_SPEC_FILES,
    DEFAULT_STATE_PATH,
    SECRET_HINTS,
    AzureBlobStateConfig,
    ClientSecretCredential,
    LocalStateConfig,
    TenantConfig,
    WorkspaceConfig,
)
from reconciler.workspace.emulator_file import EmulatorConnection, read_emulator_connection
from reconciler.workspace.trusted_hosts import is_loopback


@dataclass(frozen=True)
class TenantFacts:
    """What is known about one tenant without asking the network (``None``: not known yet)."""

    role: str
    name: str | None
    tenant_id: str | None
    domain: str | None
    hosts: tuple[str, ...] | None
    data_location: str | None
    domains: tuple[str, ...] | None = None  # every domain its UPNs may use, lower-case; None: not known


def tenant_domains(
    domain: str | None, extra: list[str] | None, hosts: tuple[str, ...] | None
) -> tuple[str, ...] | None:
    """The domains a tenant's UPNs and emails may use: ``domain``, ``domains:`` and the initial
    LABEL.onmicrosoft.com of each https://LABEL.sharepoint.com host (every tenant has it; guests' UPNs
    live there). Unknown (``None``, the check is skipped) while ``domain`` is not known. Subdomains are
    not implied: Entra verifies each one separately, so each is listed."""
    if domain is None:
        return None
    found = [domain, *(extra or [])]
    for host in hosts or ():
        name = (urlsplit(host).hostname or "").lower()
        label, _, rest = name.partition(".")
        if rest == "sharepoint.com":
            found.append(f"{label.removesuffix('-my')}.onmicrosoft.com")
    return tuple(dict.fromkeys(d.lower() for d in found))


@dataclass
class Workspace:
    root: Path
    display_root: str
    config: WorkspaceConfig | None
    source: TenantFacts | None
    target: TenantFacts | None
    spec_files: list[str]
    desired: Desired
    diagnostics: Diagnostics
    emulator: EmulatorConnection | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return not self.diagnostics.has_errors

    def display(self, relative: str) -> str:
        return display_path(self.display_root, relative)

    @property
    def state_path(self) -> Path:
        """Where the local backend keeps the state (the default when the config is missing or not local)."""
        state = self.config.state if self.config is not None else None
        path = Path(state.path if isinstance(state, LocalStateConfig) else DEFAULT_STATE_PATH)
        return path if path.is_absolute() else self.root / path


def display_path(display_root: str, relative: str) -> str:
    return relative if display_root in ("", ".") else posixpath.join(display_root, relative)


def load_config(
    root: Path, display_root: str, diags: Diagnostics
) -> tuple[WorkspaceConfig | None, YamlDocument | None]:
    """``reconciler.yaml`` validated against its model (the checks across its sections are separate)."""
    config_name = display_path(display_root, CONFIG_FILE)
    config_path = root / CONFIG_FILE
    problem = file_problem(config_path, root)
    if problem == "does not exist":
        diags.error(f"no {CONFIG_FILE} in {display_root}", None, detail="run `reconciler init` to create a workspace")
        return None, None
    if problem is not None:
        detail = OUTSIDE_DETAIL if problem == OUTSIDE else "nothing was read from it"
        diags.error(f"{CONFIG_FILE} {problem}", SourceRange.at(config_name, 1), detail=detail)
        return None, None
    text = read_text(config_path, config_name, diags)
    doc = load_yaml(text, config_name, diags) if text is not None else None
    if doc is None:
        return None, None
    if doc.value is None:
        diags.error(f"{CONFIG_FILE} is empty", SourceRange.at(config_name, 1))
        return None, doc
    if not isinstance(doc.value, dict):
        diags.error(f"{CONFIG_FILE} must be a mapping", doc.loc.range(config_name))
        return None, doc
    locate = yaml_locator(doc.loc, config_name)
    return validate_model(WorkspaceConfig, doc.value, locate, diags, hints=SECRET_HINTS), doc


def load_workspace(root: Path | str = ".") -> Workspace:
    with gc_paused():
        return _load_workspace(root)


def _load_workspace(root: Path | str) -> Workspace:
    display_root = str(root)
    root = Path(root)
    diags = Diagnostics()
    if not root.is_dir():
        diags.error(f'workspace "{display_root}" is not a directory', None)
        return Workspace(root, display_root, None, None, None, [], Desired(), diags)
    config, doc = load_config(root, display_root, diags)
    config_name = display_path(display_root, CONFIG_FILE)
    source = target = None
    emulator: EmulatorConnection | None = None
    if config is not None and doc is not None:
        emulator = _check_config(config, doc, root, display_root, diags)
        uses_emulator = config.emulator is not None
        source = _facts("source", config.source, emulator, uses_emulator, doc.loc, config_name, diags)
        target = _facts("target", config.target, emulator, uses_emulator, doc.loc, config_name, diags)
        _check_tenants_differ(source, target, doc.loc, config_name, diags)
    spec_paths = discover_spec_files(root, display_root, config, diags, doc.loc if doc is not None else None)
    sources = read_specs(spec_paths, diags, root)
    context = _context(config, source, target)
    desired = resolve(sources, context, diags)
    return Workspace(root, display_root, config, source, target, sources.files, desired, diags, emulator)


def discover_spec_files(
    root: Path,
    display_root: str,
    config: WorkspaceConfig | None,
    diags: Diagnostics | None = None,
    config_loc: Loc | None = None,
) -> list[SpecPath]:
    """Spec files matched by the config's globs, in a stable order; never reconciler.yaml or hidden folders.

    A match that cannot be read (outside the workspace once links are followed, a dangling link, a
    loop, a folder, unreadable) is never skipped silently: it is an error in ``diags``, at the
    ``spec_files`` pattern that matched it when the config wrote one, else at the file itself.
    """
    patterns = config.spec_files if config is not None else ["**/*.yaml", "**/*.yml"]
    written = config_loc.value_of("spec_files") if config_loc is not None else None
    config_name = display_path(display_root, CONFIG_FILE)
    found: dict[str, Path] = {}
    problems: dict[str, tuple[str, int]] = {}
    if not patterns and diags is not None and written is not None:
        diags.error(
            "spec_files is empty: no spec file would be read",
            written.range(config_name),
            detail="plan would then propose deleting every mapping this workspace manages; leave spec_files out "
            "for the default (**/*.yaml, **/*.yml) or name the files",
        )
    for index, pattern in enumerate(patterns):
        before = len(found) + len(problems)
        if not inside(pattern):
            if diags is not None:
                diags.error(
                    f'spec_files: pattern "{excerpt(pattern, quote=True)}" leaves the workspace',
                    _pattern_at(written, index, config_name, ""),
                    detail="patterns are relative to the workspace, without .. or an absolute path",
                )
            continue
        try:
            matches = sorted(root.glob(pattern))
        except ValueError as exc:  # e.g. "a**b": ** must be a whole path component
            if diags is not None:
                diags.error(
                    f'spec_files: pattern "{excerpt(pattern, quote=True)}" is not a valid glob',
                    _pattern_at(written, index, config_name, ""),
                    detail=excerpt(exc, 100),
                )
            continue
        for path in matches:
            relative = path.relative_to(root).as_posix()
            if relative == CONFIG_FILE or any(part.startswith(".") for part in Path(relative).parts):
                continue
            if relative in found or relative in problems:
                continue
            if path.is_dir() and not path.name.lower().endswith((".yaml", ".yml")):
                continue  # a folder a pattern such as `specs/*` lists: not a file anybody meant
            problem = file_problem(path, root)
            if problem is None:
                found[relative] = path
            else:
                problems[relative] = (problem, index)
        unmatched = len(found) + len(problems) == before and pattern not in DEFAULT_SPEC_FILES
        if written is not None and diags is not None and unmatched:
            diags.warning(
                f'spec_files: pattern "{excerpt(pattern, quote=True)}" matches no file',
                _pattern_at(written, index, config_name, ""),
                detail="a renamed folder or a typo leaves its items out of the spec, and plan would propose "
                "deleting the mappings it declared",
            )
    if diags is not None:
        for relative, (problem, index) in sorted(problems.items()):
            shown = display_path(display_root, relative)
            matched = f'matched by spec_files pattern "{excerpt(patterns[index], quote=True)}"'
            detail = OUTSIDE_DETAIL if problem == OUTSIDE else "nothing was read from it"
            diags.error(
                f'spec file "{excerpt(relative, quote=True)}" {problem}',
                _pattern_at(written, index, config_name, shown),
                detail=f"{matched}; {detail}",
            )
    return [SpecPath(found[rel], display_path(display_root, rel)) for rel in sorted(found)]


def _pattern_at(written: Loc | None, index: int, config_name: str, shown: str) -> SourceRange:
    """The spec_files pattern as written in the config; the file itself when the default patterns found it."""
    item = written.value_of(index) if written is not None else None
    if item is not None:
        return item.range(config_name)
    return SourceRange.at(shown or config_name, 1)


def _check_config(
    config: WorkspaceConfig, doc: YamlDocument, root: Path, display_root: str, diags: Diagnostics
) -> EmulatorConnection | None:
    filename = display_path(display_root, CONFIG_FILE)
    loc = doc.loc
    raw: dict[str, Any] = doc.value
    for role in ("source", "target"):
        tenant: TenantConfig = getattr(config, role)
        credential = tenant.credentials
        if isinstance(credential, ClientSecretCredential) and (
            (credential.client_secret_env is None) == (credential.client_secret_file is None)
        ):
            diags.error(
                f"{role}.credentials: give exactly one of client_secret_env and client_secret_file",
                _at(loc, filename, role, "credentials"),
            )
        if credential is None and config.emulator is None:
            diags.error(
                f"{role}.credentials is required",
                _at(loc, filename, role),
                detail="name a client secret, certificate, managed identity or device code, or use `emulator:`",
            )
        if credential is not None and credential.type == "emulator" and config.emulator is None:
            diags.error(
                f"{role}.credentials: type emulator needs an `emulator:` section with its connection file",
                _at(loc, filename, role, "credentials", "type"),
            )
    if "graph" in raw and config.emulator is not None:
        diags.error(
            "graph: endpoints come from the emulator connection file",
            _at(loc, filename, "graph"),
            detail="remove either graph: or emulator:",
        )
    for name in ("graph_base_url", "authority_base_url"):
        url = getattr(config.graph, name)
        if urlsplit(url).scheme == "http" and not is_loopback(urlsplit(url).hostname or ""):
            diags.error(
                f"graph.{name}: http is allowed only for loopback addresses",
                _at(loc, filename, "graph", name),
                detail="use https://",
            )
    _check_state(config, loc, filename, diags)
    if config.emulator is None:
        return None
    path = Path(config.emulator.connection_file)
    real = path if path.is_absolute() else root / path
    if not real.is_file():
        missing = [
            f"{role}.{name}"
            for role in ("source", "target")
            for name in ("tenant_id", "domain")
            if getattr(getattr(config, role), name) is None
        ]
        if missing:
            diags.warning(
                f"emulator connection file {config.emulator.connection_file} does not exist yet",
                _at(loc, filename, "emulator", "connection_file"),
                detail=f"{', '.join(missing)} will come from it; checks that need them were skipped",
            )
        return None
    display = display_path(display_root, path.as_posix()) if not path.is_absolute() else str(path)
    return read_emulator_connection(real, display, diags)


def _facts(
    role: str,
    tenant: TenantConfig,
    emulator: EmulatorConnection | None,
    uses_emulator: bool,
    loc: Loc,
    filename: str,
    diags: Diagnostics,
) -> TenantFacts:
    side = getattr(emulator.tenants, role) if emulator is not None else None
    tenant_id, domain, name = tenant.tenant_id, tenant.domain, tenant.name
    if side is not None:
        for field_name, ours, theirs in (("tenant_id", tenant_id, side.tenant_id), ("domain", domain, side.domain)):
            if ours is not None and ours.lower() != theirs.lower():
                diags.error(
                    f"{role}.{field_name} {ours} differs from the emulator connection file's {theirs}",
                    _at(loc, filename, role, field_name),
                )
        tenant_id, domain, name = tenant_id or side.tenant_id, domain or side.domain, name or side.name
    elif not uses_emulator:
        for field_name, value in (("tenant_id", tenant_id), ("domain", domain)):
            if value is None:
                diags.error(f"{role}.{field_name} is required", _at(loc, filename, role))
    hosts: tuple[str, ...] | None = tuple(h.rstrip("/") for h in tenant.hosts) if tenant.hosts else None
    if hosts is None and domain is not None:
        label, _, rest = domain.lower().partition(".")
        if rest == "onmicrosoft.com":
            hosts = (f"https://{label}.sharepoint.com", f"https://{label}-my.sharepoint.com")
        else:
            diags.error(
                f"{role}.hosts is required when the domain is not LABEL.onmicrosoft.com",
                _at(loc, filename, role, "domain"),
                detail="list the tenant's SharePoint hosts, e.g. https://contoso.sharepoint.com",
            )
    return TenantFacts(
        role,
        name,
        tenant_id.lower() if tenant_id else None,
        domain,
        hosts,
        tenant.data_location,
        tenant_domains(domain, tenant.domains, hosts),
    )


def _check_tenants_differ(
    source: TenantFacts, target: TenantFacts, loc: Loc, filename: str, diags: Diagnostics
) -> None:
    if source.tenant_id is not None and source.tenant_id == target.tenant_id:
        diags.error(
            "source and target are the same tenant",
            _at(loc, filename, "target", "tenant_id"),
            detail=f"both are {source.tenant_id}; a cross-tenant migration needs two tenants",
        )
    elif source.domain is not None and target.domain is not None and source.domain.lower() == target.domain.lower():
        diags.error(
            "source and target are the same tenant",
            _at(loc, filename, "target", "domain"),
            detail=f"both are {source.domain}; a cross-tenant migration needs two tenants",
        )
    elif source.domains is not None and target.domains is not None:
        shared = [d for d in target.domains if d in source.domains]
        if shared:
            # A domain is verified in one tenant only; listing it on both sides would let a UPN of the
            # wrong tenant pass the domain check.
            diags.error(
                f"{', '.join(shared)} cannot be a domain of both tenants",
                _at(
                    loc,
                    filename,
                    *_first_written(loc, ("target", "domains"), ("source", "domains"), ("target", "domain")),
                ),
                detail="a domain belongs to one tenant; remove it from source.domains or target.domains",
            )


def _context(config: WorkspaceConfig | None, source: TenantFacts | None, target: TenantFacts | None) -> SpecContext:
    if config is None or source is None or target is None:
        return SpecContext()
    d = config.defaults
    return SpecContext(
        source_tenant_id=source.tenant_id,
        source_hosts=source.hosts,
        target_hosts=target.hosts,
        source_domains=source.domains,
        target_domains=target.domains,
        user_type=d.user_type,
        group_type=d.group_type,
        validate_only=d.validate_only,
        protect=d.protect,
        target_data_location=target.data_location,
    )


def _check_state(config: WorkspaceConfig, loc: Loc, filename: str, diags: Diagnostics) -> None:
    state = config.state
    if not isinstance(state, AzureBlobStateConfig):
        return
    if state.account_url is None and state.auth.type != "connection_string":
        diags.error(
            "state.account_url is required",
            _at(loc, filename, "state"),
            detail="e.g. https://ACCOUNT.blob.core.windows.net (only a connection string carries its own endpoint)",
        )
    if state.account_url is not None and state.auth.type == "connection_string":
        diags.error(
            "state.account_url: the endpoint comes from the connection string",
            _at(loc, filename, "state", "account_url"),
            detail="remove account_url, or use auth type sas_token or azure_ad",
        )
    url = urlsplit(state.account_url or "")
    if url.scheme == "http" and not is_loopback(url.hostname or ""):
        diags.error(
            "state.account_url: http is allowed only for loopback addresses (Azurite)",
            _at(loc, filename, "state", "account_url"),
            detail="use https://",
        )


def _at(loc: Loc, filename: str, *path: str) -> SourceRange:
    """The deepest written part of ``path`` in the config (a default that was not written points at its parent)."""
    current = loc
    for part in path:
        child = current.value_of(part)
        if child is None:
            key = current.key_of(part)
            return (key or current).range(filename)
        current = child
    return current.range(filename)


def _first_written(loc: Loc, *paths: tuple[str, str]) -> tuple[str, str]:
    for section, name in paths:
        part = loc.value_of(section)
        if part is not None and part.value_of(name) is not None:
            return section, name
    return paths[-1]
