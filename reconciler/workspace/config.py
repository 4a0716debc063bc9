"""The model of ``reconciler.yaml``: tenants, credentials by reference, endpoints, state backend, defaults.

Secrets never appear in this file. Credentials name where a secret lives (an environment variable, a
file, a certificate and its password's environment variable, the file of a federated token), or say
"managed identity" / "device code", or come from an emulator connection file. Field order is the
canonical order ``fmt`` writes.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from reconciler.spec.fields import (
    DataLocation,
    Domain,
    EndpointUrl,
    EnvVarName,
    GroupTypeValue,
    Guid,
    HttpsUrl,
    NonEmptyText,
    UserTypeValue,
)

CONFIG_FILE = "reconciler.yaml"
DEFAULT_STATE_PATH = ".reconciler/state.json"
DEFAULT_SPEC_FILES = ("**/*.yaml", "**/*.yml")
GRAPH_BASE_URL = "https://graph.microsoft.com/beta"
AUTHORITY_BASE_URL = "https://login.microsoftonline.com"
DEFAULT_MAX_IN_FLIGHT = 4000

# Shown instead of a did-you-mean when someone tries to put a secret value in the config.
_SECRET_HINT = (
    "secrets are never written in reconciler.yaml; name an environment variable (client_secret_env) "
    "or a file (client_secret_file) instead"
)
SECRET_HINTS = dict.fromkeys(
    ("client_secret", "secret", "password", "certificate_password", "token", "access_token"), _SECRET_HINT
)


class ConfigModel(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class ClientSecretCredential(ConfigModel):
    """An app registration's client secret, read at run time from an environment variable or a file."""

    type: Literal["client_secret"]
    client_id: Guid
    client_secret_env: EnvVarName | None = Field(None, description="Environment variable holding the secret.")
    client_secret_file: NonEmptyText | None = Field(None, description="File holding the secret (keep it 0600).")


class CertificateCredential(ConfigModel):
    """An app registration's certificate: a PEM file with the private key and the certificate."""

    type: Literal["certificate"]
    client_id: Guid
    certificate_path: NonEmptyText
    certificate_password_env: EnvVarName | None = Field(
        None, description="Environment variable holding the private key's password, if it has one."
    )


class ManagedIdentityCredential(ConfigModel):
    """An Azure managed identity: system-assigned, or user-assigned with its client id."""

    type: Literal["managed_identity"]
    client_id: Guid | None = None


class WorkloadIdentityCredential(ConfigModel):
    """Workload identity federation: an OIDC token of the CI system (GitHub Actions, Azure DevOps, AKS) is
    exchanged for a Graph token; the app registration trusts that issuer and subject. No secret anywhere."""

    type: Literal["workload_identity"]
    client_id: Guid
    token_file_env: EnvVarName = Field(
        "AZURE_FEDERATED_TOKEN_FILE",
        description="Environment variable naming the file that holds the external token (audience "
        "api://AzureADTokenExchange); the file is read again on every token request.",
    )


class DeviceCodeCredential(ConfigModel):
    """Delegated sign-in with a device code (interactive use)."""

    type: Literal["device_code"]
    client_id: Guid


class EmulatorCredential(ConfigModel):
    """Client id and secret from the emulator connection file named under ``emulator:``."""

    type: Literal["emulator"]


Credentials = Annotated[
    ClientSecretCredential
    | CertificateCredential
    | ManagedIdentityCredential
    | WorkloadIdentityCredential
    | DeviceCodeCredential
    | EmulatorCredential,
    Field(discriminator="type"),
]


class TenantConfig(ConfigModel):
    """One side of the migration."""

    name: NonEmptyText | None = Field(None, description="A label for people, e.g. contoso.")
    tenant_id: Guid | None = Field(None, description="Entra tenant id; may come from the emulator connection file.")
    domain: Domain | None = Field(
        None, description="Initial domain, e.g. contoso.onmicrosoft.com; may come from the emulator connection file."
    )
    domains: list[Domain] | None = Field(
        None,
        description="The tenant's other domains (verified custom domains, subdomains) its users' UPNs and emails may "
        "use; with `domain` and LABEL.onmicrosoft.com of each https://LABEL.sharepoint.com host, what the domain "
        "check accepts.",
    )
    hosts: list[HttpsUrl] | None = Field(
        None,
        description="SharePoint hosts; default https://LABEL.sharepoint.com and https://LABEL-my.sharepoint.com "
        "for a LABEL.onmicrosoft.com domain.",
    )
    data_location: DataLocation | None = Field(
        None,
        description="Geo (data location code) for a multi-geo tenant; on the target, the default "
        "targetDataLocationCode of migrations.",
    )
    credentials: Credentials | None = Field(
        None, description="How to sign in to this tenant (default with `emulator:`: the emulator's app)."
    )


class GraphConfig(ConfigModel):
    """Endpoints; the defaults are Microsoft's global cloud."""

    graph_base_url: EndpointUrl = GRAPH_BASE_URL
    authority_base_url: EndpointUrl = AUTHORITY_BASE_URL
    ca_bundle: NonEmptyText | None = Field(None, description="PEM bundle to trust instead of the system's.")


class EmulatorConfig(ConfigModel):
    """Use a running ``reconciler emulator serve``: its connection file fills endpoints, CA and apps."""

    connection_file: NonEmptyText = Field(description="Path of the file `emulator serve --connection-file` writes.")


class LocalStateConfig(ConfigModel):
    """State in a local JSON file (mode 0600), locked by a lock file beside it. For one person or one runner."""

    backend: Literal["local"] = "local"
    path: NonEmptyText = DEFAULT_STATE_PATH


class BlobConnectionStringAuth(ConfigModel):
    """The storage account's connection string, read at run time from an environment variable."""

    type: Literal["connection_string"]
    connection_string_env: EnvVarName = "AZURE_STORAGE_CONNECTION_STRING"


class BlobSasTokenAuth(ConfigModel):
    """A SAS token for the container (read, add, create, write), read at run time from an environment variable."""

    type: Literal["sas_token"]
    sas_token_env: EnvVarName = "AZURE_STORAGE_SAS_TOKEN"


class BlobAzureAdAuth(ConfigModel):
    """Microsoft Entra ID through ``DefaultAzureCredential``: workload identity federation, managed identity,
    environment variables, or ``az login``. Needs the role Storage Blob Data Contributor on the container."""

    type: Literal["azure_ad"]
    managed_identity_client_id: Guid | None = Field(
        None, description="Client id of a user-assigned managed identity to use."
    )


BlobAuth = Annotated[BlobConnectionStringAuth | BlobSasTokenAuth | BlobAzureAdAuth, Field(discriminator="type")]


class AzureBlobStateConfig(ConfigModel):
    """State in one Azure Storage blob, locked by a blob lease; writes are conditional on the blob's ETag.
    For teams and CI: every run of every pipeline sees the same state and waits for the same lock."""

    backend: Literal["azure_blob"]
    account_url: EndpointUrl | None = Field(
        None,
        description="Blob endpoint, e.g. https://ACCOUNT.blob.core.windows.net; not needed with a connection string.",
    )
    container: NonEmptyText = Field(description="An existing container, e.g. reconciler-state.")
    blob: NonEmptyText = Field("reconciler.state.json", description="The state blob's name; one per workspace.")
    auth: BlobAuth = Field(default_factory=lambda: BlobAzureAdAuth(type="azure_ad"))
    lease_seconds: int = Field(
        60,
        ge=15,
        le=60,
        description="Length of the lock's lease; renewed while a run holds it, so a crashed run's lock lapses "
        "after at most this long.",
    )


# `backend` may be left out for the local file (what every workspace had before there was a choice).
StateConfig = Annotated[LocalStateConfig | AzureBlobStateConfig, Field(discriminator="backend")]


class DefaultsConfig(ConfigModel):
    """Values items get when they do not say."""

    user_type: UserTypeValue = Field(default="regularUser", validate_default=True)
    group_type: GroupTypeValue = Field(default="m365Group", validate_default=True)
    validate_only: bool = False
    protect: bool = False


_DURATION = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")


def duration_problem(text: str) -> str | None:
    """Why ``text`` is not a duration ``parse_duration`` reads, or None."""
    found = _DURATION.fullmatch(text.strip().lower())
    if not text.strip() or found is None or not any(found.groups()):
        return f"{text!r} is not a duration such as 24h, 2d, 90m or 1h30m"
    if not any(int(g or 0) for g in found.groups()):
        return f"{text!r} is not a positive duration"
    return None


def parse_duration(text: str) -> timedelta:
    """``24h``, ``2d``, ``90m``, ``1h30m``, ``45s`` (at least one part, positive); ValueError otherwise."""
    found = _DURATION.fullmatch(text.strip().lower())
    problem = duration_problem(text)
    if problem or found is None:
        raise ValueError(problem)
    days, hours, minutes, seconds = (int(g or 0) for g in found.groups())
    return timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)


class StatusConfig(ConfigModel):
    """How ``reconciler status`` judges the migrations."""

    stuck_after: NonEmptyText = Field(
        "24h",
        description="An in-progress migration with no update for longer than this is stuck: 24h, 2d, 90m, 1h30m.",
    )

    @field_validator("stuck_after")
    @classmethod
    def _duration(cls, value: str) -> str:
        parse_duration(value)
        return value


class WorkspaceConfig(ConfigModel):
    """``reconciler.yaml``."""

    version: Literal[1] = Field(1, description="Format version of this file.")
    source: TenantConfig = Field(description="The tenant content moves from (migration tasks live here).")
    target: TenantConfig = Field(description="The tenant content moves to (identity mappings live here).")
    emulator: EmulatorConfig | None = None
    graph: GraphConfig = Field(default_factory=GraphConfig)
    state: StateConfig = Field(default_factory=LocalStateConfig)
    defaults: DefaultsConfig = Field(default_factory=DefaultsConfig)
    max_in_flight: int = Field(
        DEFAULT_MAX_IN_FLIGHT,
        ge=1,
        le=1_000_000,
        description="At most this many of the workspace's migrations queued or in progress at once; further "
        "starts wait for a later plan (Microsoft's guidance: up to 4,000 queued moves).",
    )
    status: StatusConfig = Field(default_factory=StatusConfig)
    spec_files: list[NonEmptyText] = Field(
        default_factory=lambda: list(DEFAULT_SPEC_FILES),
        description="Glob patterns (relative to the workspace) of spec files; reconciler.yaml and hidden "
        "folders are never spec files.",
    )

    @field_validator("version", mode="before")
    @classmethod
    def _not_a_boolean(cls, value: object) -> object:
        # YAML's `true` equals 1 in Python, and Literal[1] would take it.
        return str(value).lower() if isinstance(value, bool) else value

    @field_validator("state", mode="before")
    @classmethod
    def _local_by_default(cls, value: object) -> object:
        if isinstance(value, dict) and "backend" not in value:
            return {"backend": "local", **value}
        return value
