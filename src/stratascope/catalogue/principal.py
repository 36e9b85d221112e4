"""Who is asking: a user (admin or member of groups) or nobody (the public).

Kept free of imports so that the catalogue can filter by it without depending on auth.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Principal:
    """The caller of a request. `user_id is None` is the anonymous public."""

    user_id: int | None = None
    name: str = "anonymous"
    is_admin: bool = False
    group_ids: frozenset[int] = frozenset()

    @property
    def anonymous(self) -> bool:
        return self.user_id is None

    @property
    def role(self) -> str:
        return "admin" if self.is_admin else "public" if self.anonymous else "member"

    def can_read(self, public: bool, group_id: int | None) -> bool:
        """Whether an object with this (effective) visibility and owning group may be read."""
        return self.is_admin or public or (group_id is not None and group_id in self.group_ids)


ANONYMOUS = Principal()
