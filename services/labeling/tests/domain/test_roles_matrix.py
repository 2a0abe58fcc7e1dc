"""The role matrix as data (DOMAIN.md)."""

from __future__ import annotations

import pytest

from preflog_labeling.domain.roles import Permission, is_allowed

ROLES = ["ANNOTATOR", "REVIEWER", "MANAGER", "OWNER"]
TABLE = {
    Permission.ANNOTATE: {"ANNOTATOR", "REVIEWER", "MANAGER", "OWNER"},
    Permission.SEE_ALL_LABELS: {"REVIEWER", "MANAGER", "OWNER", "ADMIN"},
    Permission.MANAGE_DATA: {"MANAGER", "OWNER", "ADMIN"},
    Permission.CONFIGURE: {"MANAGER", "OWNER", "ADMIN"},
    Permission.MANAGE_MEMBERS: {"MANAGER", "OWNER", "ADMIN"},
    Permission.CHANGE_OWNERS: {"OWNER", "ADMIN"},
    Permission.SEE_PROJECT: {"ANNOTATOR", "REVIEWER", "MANAGER", "OWNER", "ADMIN"},
}


@pytest.mark.parametrize("permission", list(TABLE))
@pytest.mark.parametrize("role", [*ROLES, "ADMIN", None])
def test_matrix(permission: Permission, role: str | None) -> None:
    if role == "ADMIN":
        assert is_allowed(None, True, permission) == ("ADMIN" in TABLE[permission])
    else:
        assert is_allowed(role, False, permission) == (role in TABLE[permission])


def test_admin_who_is_a_member_gets_both_columns() -> None:
    assert is_allowed("ANNOTATOR", True, Permission.ANNOTATE)
    assert is_allowed("ANNOTATOR", True, Permission.CONFIGURE)
