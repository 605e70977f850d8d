"""Which directory entries are out of date, and whom to ask about them.

A directory people stop trusting stops being used, so every entry says when it was last
checked with the service (the directory-last-checked extension). An entry not checked for six
months is **stale**: on the day six calendar months after the check it becomes stale (checked
15 January: still fresh on 14 July, stale from 15 July; a check on 31 August is stale from 28
February, or the 29th in a leap year). An entry never checked is stale. Closed services are
not: there is nothing left to check.

`stale_by_organisation` groups the stale entries by the organisation that runs them, so each
organisation can be sent one list of its own services to confirm; recording the answer is
`careweave.social_prescribing.directory_records.record_checked` (a new version).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Final

from dateutil.relativedelta import relativedelta

from careweave.social_prescribing.directory import CommunityService, DirectoryOrganisation
from careweave.social_prescribing.directory_index import Directory

STALE_AFTER: Final = relativedelta(months=6)


def stale_from(service: CommunityService) -> date | None:
    """The first day the entry counts as stale (None if never checked: stale already)."""
    if service.last_checked is None:
        return None
    return service.last_checked + STALE_AFTER


def is_stale(service: CommunityService, today: date) -> bool:
    """Whether an open service's entry has gone six months without a check by `today`."""
    if not service.active:
        return False
    due = stale_from(service)
    return due is None or today >= due


@dataclass(frozen=True)
class StaleEntries:
    """One organisation's stale entries, oldest check first (never-checked ones first of all)."""

    organisation_id: str
    organisation: DirectoryOrganisation | None
    services: tuple[CommunityService, ...]


def stale_by_organisation(directory: Directory, today: date) -> list[StaleEntries]:
    """Every organisation with stale entries, in name order, each with its stale services."""
    grouped: dict[str, list[CommunityService]] = {}
    for service in directory.services.values():
        if is_stale(service, today):
            grouped.setdefault(service.organisation_id, []).append(service)
    lists = [
        StaleEntries(
            organisation_id,
            directory.organisations.get(organisation_id),
            tuple(
                sorted(
                    services,
                    key=lambda s: (s.last_checked or date.min, s.name.casefold(), s.id),
                )
            ),
        )
        for organisation_id, services in grouped.items()
    ]
    return sorted(
        lists,
        key=lambda e: (
            (e.organisation.name if e.organisation else "").casefold(),
            e.organisation_id,
        ),
    )
