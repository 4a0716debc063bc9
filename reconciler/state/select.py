"""The state backend a workspace's ``reconciler.yaml`` selects (local file by default, or an Azure blob)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from reconciler.extras import needs
from reconciler.state.backend import StateBackend
from reconciler.state.local import LocalBackend
from reconciler.workspace.config import AzureBlobStateConfig

if TYPE_CHECKING:
    from reconciler.workspace.loader import Workspace


def open_backend(ws: Workspace, **client_options: Any) -> StateBackend:
    """A fresh backend instance for one run (it remembers the version it read and the lock it holds).

    ``client_options`` go to a remote backend's SDK client (retries, timeouts); the local file has none."""
    config = ws.config.state if ws.config is not None else None
    if isinstance(config, AzureBlobStateConfig):
        # Imported here: the Azure SDK is slow to import, most runs use the local file, and it is an extra.
        with needs("azure"):
            from reconciler.state.azure_blob import AzureBlobBackend, client_from_config

            return AzureBlobBackend(client_from_config(config, **client_options), config.lease_seconds)
    return LocalBackend(ws.state_path)
