"""Conditional read: answer 304 Not Modified when the client's copy is still current.

FHIR R4 (http.html#cread) lets a client that has a resource ask again with the `ETag` it got
(`If-None-Match: W/"3"`) or the time it last fetched (`If-Modified-Since`), and get 304 and no
body when nothing changed: a care record kept open on a ward tablet or in a GP system re-checks
cheaply. The rules are HTTP's (RFC 9110 section 13): `If-None-Match` wins when both are sent,
entity tags compare weakly (`W/"3"` matches `"3"`), `*` matches any current version, and an
`If-Modified-Since` that is not an HTTP date is ignored, as is one in the future.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


def _tags(header: str) -> list[str]:
    tags = []
    for piece in header.split(","):
        tag = piece.strip()
        if tag.startswith(("W/", "w/")):
            tag = tag[2:]
        tags.append(tag.strip('"'))
    return tags


def not_modified(
    version_id: int,
    last_updated: datetime,
    *,
    if_none_match: str | None,
    if_modified_since: str | None,
    now: datetime | None = None,
) -> bool:
    """Whether a copy the client describes is the version `version_id`, changed at
    `last_updated` (naive UTC or aware), so the answer may be 304."""
    if if_none_match is not None:
        tags = _tags(if_none_match)
        return "*" in tags or str(version_id) in tags
    if if_modified_since is None:
        return False
    try:
        since = parsedate_to_datetime(if_modified_since)
    except (TypeError, ValueError, IndexError):
        return False
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    if since > (now or datetime.now(UTC)):
        return False
    changed = last_updated if last_updated.tzinfo else last_updated.replace(tzinfo=UTC)
    # HTTP dates have whole seconds: a change within the second the client names is not newer.
    return changed.replace(microsecond=0) <= since
