"""The emulator connection file (``reconciler emulator serve --connection-file``): model and reading.

It holds client secrets, so diagnostics about it never quote its values.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict

from reconciler.spec.diagnostics import Diagnostics
from reconciler.spec.fields import Domain, EndpointUrl, Guid
from reconciler.spec.model_errors import validate_model, yaml_locator
from reconciler.spec.yamlsource import load_yaml, read_text


class _Model(BaseModel):
    # The emulator may add keys in later versions; read what we need and ignore the rest.
    model_config = ConfigDict(extra="ignore", frozen=True)


class EmulatorTenant(_Model):
    name: str
    tenant_id: Guid
    domain: Domain
    client_id: Guid
    client_secret: str

    def __repr__(self) -> str:  # never show the secret
        return f"EmulatorTenant(name={self.name!r}, tenant_id={self.tenant_id!r}, domain={self.domain!r})"

    __str__ = __repr__


class EmulatorTenants(_Model):
    source: EmulatorTenant
    target: EmulatorTenant


class EmulatorConnection(_Model):
    graph_base_url: EndpointUrl
    authority_base_url: EndpointUrl
    ca_file: str
    control_url: EndpointUrl | None = None
    tenants: EmulatorTenants


def read_emulator_connection(path: Path, display: str, diags: Diagnostics) -> EmulatorConnection | None:
    """The parsed file, or None with (value-free) diagnostics. JSON is read as YAML to keep line numbers."""
    text = read_text(path, display, diags)
    if text is None:
        return None
    doc = load_yaml(text, display, diags)
    if doc is None:
        return None
    return validate_model(
        EmulatorConnection, doc.value, yaml_locator(doc.loc, display), diags, strict=True, redact=True
    )
