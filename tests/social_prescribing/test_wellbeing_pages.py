"""Recording ONS4 and SWEMWBS on a referral over HTTP, on SQLite and PostgreSQL, and the change
the link worker then sees (the SWEMWBS metric score, the ONS4 questions one by one); plus the
form's reading of answers as a property over any mix of answers."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st

from careweave.coordination.record import find, today
from careweave.social_prescribing.wellbeing import SWEMWBS_METRIC
from careweave.web.social_prescribing.wellbeing_pages import (
    ONS4_FIELDS,
    SWEMWBS_FIELDS,
    read_answers,
)
from tests.coordination.place import Place
from tests.social_prescribing.pathway_place import LINK_WORKER
from tests.web.social_prescribing_place import (
    error_summary,
    form_on,
    press,
    refer_through_the_form,
    send_form,
    sp_pages,
    text_of,
)

__all__ = ["sp_pages"]


def answers(ons4: tuple[int, int, int, int], swemwbs: tuple[int, ...]) -> dict[str, str]:
    fields = {name: str(score) for name, score in zip(ONS4_FIELDS.values(), ons4, strict=True)}
    for name, score in zip(SWEMWBS_FIELDS.values(), swemwbs, strict=True):
        fields[name] = str(score)
    return fields


def responses(place: Place) -> list[dict[str, object]]:
    return find(place.access(LINK_WORKER), "QuestionnaireResponse", [("patient", "Patient/mary")])


def test_wellbeing_at_the_start_and_end_shows_the_change(sp_pages: Place) -> None:
    path = refer_through_the_form(sp_pages.sign_in("ann.gp"))
    lw = sp_pages.sign_in(LINK_WORKER)
    press(lw, path, "accept")
    form = lw.get(f"{path}/wellbeing")
    assert "Record wellbeing at the start" in text_of(form.text)

    # The first answers were given on paper yesterday (two sets recorded within one second
    # could not be told apart in time).
    yesterday = today() - timedelta(days=1)
    start = send_form(
        lw,
        f"{path}/wellbeing",
        **answers((4, 5, 3, 7), (2, 2, 3, 2, 3, 2, 3)),
        **{
            "answered_on-day": str(yesterday.day),
            "answered_on-month": str(yesterday.month),
            "answered_on-year": str(yesterday.year),
        },
    )
    assert start.status_code == 303
    assert len(responses(sp_pages)) == 2  # one ONS4, one SWEMWBS
    page = text_of(lw.get(path).text)
    assert "16.88 (raw 17" in page  # raw 17 -> metric 16.88
    assert "Not measured again yet" in page

    again = lw.get(f"{path}/wellbeing")
    assert "Record wellbeing again" in text_of(again.text)
    end = send_form(lw, f"{path}/wellbeing", **answers((7, 7, 6, 3), (3, 4, 3, 3, 4, 4, 4)))
    assert end.status_code == 303
    shown = text_of(lw.get(path).text)
    assert "22.35 (raw 25" in shown
    assert "+5.47 (better)" in shown
    assert "Anxiety yesterday At the start 7 (high) Latest 3 (low) Change -4 (better)" in shown
    assert "Life satisfaction At the start 4 (low) Latest 7 (high) Change +3 (better)" in shown


def test_a_partial_swemwbs_saves_nothing_and_says_which_are_missing(sp_pages: Place) -> None:
    path = refer_through_the_form(sp_pages.sign_in("ann.gp"))
    lw = sp_pages.sign_in(LINK_WORKER)
    press(lw, path, "accept")
    partial = {name: "3" for name in list(SWEMWBS_FIELDS.values())[:5]}
    refused = send_form(lw, f"{path}/wellbeing", **{ONS4_FIELDS["happiness"]: "6"}, **partial)
    assert refused.status_code == 400
    summary = error_summary(refused.text)
    assert summary.count("Answer every SWEMWBS statement") == 2
    assert f'href="#{SWEMWBS_FIELDS["close-to-others"]}"' in refused.text
    assert f'name="{ONS4_FIELDS["happiness"]}" type="radio" value="6" checked' in refused.text
    assert responses(sp_pages) == []  # the ONS4 answer was not saved alone either
    empty = send_form(lw, f"{path}/wellbeing")
    assert "Answer the ONS4 questions, the SWEMWBS statements, or both" in error_summary(empty.text)
    only_ons4 = send_form(lw, f"{path}/wellbeing", **{ONS4_FIELDS["anxiety"]: "2"})
    assert only_ons4.status_code == 303
    [response] = responses(sp_pages)
    assert str(response["questionnaire"]).endswith("ons4-personal-wellbeing|1")


def test_sending_the_answers_twice_records_them_once(sp_pages: Place) -> None:
    path = refer_through_the_form(sp_pages.sign_in("ann.gp"))
    lw = sp_pages.sign_in(LINK_WORKER)
    press(lw, path, "accept")
    page = lw.get(f"{path}/wellbeing")
    data = {**form_on(page.text, f"{path}/wellbeing"), **answers((5, 5, 5, 5), (3,) * 7)}
    for _ in range(2):
        assert lw.post(f"{path}/wellbeing", data=data, follow_redirects=False).status_code == 303
    assert len(responses(sp_pages)) == 2
    # Only the service the referral went to records answers on it.
    gp = sp_pages.sign_in("ann.gp")
    assert gp.get(f"{path}/wellbeing").status_code == 403


@given(
    ons4=st.dictionaries(st.sampled_from(list(ONS4_FIELDS.values())), st.integers(0, 10)),
    swemwbs=st.dictionaries(st.sampled_from(list(SWEMWBS_FIELDS.values())), st.integers(1, 5)),
    junk=st.dictionaries(
        st.sampled_from([*ONS4_FIELDS.values(), *SWEMWBS_FIELDS.values()]),
        st.text(max_size=3),
        max_size=2,
    ),
)
def test_any_answers_are_either_scored_whole_or_refused(
    ons4: dict[str, int], swemwbs: dict[str, int], junk: dict[str, str]
) -> None:
    form = {**{k: str(v) for k, v in {**ons4, **swemwbs}.items()}, **junk}
    scored_ons4, scored_swemwbs, errors = read_answers(form)
    if errors:
        assert scored_ons4 is None and scored_swemwbs is None
        return
    sent_swemwbs = [form[name] for name in SWEMWBS_FIELDS.values() if form.get(name)]
    if scored_swemwbs is not None:
        assert len(sent_swemwbs) == 7
        assert scored_swemwbs.raw == sum(int(v) for v in sent_swemwbs)
        assert scored_swemwbs.metric == SWEMWBS_METRIC[scored_swemwbs.raw]
    else:
        assert sent_swemwbs == []
    if scored_ons4 is not None:
        for item, name in ONS4_FIELDS.items():
            expected = int(form[name]) if form.get(name) else None
            assert scored_ons4.scores()[item] == expected
    assert scored_ons4 is not None or scored_swemwbs is not None
