"""The Graph layer: auth, transport, batching, operations and the typed wire models.

Raw Graph JSON becomes models here and nowhere else. Plan and apply talk to Graph only through
``GraphClient``; the same code serves graph.microsoft.com and the bundled emulator.
"""

from reconciler.graph.client import GraphClient
from reconciler.graph.config import GraphSettings, TenantConnection
from reconciler.graph.errors import GraphError

__all__ = ["GraphClient", "GraphError", "GraphSettings", "TenantConnection"]
