"""What refresh reads: a plan that may delete a mapping reads every migration in flight, selected or not."""

from __future__ import annotations

from reconciler.operations.plan import refresh_request
from reconciler.plan.planner import Selection
from tests.plan import cases

STATE = {
    "resources": {
        'user_mapping["gone@contoso.com"]': {"kind": "user_mapping", "key": "gone@contoso.com"},
        'user_mapping["kept@contoso.com"]': {"kind": "user_mapping", "key": "kept@contoso.com"},
        'site_migration["https://contoso.sharepoint.com/sites/a"]': {
            "kind": "site_migration",
            "key": "https://contoso.sharepoint.com/sites/a",
            "task_id": "t-a",
        },
    }
}
DESIRED = {
    "user_mappings": [{"source_upn": "kept@contoso.com", "target_upn": "kept@fabrikam.com"}],
    "site_migrations": [
        {
            "source_url": "https://contoso.sharepoint.com/sites/a",
            "target_url": "https://fabrikam.sharepoint.com/sites/a",
        }
    ],
}


def test_a_selected_deletion_reads_every_managed_task_and_the_users_own_onedrive_task() -> None:
    request = refresh_request(
        cases.desired(DESIRED), cases.state(STATE), Selection(('user_mapping["gone@contoso.com"]',))
    )
    assert request.user_mappings == ["gone@contoso.com"]
    assert request.tasks == [
        ("user", "gone@contoso.com", None),  # the user's own OneDrive move, managed or not
        ("site", "https://contoso.sharepoint.com/sites/a", "t-a"),  # managed, though not selected
    ]


def test_without_a_possible_deletion_the_selection_alone_decides() -> None:
    request = refresh_request(
        cases.desired(DESIRED), cases.state(STATE), Selection(('user_mapping["kept@contoso.com"]',))
    )
    assert request.user_mappings == ["kept@contoso.com"]
    assert request.tasks == []


def test_an_unselected_deletion_adds_nothing() -> None:
    request = refresh_request(cases.desired(DESIRED), cases.state(STATE), Selection(("site_migration[*]",)))
    assert request.user_mappings == []
    assert request.tasks == [("site", "https://contoso.sharepoint.com/sites/a", "t-a")]


def _site(name: str, wave: str) -> dict[str, str]:
    return {
        "source_url": f"https://contoso.sharepoint.com/sites/{name}",
        "target_url": f"https://fabrikam.sharepoint.com/sites/{name}",
        "wave": wave,
    }


def test_a_selected_migration_reads_its_gates_waves_and_every_managed_task() -> None:
    desired = {
        "waves": [{"name": "pilot"}, {"name": "wave2", "after": ["pilot"]}, {"name": "other"}],
        "site_migrations": [_site("p1", "pilot"), _site("w1", "wave2"), _site("o1", "other")],
    }
    state = {
        "resources": {
            'site_migration["https://contoso.sharepoint.com/sites/o1"]': {
                "kind": "site_migration",
                "key": "https://contoso.sharepoint.com/sites/o1",
                "task_id": "t-o1",
            }
        }
    }
    request = refresh_request(
        cases.desired(desired),
        cases.state(state),
        Selection(('site_migration["https://contoso.sharepoint.com/sites/w1"]',)),
    )
    assert request.tasks == [
        ("site", "https://contoso.sharepoint.com/sites/o1", "t-o1"),  # managed: counts toward max_in_flight
        ("site", "https://contoso.sharepoint.com/sites/p1", None),  # the pilot wave its gate is judged by
        ("site", "https://contoso.sharepoint.com/sites/w1", None),  # selected
    ]
