"""Who is calling: travels with every service call and into every event's metadata."""

from __future__ import annotations

import msgspec


class Identity(msgspec.Struct, frozen=True, kw_only=True):
    user_id: str
    org_id: str
    org_role: str = "MEMBER"  # ADMIN | MEMBER
    is_operator: bool = False  # platform operator: may create organizations
    email: str = ""
    name: str = ""

    @property
    def is_admin(self) -> bool:
        return self.org_role == "ADMIN"


SYSTEM_ACTOR = "system"
