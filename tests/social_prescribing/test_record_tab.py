"""The "Social prescribing" tab of a person's record (coordination/person_base.html): it links
to the person's social prescribing page for those who may use it, marks itself as the current
tab on the social prescribing pages, and is not offered to a role whose menu has no social
prescribing pages. Over HTTP on SQLite and PostgreSQL; the last part renders the template."""

from __future__ import annotations

import re
from datetime import date
from types import SimpleNamespace

from careweave.access.accounts import get_user
from careweave.coordination.people import PersonBanner
from careweave.web.pages import templates
from tests.coordination.place import Place
from tests.social_prescribing.pathway_place import ANALYST, LINK_WORKER, refer_mary
from tests.web.social_prescribing_place import sp_pages

__all__ = ["sp_pages"]

TAB = re.compile(
    r'<a href="/people/mary/social-prescribing"( aria-current="page")?>Social prescribing</a>'
)


def record_nav(page: str) -> str:
    start = page.index('<nav class="careweave-record-nav"')
    return page[start : page.index("</nav>", start)]


def test_the_record_has_a_social_prescribing_tab(sp_pages: Place) -> None:
    made = refer_mary(sp_pages)
    gp = sp_pages.sign_in("ann.gp")
    summary = record_nav(gp.get("/people/mary").text)
    found = TAB.search(summary)
    assert found is not None and found.group(1) is None  # there, not the current tab
    assert 'href="/people/mary" aria-current="page"' in summary

    listing = gp.get(found.group(0).split('"')[1])
    assert listing.status_code == 200
    current = TAB.search(record_nav(listing.text))
    assert current is not None and current.group(1)  # the tab of the page shown
    assert f"/people/mary/social-prescribing/{made.service_request_id}" in listing.text

    # The link worker, at a service with no other link to Mary, reaches her through the
    # referral: the tab is there on her episode too.
    pat = sp_pages.sign_in(LINK_WORKER)
    episode = pat.get(f"/people/mary/social-prescribing/{made.service_request_id}")
    assert episode.status_code == 200
    assert TAB.search(record_nav(episode.text)) is not None


def test_the_tab_is_offered_only_where_the_menu_offers_social_prescribing(sp_pages: Place) -> None:
    analyst = get_user(sp_pages.store.database, ANALYST)
    gp = get_user(sp_pages.store.database, "ann.gp")
    assert analyst is not None and gp is not None
    page = templates().from_string('{% extends "coordination/person_base.html" %}')
    person = PersonBanner("mary", "Mary Example", None, date(1941, 3, 2), "female", None, False, 1)

    def nav_for(user: object) -> str:
        signed_in = SimpleNamespace(user=user, session=SimpleNamespace(csrf_token="x"))
        html = page.render(
            styled=False,
            errors=[],
            signed_in=signed_in,
            person=person,
            practice=None,
            record_tab="summary",
        )
        return record_nav(html)

    assert TAB.search(nav_for(gp)) is not None
    without = nav_for(analyst)
    assert TAB.search(without) is None
    assert 'href="/people/mary/notes"' in without  # the other tabs are still there
