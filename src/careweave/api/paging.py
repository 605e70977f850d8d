"""Page size and links for the API's lists that page forward by a cursor: history,
`Patient/[id]/$everything` and the audit trail.

They read `_count` and write their `self` and `next` links one way, here, so that a page size
one of them refuses is refused by all, with the same words, and a link always carries the size
actually used (which may be the maximum, not what was asked).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from urllib.parse import urlencode

from careweave.fhir.errors import InvalidSearch
from careweave.fhir.search_query import CURSOR_PARAMETER


def page_size(params: Mapping[str, str], *, default: int, maximum: int) -> int:
    """`_count` as the number of entries a page holds: at least one, at most `maximum`.

    Zero is refused rather than read as "a total only", which these lists do not offer.
    """
    text = params.get("_count", str(default))
    if not text.isdigit() or int(text) < 1:
        raise InvalidSearch(f"_count must be a whole number above 0, not '{text}'")
    return min(int(text), maximum)


def page_cursor(params: Mapping[str, str]) -> str | None:
    """The opaque cursor of a next link, or None on a first page.

    It is only checked for its form; a cursor from another list simply finds another place.
    """
    cursor = params.get(CURSOR_PARAMETER)
    if cursor is not None and not cursor.isdigit():
        raise InvalidSearch("The paging cursor is not valid; start again")
    return cursor


def forward_links(
    url: str, echo: Iterable[tuple[str, str]], count: int, next_cursor: str | int | None
) -> list[dict[str, str]]:
    """The `self` link and, when there is more, the `next` link of a page.

    `echo` is the request's parameters that shape the list (never `_count` or the cursor);
    both links carry them, so following `next` continues the same list.
    """
    paging = [*echo, ("_count", str(count))]
    links = [{"relation": "self", "url": f"{url}?{urlencode(paging)}"}]
    if next_cursor is not None and next_cursor != "":
        next_page = [*paging, (CURSOR_PARAMETER, str(next_cursor))]
        links.append({"relation": "next", "url": f"{url}?{urlencode(next_page)}"})
    return links
