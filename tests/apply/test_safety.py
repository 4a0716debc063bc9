"""The destroy threshold: more than 10% deletes or cancels of what the workspace manages needs --allow-destroy."""

from __future__ import annotations

import pytest

from reconciler.operations.apply import ApplyRefused, destroy_check
from reconciler.plan.model import Action, Change, Plan


def _plan(deletes: int, cancels: int = 0) -> Plan:
    changes = [
        Change(f'user_mapping["u{i}@c.com"]', "user_mapping", f"u{i}@c.com", Action.DELETE, "r") for i in range(deletes)
    ]
    changes += [
        Change(f'user_migration["m{i}@c.com"]', "user_migration", f"m{i}@c.com", Action.CANCEL, "r")
        for i in range(cancels)
    ]
    return Plan(changes)


def test_small_shares_pass() -> None:
    destroy_check(_plan(1), managed=5, allow=False)
    destroy_check(_plan(10), managed=100, allow=False)


def test_large_shares_are_refused_unless_allowed() -> None:
    with pytest.raises(ApplyRefused, match=r"11 of the 100 .*--allow-destroy"):
        destroy_check(_plan(6, 5), managed=100, allow=False)
    destroy_check(_plan(6, 5), managed=100, allow=True)
    with pytest.raises(ApplyRefused):
        destroy_check(_plan(2), managed=5, allow=False)
