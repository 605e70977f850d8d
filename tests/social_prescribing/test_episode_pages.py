"""A person's social prescribing episode over HTTP, on SQLite and PostgreSQL: Pat Pathway, the
network's link worker, triages Mary's referral from the list, records the first contact and a
"what matters" conversation, agrees goals, connects her to the lunch club from the directory
search (her postcode, the needs her reasons point to), records the outcome, and ends support,
which the GP is told of. Each step's own refusals come back in the error summary; stale pages
and double submits change nothing."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from careweave.coordination.record import find, new_submission_token, today
from careweave.social_prescribing.closing import OUTCOME_NOTICE
from careweave.social_prescribing.directory_records import close_service
from careweave.social_prescribing.episode import episode_of
from careweave.social_prescribing.pathway import record_first_contact
from careweave.web.social_prescribing.episode_pages import read_moment
from tests.coordination.place import Place, csrf_of
from tests.social_prescribing.pathway_place import LINK_WORKER
from tests.social_prescribing.test_pathway import told
from tests.web.social_prescribing_place import (
    error_summary,
    form_on,
    hidden,
    now_fields,
    press,
    refer_through_the_form,
    send_form,
    sp_pages,
    text_of,
)

__all__ = ["sp_pages"]


def section(page: str, anchor: str) -> str:
    """The text of the page from the heading with id `anchor` to the next h2."""
    start = page.find(f'id="{anchor}"')
    assert start >= 0, f"no #{anchor} on the page"
    end = page.find("<h2", start + 1)
    return text_of("<main>" + page[start : end if end > 0 else None] + "</main>")


def test_triage_from_the_list_and_stale_or_repeated_presses(sp_pages: Place) -> None:
    path = refer_through_the_form(sp_pages.sign_in("ann.gp"))
    referral_id = path.rsplit("/", 1)[1]
    lw = sp_pages.sign_in(LINK_WORKER)
    listing = lw.get("/social-prescribing")
    waiting = section(listing.text, "waiting")
    assert "Mary Example" in waiting and "Loneliness or social isolation" in waiting
    assert f'href="{path}"' in listing.text

    page = lw.get(path)
    assert "Accept referral" in page.text and "Reject the referral" in page.text
    old_version = hidden(page.text, "version")
    no_reason = press(lw, path, "reject", reason="  ")
    assert no_reason.status_code == 400
    assert "Enter why you are rejecting this referral" in error_summary(no_reason.text)
    assert 'href="#reject-reason"' in no_reason.text

    accepted = press(lw, path, "accept")
    assert accepted.status_code == 303
    assert accepted.headers["location"] == f"{path}?done=accepted"
    after = lw.get(accepted.headers["location"])
    assert "You have accepted the referral" in text_of(after.text)
    assert "Link worker: Pat Pathway" in text_of(after.text)
    # The same button on a page opened before: refused, as the Task has moved on.
    stale = lw.post(
        f"{path}/accept",
        data={"csrf_token": csrf_of(page.text), "version": old_version},
        follow_redirects=False,
    )
    assert stale.status_code == 409
    assert "Someone else has changed this since you opened it" in error_summary(stale.text)
    assert episode_of(sp_pages.access(LINK_WORKER), referral_id).status == "accepted"
    working = section(lw.get("/social-prescribing").text, "working")
    assert "Mary Example" in working and "Accepted" in working


def test_a_rejected_referral_goes_back_to_the_referrer(sp_pages: Place) -> None:
    gp = sp_pages.sign_in("ann.gp")
    path = refer_through_the_form(gp)
    lw = sp_pages.sign_in(LINK_WORKER)
    rejected = press(lw, path, "reject", reason="She is already seeing the network's nurse")
    assert rejected.status_code == 303
    assert rejected.headers["location"] == "/social-prescribing?done=rejected"
    made = section(gp.get("/social-prescribing").text, "made")
    assert "Not taken on" in made and "She is already seeing the network's nurse" in made


def test_the_link_worker_works_through_the_episode_and_closes_the_loop(sp_pages: Place) -> None:
    gp = sp_pages.sign_in("ann.gp")
    path = refer_through_the_form(gp)
    referral_id = path.rsplit("/", 1)[1]
    lw = sp_pages.sign_in(LINK_WORKER)
    assert press(lw, path, "accept").status_code == 303

    future = now_fields("at", datetime.now(UTC) + timedelta(days=2))
    ahead = send_form(lw, f"{path}/first-contact", how="phone", **future)
    assert ahead.status_code == 400
    assert "must be today or in the past" in error_summary(ahead.text)
    no_how = send_form(lw, f"{path}/first-contact", **now_fields("at"))
    assert "Select how you were in touch" in error_summary(no_how.text)
    contact = send_form(lw, f"{path}/first-contact", how="phone", note="Rang her at home")
    assert contact.status_code == 303, contact.text

    words = "Having someone to talk to; getting back out on Tuesdays"
    missing = send_form(lw, f"{path}/what-matters", how="in-person")
    assert "Enter what matters to them, in their own words" in error_summary(missing.text)
    talked = send_form(lw, f"{path}/what-matters", how="in-person", what_matters=words)
    assert talked.status_code == 303
    no_goals = send_form(lw, f"{path}/goals")
    assert "Enter at least one goal, in the person's words" in error_summary(no_goals.text)
    assert 'href="#goal-1"' in no_goals.text
    goals = send_form(lw, f"{path}/goals", **{"goal-1": "Go out for lunch every week"})
    assert goals.status_code == 303

    # The connect page starts from Mary's postcode and the needs loneliness points to.
    connect_page = lw.get(f"{path}/connect")
    assert connect_page.status_code == 200
    assert 'value="befriending" checked' in connect_page.text
    assert 'value="lunch-club" checked' in connect_page.text
    buttons = re.findall(r"Connect to ([^<]+)</button>", connect_page.text)
    assert buttons == ["Friendship circle", "Lunch club"]
    form = re.search(
        r'<form class="nhsuk-u-margin-top-3" action="[^"]+/connect" method="post" novalidate>'
        r"(.*?)</form>",
        connect_page.text.split("Lunch club</a></h4>")[1],
        re.S,
    )
    assert form
    data = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', form.group(1)))
    first = lw.post(f"{path}/connect", data=data, follow_redirects=False)
    twice = lw.post(f"{path}/connect", data=data, follow_redirects=False)
    assert first.status_code == twice.status_code == 303
    episode = episode_of(sp_pages.access(LINK_WORKER), referral_id)
    assert [c.service_name for c in episode.connections] == ["Lunch club"]
    assert "Already connected" in lw.get(f"{path}/connect").text

    # Ending support is refused while the lunch club has not said what happened.
    refused = send_form(lw, f"{path}/close", ending="support-complete")
    assert refused.status_code == 409
    assert "Record what happened with Lunch club before ending support" in error_summary(
        refused.text
    )
    connection = episode.connections[0]
    outcome_path = f"/social-prescribing/connections/{connection.task_id}"
    listing = lw.get("/social-prescribing").text
    assert "Lunch club Connected" in section(listing, "connections")
    assert f'href="{outcome_path}"' in listing
    none = send_form(lw, outcome_path)
    assert "Select what happened with this connection" in error_summary(none.text)
    attended = send_form(lw, outcome_path, outcome="attended")
    assert attended.status_code == 303
    assert attended.headers["location"] == f"{path}?done=outcome"
    assert "cannot change" in text_of(lw.get(outcome_path).text)

    page = lw.get(path).text
    assert words in section(page, "what-matters")
    assert "Go out for lunch every week" in section(page, "plan")
    assert "Attended" in section(page, "connections")
    assert "By phone" in section(page, "contacts") and "Rang her at home" in page

    closed = send_form(
        lw, f"{path}/close", ending="support-complete", summary="Goes to lunch club weekly."
    )
    assert closed.status_code == 303
    assert closed.headers["location"] == "/social-prescribing?done=closed"
    assert lw.get(path).status_code == 404  # the service's sight of Mary ended with support

    # The loop is closed: the GP is told, and reads the outcome on the referral.
    assert told(sp_pages, OUTCOME_NOTICE) == [
        ("ann.gp", "mary", "Social prescribing ended: support complete")
    ]
    notices = text_of(gp.get("/notifications").text)
    assert "Social prescribing outcome" in notices
    made = section(gp.get("/social-prescribing").text, "made")
    assert "Support ended: outcome sent" in made
    ended = gp.get(path).text
    outcome = section(ended, "ended")
    assert "Yes, the outcome below was sent to them" in outcome
    assert "Lunch club - attended" in outcome
    assert "Link worker's summary: Goes to lunch club weekly." in outcome
    assert "End social prescribing support" not in ended


def test_people_without_a_part_in_the_referral_cannot_work_it(sp_pages: Place) -> None:
    path = refer_through_the_form(sp_pages.sign_in("ann.gp"))
    lee = sp_pages.sign_in("lee.lw")  # a link worker at the practice, not the network
    page = lee.get(path)
    assert page.status_code == 200  # Mary's practice staff see her referral...
    assert "Accept referral" not in page.text  # ...but only the network triages it
    assert lee.get(f"{path}/first-contact").status_code == 403
    refused = lee.post(
        f"{path}/accept",
        data={"csrf_token": csrf_of(page.text), "version": "1"},
        follow_redirects=False,
    )
    assert refused.status_code == 403
    hal = sp_pages.sign_in("hal.gp")  # no relationship with Mary at all
    assert hal.get(path).status_code == 404
    wrong_person = path.replace("/people/mary/", "/people/joe/")
    assert sp_pages.sign_in("ann.gp").get(wrong_person).status_code == 404
    referral_id = path.rsplit("/", 1)[1]
    assert (
        find(sp_pages.access("ann.gp"), "Task", [("focus", f"ServiceRequest/{referral_id}")])[0][
            "status"
        ]
        == "requested"
    )


def test_the_volunteer_records_an_outcome_for_their_organisations_service(
    sp_pages: Place,
) -> None:
    path = refer_through_the_form(sp_pages.sign_in("ann.gp"))
    referral_id = path.rsplit("/", 1)[1]
    lw = sp_pages.sign_in(LINK_WORKER)
    press(lw, path, "accept")
    connect_page = lw.get(f"{path}/connect").text
    token = hidden(connect_page, "token")
    lw.post(
        f"{path}/connect",
        data={"csrf_token": csrf_of(connect_page), "token": token, "service": "lunch"},
        follow_redirects=False,
    )
    vic = sp_pages.sign_in("vic.vol")
    listing = vic.get("/social-prescribing")
    ours = section(listing.text, "our-services")
    assert "Mary Example" in ours and "Lunch club" in ours
    [link] = re.findall(r'href="(/social-prescribing/connections/[^"]+)"', listing.text)
    form = vic.get(link)
    assert "Withdrawn" not in form.text  # only the link worker's side withdraws
    accepted = send_form(vic, link, outcome="accepted")
    assert accepted.headers["location"] == "/social-prescribing?done=outcome"
    attended = send_form(vic, link, outcome="attended")
    assert attended.status_code == 303
    [connection] = episode_of(sp_pages.access(LINK_WORKER), referral_id).connections
    assert connection.outcome == "attended"
    assert "People connected to your services" not in vic.get("/social-prescribing").text


def test_a_connection_to_a_service_that_closed_is_re_routed(sp_pages: Place) -> None:
    path = refer_through_the_form(sp_pages.sign_in("ann.gp"))
    referral_id = path.rsplit("/", 1)[1]
    lw = sp_pages.sign_in(LINK_WORKER)
    press(lw, path, "accept")
    page = lw.get(f"{path}/connect").text
    lw.post(
        f"{path}/connect",
        data={"csrf_token": csrf_of(page), "token": hidden(page, "token"), "service": "lunch"},
        follow_redirects=False,
    )
    with sp_pages.store.transaction() as tx:
        close_service(tx, "lunch", today())
    episode = lw.get(path).text
    connections = section(episode, "connections")
    assert "Service closed" in connections
    [moving] = episode_of(sp_pages.access(LINK_WORKER), referral_id).connections
    reroute_path = f"{path}/connect?reroute={moving.task_id}"
    assert f'href="{reroute_path}"' in episode
    form = lw.get(reroute_path)
    assert "instead of Lunch club" in text_of(form.text)
    assert "Lunch club closed" in text_of(form.text)
    buttons = re.findall(r"Connect to ([^<]+)</button>", form.text)
    assert buttons == ["Friendship circle"]  # the closed lunch club is not offered
    data = dict(
        re.findall(
            r'name="([^"]+)" value="([^"]*)"',
            form.text.split("Friendship circle</a></h4>")[1].split("</form>")[0],
        )
    )
    assert data["reroute"] == moving.task_id
    moved = lw.post(f"{path}/connect", data=data, follow_redirects=False)
    assert moved.headers["location"] == f"{path}?done=rerouted"
    after = episode_of(sp_pages.access(LINK_WORKER), referral_id).connections
    outcomes = {c.service_name: (c.outcome, c.reason) for c in after}
    assert outcomes["Friendship circle"] == ("waiting", None)
    assert outcomes["Lunch club"][0] == "withdrawn"
    assert "Lunch club closed on" in (outcomes["Lunch club"][1] or "")
    assert "Mary Example" not in section(lw.get("/social-prescribing").text, "reroute")


def test_a_change_made_meanwhile_is_shown_and_the_form_can_be_sent_again(
    sp_pages: Place,
) -> None:
    path = refer_through_the_form(sp_pages.sign_in("ann.gp"))
    referral_id = path.rsplit("/", 1)[1]
    lw = sp_pages.sign_in(LINK_WORKER)
    press(lw, path, "accept")
    form = lw.get(f"{path}/close").text
    data = {**form_on(form, f"{path}/close"), "ending": "not-reached"}
    # Meanwhile a colleague at the service records the first contact: the Task moves on.
    record_first_contact(
        sp_pages.access(LINK_WORKER),
        referral_id,
        at=datetime.now(UTC),
        how="phone",
        token=new_submission_token(),
    )
    stale = lw.post(f"{path}/close", data=data, follow_redirects=False)
    assert stale.status_code == 409
    assert "Someone else has changed this since you opened it" in error_summary(stale.text)
    assert 'type="radio" value="not-reached" checked' in stale.text  # their choice is kept
    assert "First contact on" in text_of(stale.text)  # the preview shows the change
    assert episode_of(sp_pages.access(LINK_WORKER), referral_id).open
    again = lw.post(
        f"{path}/close", data=form_on(stale.text, f"{path}/close"), follow_redirects=False
    )
    assert again.status_code == 303


def test_a_time_the_clocks_skip_is_refused_and_a_doubled_one_is_bst() -> None:
    """On 29 March 2020 UK clocks went from 01:00 to 02:00: 01:30 never happened, and used to
    be stored as 02:30 without a word. 01:30 on 25 October happened twice: the first, BST."""
    skipped = {"at-day": "29", "at-month": "3", "at-year": "2020", "at-time": "01:30"}
    moment, errors = read_moment(skipped, "at", "contact")
    assert moment is None
    assert [(e.field, e.message) for e in errors] == [
        ("at-time", "That time does not exist on that day, because the clocks go forward")
    ]
    after, errors = read_moment({**skipped, "at-time": "02:30"}, "at", "contact")
    assert errors == [] and after == datetime(2020, 3, 29, 1, 30, tzinfo=UTC)
    doubled = {"at-day": "25", "at-month": "10", "at-year": "2020", "at-time": "01:30"}
    first, errors = read_moment(doubled, "at", "contact")
    assert errors == [] and first is not None
    assert first.astimezone(UTC) == datetime(2020, 10, 25, 0, 30, tzinfo=UTC)


def test_a_time_still_to_come_is_refused_with_a_few_minutes_grace() -> None:
    """A contact is recorded once it has happened: 13:00 typed at noon was accepted because
    only the date was checked against today."""
    noon = datetime(2026, 6, 10, 11, 0, tzinfo=UTC)  # 12:00 BST
    typed = {"at-day": "10", "at-month": "6", "at-year": "2026"}
    later, errors = read_moment({**typed, "at-time": "13:00"}, "at", "contact", now=noon)
    assert later is None
    assert [(e.field, e.message) for e in errors] == [
        ("at-time", "Time of the contact must be in the past")
    ]
    for time_typed in ("11:15", "12:00", "12:05"):  # 12:05 is within the grace
        moment, errors = read_moment({**typed, "at-time": time_typed}, "at", "contact", now=noon)
        assert errors == [] and moment is not None, time_typed
    _, errors = read_moment({**typed, "at-time": "12:06"}, "at", "contact", now=noon)
    assert errors


def test_the_first_contact_form_refuses_a_time_the_clocks_skip(sp_pages: Place) -> None:
    path = refer_through_the_form(sp_pages.sign_in("ann.gp"))
    lw = sp_pages.sign_in(LINK_WORKER)
    assert press(lw, path, "accept").status_code == 303
    skipped = {"at-day": "29", "at-month": "3", "at-year": "2020", "at-time": "01:30"}
    refused = send_form(lw, f"{path}/first-contact", how="phone", **skipped)
    assert refused.status_code == 400
    assert "because the clocks go forward" in error_summary(refused.text)
    assert 'href="#at-time"' in refused.text
    episode = episode_of(sp_pages.access(LINK_WORKER), path.rsplit("/", 1)[1])
    assert episode.first_contact is None
