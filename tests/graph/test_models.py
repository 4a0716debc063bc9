"""Wire models: tolerant reading, exact documented writing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from reconciler.graph.models import (
    GroupIdentity,
    GroupTaskParameters,
    MigrationTask,
    SiteTaskParameters,
    TaskParameters,
    TaskStatus,
    UserIdentity,
    UserIdentityMapping,
    UserTaskParameters,
    UserType,
)


def test_documented_get_example_reads_despite_its_defects() -> None:
    task = MigrationTask.model_validate(
        {
            "id": "3ed6d46d-13a3-4995-b6ea-a74a20b1fac0",
            "status": "success",
            "startedDateTime": "2025-7-18T09:08:04.451Z",
            "parameters": {
                "@odata.type": "#microsoft.graph.sharePointSiteMigrationTaskParameters",
                "targetOrganizationId": "3ef4e46d-13a3-4895-b6ea-a74a20hu728h",
                "sourceSiteUrl": "https://contoso.sharepoint.com/sites/IT",
            },
        }
    )
    assert task.status is TaskStatus.UNKNOWN_FUTURE_VALUE
    assert task.raw_value("status") == "success"
    assert task.started_date_time == datetime(2025, 7, 18, 9, 8, 4, 451000, tzinfo=UTC)
    assert isinstance(task.parameters, SiteTaskParameters)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("completed", TaskStatus.COMPLETED),
        ("Completed", TaskStatus.COMPLETED),
        ("brandNew", TaskStatus.UNKNOWN_FUTURE_VALUE),
    ],
)
def test_status_is_evolvable(raw: str, expected: TaskStatus) -> None:
    assert MigrationTask.model_validate({"status": raw}).status is expected


def test_offsets_and_naive_times_become_utc() -> None:
    task = MigrationTask.model_validate(
        {"finishedDateTime": "2025-01-02T03:04:05+02:00", "lastUpdatedDateTime": "2025-01-02T03:04:05"}
    )
    assert task.finished_date_time == datetime(2025, 1, 2, 1, 4, 5, tzinfo=UTC)
    assert task.last_updated_date_time == datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    with pytest.raises(ValidationError):
        MigrationTask.model_validate({"finishedDateTime": "yesterday"})


def test_legacy_errors_array_is_read_as_error() -> None:
    task = MigrationTask.model_validate({"status": "failed", "errors": [{"code": "x", "message": "disk full"}]})
    assert task.error is not None
    assert task.error.message == "disk full"


def test_parameter_subtype_is_chosen_by_odata_type_tolerantly() -> None:
    for raw in (
        "#microsoft.graph.sharePointGroupMigrationTaskParameters",
        "microsoft.graph.sharepointgroupmigrationtaskparameters",
        "sharePointGroupMigrationTaskParameters",
    ):
        task = MigrationTask.model_validate(
            {"parameters": {"@odata.type": raw, "sourceGroupIdentity": {"mailNickname": "g"}}}
        )
        assert isinstance(task.parameters, GroupTaskParameters)
        assert task.parameters.source_group_identity == GroupIdentity(mail_nickname="g")
    unknown = MigrationTask.model_validate({"parameters": {"@odata.type": "#microsoft.graph.somethingLater"}})
    assert type(unknown.parameters) is TaskParameters


def test_wire_output_is_exactly_the_documented_json() -> None:
    params = UserTaskParameters(
        target_organization_host="https://fabrikam-my.sharepoint.com",
        preferred_start_date_time=datetime(2024, 8, 31, 16, 0, tzinfo=UTC),
        source_user_identity=UserIdentity(user_principal_name="source-user@contoso.onmicrosoft.com"),
        target_user_identity=UserIdentity(user_principal_name="target-user@fabrikam.onmicrosoft.com"),
    )
    assert params.to_wire() == {
        "@odata.type": "#microsoft.graph.sharePointUserMigrationTaskParameters",
        "targetOrganizationHost": "https://fabrikam-my.sharepoint.com",
        "preferredStartDateTime": "2024-08-31T16:00:00Z",
        "sourceUserIdentity": {"userPrincipalName": "source-user@contoso.onmicrosoft.com"},
        "targetUserIdentity": {"userPrincipalName": "target-user@fabrikam.onmicrosoft.com"},
    }
    assert next(iter(params.to_wire())) == "@odata.type"


def test_mapping_reads_the_documented_example_and_keys_case_insensitively() -> None:
    mapping = UserIdentityMapping.model_validate(
        {
            "@odata.context": "https://graph.microsoft.com/beta/$metadata#solutions/sharePoint/migrations/crossOrganizationUserMappings/$entity",
            "@odata.type": "#microsoft.graph.sharePointUserIdentityMapping",
            "id": "AQAAAAEAAAB1c2VyMUBjb250b3NvLmNvbQ",
            "sourceOrganizationId": "11111111-1111-1111-1111-111111111111",
            "userType": "regularUser",
            "sourceUserIdentity": {
                "@odata.type": "microsoft.graph.userIdentity",
                "userPrincipalName": "User1@contoso.com",
            },
            "targetUserIdentity": {"userPrincipalName": "admin@fabrikam.onmicrosoft.com"},
            "targetUserMigrationData": {"email": "admin@fabrikam.onmicrosoft.com"},
        }
    )
    assert mapping.key == "user1@contoso.com"
    assert mapping.user_type is UserType.REGULAR_USER
    assert "@odata.type" not in str(mapping.to_wire())
