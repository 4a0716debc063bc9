"""The planner's warnings about unmanaged objects that conflict with the spec (pure: no emulator)."""

from __future__ import annotations

from typing import Any

from reconciler.kinds import GROUP_MAPPING, GROUP_MIGRATION, SITE_MIGRATION, USER_MAPPING
from reconciler.observed import Listing
from reconciler.plan.planner import PlanContext, Selection, plan
from reconciler.spec.desired import address
from reconciler.state.model import ResourceState, State
from tests.plan import cases

GID = "33333333-3333-3333-3333-333333333333"
OTHER_GID = "44444444-4444-4444-4444-444444444444"
TARGET_GID = "55555555-5555-5555-5555-555555555555"
SPEC: dict[str, Any] = {
    "user_mappings": [{"source_upn": "a@contoso.com", "target_upn": "a@fabrikam.com"}],
    "group_mappings": [{"source_group_id": GID, "target_group_id": TARGET_GID, "target_mail_nickname": "g"}],
    "site_migrations": [
        {
            "source_url": "https://contoso.sharepoint.com/sites/one",
            "target_url": "https://fabrikam.sharepoint.com/sites/one",
        }
    ],
    "group_migrations": [{"source_mail_nickname": "sales", "target_mail_nickname": "sales"}],
}
LIVE: dict[str, Any] = {
    "user_mappings": [
        {"key": "b@contoso.com", "target_upn": "a@fabrikam.com"},  # another source, the spec's target
        {"key": "c@contoso.com", "target_upn": "c@fabrikam.com"},  # no conflict
    ],
    "group_mappings": [{"key": OTHER_GID, "target_group_id": TARGET_GID}],
    "tasks": [
        {"kind": "site", "key": "https://contoso.sharepoint.com/sites/two", "id": "t2", "status": "inProgress",
         "target": "https://fabrikam.sharepoint.com/sites/one"},
        {"kind": "site", "key": "https://contoso.sharepoint.com/sites/three", "id": "t3", "status": "failed",
         "target": "https://fabrikam.sharepoint.com/sites/one"},  # failed: it moved nothing
        {"kind": "group", "key": "sales", "id": "t4", "status": "completed", "target": "elsewhere"},
    ],
}  # fmt: skip


def _listing(*, mappings: bool = True, tasks: bool = True) -> Listing:
    live = cases.observed(LIVE)
    return Listing(live.user_mappings, live.group_mappings, list(live.tasks.values()), mappings, tasks)


def _warnings(state: State | None = None, listing: Listing | None = None, **select: Any) -> set[tuple[str, str]]:
    observed = cases.observed({})
    observed.listing = listing if listing is not None else _listing()
    ctx = PlanContext(source_tenant_id=cases.SOURCE, target_tenant_id=cases.TARGET)
    result = plan(cases.desired(SPEC), observed, state or State(), ctx, Selection(**select))
    return {(d.address or "", d.summary) for d in result.diagnostics if d.severity == "warning"}


def test_each_kind_of_conflict_is_a_warning_on_the_spec_address() -> None:
    assert _warnings() == {
        (
            address(USER_MAPPING, "a@contoso.com"),
            "An unmanaged mapping for b@contoso.com names the same target, a@fabrikam.com",
        ),
        (
            address(GROUP_MAPPING, GID),
            f"An unmanaged mapping for {OTHER_GID} names the same target, {TARGET_GID}",
        ),
        (
            address(SITE_MIGRATION, "https://contoso.sharepoint.com/sites/one"),
            "An unmanaged inProgress task (t2) for https://contoso.sharepoint.com/sites/two moves to the same "
            "target, https://fabrikam.sharepoint.com/sites/one",
        ),
        (
            address(GROUP_MIGRATION, "sales"),
            "An unmanaged completed task (t4) moves this source to elsewhere, not to sales",
        ),
    }


def test_a_mapping_for_a_source_the_spec_maps_elsewhere_is_named() -> None:
    listing = _listing(tasks=False)
    listing.user_mappings = {**listing.user_mappings, **cases.observed(
        {"user_mappings": [{"key": "a@contoso.com", "target_upn": "z@fabrikam.com"}]}
    ).user_mappings}  # fmt: skip
    assert (
        address(USER_MAPPING, "a@contoso.com"),
        "An unmanaged mapping in the target tenant maps this source to z@fabrikam.com, not to a@fabrikam.com",
    ) in _warnings(listing=listing)


def test_managed_objects_unlisted_tenants_and_unselected_addresses_give_no_warning() -> None:
    managed = State(
        resources={
            address(USER_MAPPING, "b@contoso.com"): ResourceState(USER_MAPPING, "b@contoso.com"),
            address(GROUP_MAPPING, OTHER_GID): ResourceState(GROUP_MAPPING, OTHER_GID),
            address(SITE_MIGRATION, "https://contoso.sharepoint.com/sites/two"): ResourceState(
                SITE_MIGRATION, "https://contoso.sharepoint.com/sites/two"
            ),
            address(GROUP_MIGRATION, "sales"): ResourceState(GROUP_MIGRATION, "sales"),
        }
    )
    assert not {w for w in _warnings(managed) if "unmanaged" in w[1]}
    assert not _warnings(listing=_listing(mappings=False, tasks=False))
    only_users = _warnings(targets=("user_mapping[*]",))
    assert {addr for addr, _ in only_users} == {address(USER_MAPPING, "a@contoso.com")}
