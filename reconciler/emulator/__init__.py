"""A faithful local stand-in for Microsoft Graph's cross-tenant migration API and Entra ID.

The emulator is the other side of the wire: it imports nothing from the rest of ``reconciler``
and the reconciler meets it only over HTTP. See ``specs/graph/behaviour.md`` for the decisions
taken where the Graph documentation is silent.
"""

from reconciler.emulator.app import EmulatorApp
from reconciler.emulator.server import EmulatorServer, ServeOptions

__all__ = ["EmulatorApp", "EmulatorServer", "ServeOptions"]
