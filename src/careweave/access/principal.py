"""Who is asking: the person or system behind a request, in the role they act in."""

from __future__ import annotations

from dataclasses import dataclass

from careweave.access.roles import Role
from careweave.access.scopes import Scopes


@dataclass(frozen=True)
class Principal:
    """A signed-in user or an API client, resolved once per request by the transport.

    `user_pk` is None for a system client. Staff act at `organisation_id` through
    `practitioner_role_id`; a person (role patient) or a carer sees `patient_id`'s record.
    """

    username: str
    display_name: str
    role: Role
    scopes: Scopes
    user_pk: int | None = None
    organisation_id: str | None = None
    practitioner_id: str | None = None
    practitioner_role_id: str | None = None
    patient_id: str | None = None
    related_person_id: str | None = None
    caldicott_guardian: bool = False
    address: str | None = None

    @property
    def is_system(self) -> bool:
        return self.role is Role.SYSTEM
