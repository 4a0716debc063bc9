"""``reconciler init``: a commented starter workspace that validates clean and plans against the emulator.

It targets the emulator's default world (contoso -> fabrikam) so a newcomer can try the whole flow
at once; the comments show what to change for real tenants. The JSON Schemas are written beside it
(``.schema/``) so editors complete and check the files without network access.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from reconciler import DOCS_URL
from reconciler.atomic import atomic_write_text
from reconciler.spec.schema import SPEC_SCHEMA_FILE
from reconciler.workspace.schema import CONFIG_SCHEMA_FILE, schema_files

SCHEMA_DIR = ".schema"

CONFIG = f"""\
# yaml-language-server: $schema={SCHEMA_DIR}/{CONFIG_SCHEMA_FILE}
#
# Workspace configuration. Secrets are never written here: credentials name an environment variable,
# a file or a certificate, or use a managed identity or a device code.
#
# As written, this workspace moves content in the emulator's default world from contoso to fabrikam:
#   reconciler emulator serve --connection-file .reconciler/emulator.json
# (run in this folder); the connection file fills endpoints, the CA bundle and both tenants' apps.
version: 1
source:
  name: contoso
  tenant_id: 79d49731-4eec-55d9-bcd4-6d55505b7f2c
  domain: contoso.onmicrosoft.com
  # hosts default to https://LABEL.sharepoint.com and https://LABEL-my.sharepoint.com; list them for a
  # vanity domain:
  # hosts:
  #   - https://contoso.sharepoint.com
  #   - https://contoso-my.sharepoint.com
  # For a real tenant, remove `emulator:` below and say how to sign in, e.g.:
  # credentials:
  #   type: client_secret
  #   client_id: 00000000-0000-0000-0000-000000000000
  #   client_secret_env: CONTOSO_CLIENT_SECRET
  # or
  #   type: certificate
  #   client_id: 00000000-0000-0000-0000-000000000000
  #   certificate_path: certs/contoso.pem
  #   certificate_password_env: CONTOSO_CERT_PASSWORD
  # or
  #   type: managed_identity
  # or (CI without secrets: GitHub Actions / Azure DevOps OIDC, see {DOCS_URL}/docs/workspace.md)
  #   type: workload_identity
  #   client_id: 00000000-0000-0000-0000-000000000000
  #   token_file_env: AZURE_FEDERATED_TOKEN_FILE
target:
  name: fabrikam
  tenant_id: 209a1d2e-6cb2-5501-a039-58b1392b7c3d
  domain: fabrikam.onmicrosoft.com
  # UPNs and emails must be in the tenant's domains; list its other (custom) domains, e.g.:
  # domains: [fabrikam.com]
  # data_location: NAM # the target geo of a multi-geo tenant
emulator:
  connection_file: .reconciler/emulator.json
state:
  backend: local
  path: .reconciler/state.json
defaults:
  user_type: regularUser
  group_type: m365Group
  validate_only: false
  protect: false
"""

MAPPINGS = f"""\
# yaml-language-server: $schema={SCHEMA_DIR}/{SPEC_SCHEMA_FILE}
#
# Identity mappings, written to the target tenant. Keep thousands of them in the SharePoint cmdlet
# identity-map CSV instead (rows User,SourceTenantCompanyID,SourceUserUpn,TargetUserUpn,TargetUserEmail,UserType
# and Group,SourceTenantCompanyID,SourceGroupObjectID,TargetGroupObjectID,GroupName,GroupType):
# csv_files:
#   - path: identity-map.csv
#     format: identity_map
user_mappings:
  - source_upn: user001@contoso.onmicrosoft.com
    target_upn: user001@fabrikam.onmicrosoft.com
    target_email: user001@fabrikam.onmicrosoft.com
  - source_upn: user002@contoso.onmicrosoft.com
    target_upn: user002@fabrikam.onmicrosoft.com
    target_email: user002@fabrikam.onmicrosoft.com
group_mappings:
  - source_group_id: 54cf901d-34e3-5a82-9200-09f75df0d2db # contoso group01
    target_group_id: fae36d75-12cf-505a-946e-01485529decd # fabrikam group01
    target_mail_nickname: group01
"""

MIGRATIONS = f"""\
# yaml-language-server: $schema={SCHEMA_DIR}/{SPEC_SCHEMA_FILE}
#
# Migrations run in the source tenant. Removing one from this file stops tracking it; it is cancelled
# only when it says `state: cancelled` (and only before it starts). `protect: true` keeps it from ever
# being cancelled by this tool.
waves:
  - name: pilot
    description: The first few OneDrives
    # preferred_start: 2030-03-01T18:00:00Z # not before this
    # latest_start: 2030-03-02T06:00:00Z # the service cancels moves not started by then
user_migrations:
  - source_upn: user001@contoso.onmicrosoft.com
    wave: pilot
  - source_upn: user002@contoso.onmicrosoft.com
    wave: pilot
    validate_only: true # check the move without running it
site_migrations:
  - source_url: https://contoso.sharepoint.com/sites/site01
    target_url: https://fabrikam.sharepoint.com/sites/site01
    wave: pilot
group_migrations:
  - source_mail_nickname: group01
    target_mail_nickname: group01
    wave: pilot
"""

GITIGNORE = """\
# State, locks and the emulator's connection file (it holds secrets) stay out of Git.
.reconciler/
"""

STARTER_FILES = {
    "reconciler.yaml": CONFIG,
    "mappings.yaml": MAPPINGS,
    "migrations.yaml": MIGRATIONS,
    ".gitignore": GITIGNORE,
}


@dataclass
class InitResult:
    written: list[str] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)  # files that would have been overwritten


def init_workspace(directory: Path, *, force: bool = False) -> InitResult:
    """Write the starter files; without ``force`` nothing is written if any of them exists."""
    files = dict(STARTER_FILES)
    files.update({f"{SCHEMA_DIR}/{name}": text for name, text in schema_files().items()})
    result = InitResult()
    if not force:
        result.existing = [name for name in files if (directory / name).exists()]
        if result.existing:
            return result
    for name, text in files.items():
        atomic_write_text(directory / name, text)
        result.written.append(name)
    return result
