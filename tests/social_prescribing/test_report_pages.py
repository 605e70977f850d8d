"""The service report page over HTTP, on SQLite and PostgreSQL: an analyst asks for the
network's report for a period and reads it as tables, small numbers suppressed ("<10");
nobody else may make it."""

from __future__ import annotations

import re

from careweave.coordination.record import today
from tests.coordination.place import Place
from tests.social_prescribing.pathway_place import ANALYST, SERVICE_ORG, refer_mary
from tests.web.social_prescribing_place import error_summary, sp_pages, text_of

__all__ = ["sp_pages"]


def period(start_year: int, end_year: int | None = None) -> dict[str, str]:
    day = today()
    return {
        "searched": "yes",
        "service": SERVICE_ORG,
        "start-day": "1",
        "start-month": "1",
        "start-year": str(start_year),
        "end-day": str(day.day),
        "end-month": str(day.month),
        "end-year": str(end_year or day.year),
    }


def test_an_analyst_reads_the_report_with_small_numbers_suppressed(sp_pages: Place) -> None:
    refer_mary(sp_pages, reasons=("loneliness", "bereavement"))
    analyst = sp_pages.sign_in(ANALYST)
    blank = analyst.get("/social-prescribing/reports")
    assert blank.status_code == 200
    assert f'<option value="{SERVICE_ORG}" selected>' in blank.text  # the analyst's own
    assert 'id="report"' not in blank.text

    page = analyst.get("/social-prescribing/reports", params=period(today().year - 1))
    assert page.status_code == 200, page.text
    text = text_of(page.text)
    assert "Northshire Social Prescribing Network: referrals made 1 January" in text
    assert "Referrals made Number &lt;10" not in page.text
    assert re.search(r"Referrals made\s*</th>\s*<td[^>]*>.*?&lt;10</td>", page.text, re.S)
    assert "Days to first contact, median Value Not shown" in text
    assert "Loneliness or social isolation Number <10" in text
    assert "Bereavement Number <10" in text
    # Tables carry captions and header cells, rows a header of their own.
    assert page.text.count("<caption") >= 6
    assert 'scope="row"' in page.text and 'scope="col"' in page.text


def test_the_period_is_checked_and_only_analysts_may_see_reports(sp_pages: Place) -> None:
    analyst = sp_pages.sign_in(ANALYST)
    backwards = analyst.get(
        "/social-prescribing/reports", params=period(today().year + 1, today().year)
    )
    assert backwards.status_code == 400
    assert "The period must end on or after the day it starts" in error_summary(backwards.text)
    bad = analyst.get(
        "/social-prescribing/reports", params={**period(2026), "start-month": "13", "service": ""}
    )
    summary = error_summary(bad.text)
    assert "Choose the social prescribing service" in summary
    assert "Start date must be a real date" in summary
    assert 'value="13"' in bad.text
    for username in ("pat.lw", "ann.gp", "ada.admin"):
        refused = sp_pages.sign_in(username).get("/social-prescribing/reports")
        assert refused.status_code == 403
        assert "Service reports are made by analysts" in text_of(refused.text)
