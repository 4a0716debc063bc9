"""State: what this workspace manages (addresses, task ids, last applied values, protection)."""

from reconciler.state.model import FORMAT_VERSION, ResourceState, State, StateError

__all__ = ["FORMAT_VERSION", "ResourceState", "State", "StateError"]
