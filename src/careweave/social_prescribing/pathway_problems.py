"""What can go wrong on the social prescribing pathway, in words a person can act on.

Each problem's message is written to be shown as it is; `field` names the form field it is
about (None for the page as a whole). Transports map them in one place each, as they do
careweave.coordination's `TaskProblem` and `PlanInputError`. Nothing is saved when one is
raised.
"""

from __future__ import annotations


class PathwayProblem(Exception):  # noqa: N818 - named for the situation, shown as a message
    """Something asked of the pathway that cannot be done as given."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class DuplicateReferral(PathwayProblem):
    """The person already has an open referral for the same need; `open_referral_id` is its
    ServiceRequest, so the page can link to it."""

    def __init__(self, message: str, open_referral_id: str) -> None:
        super().__init__(message)
        self.open_referral_id = open_referral_id


class SelfReferralNotOffered(PathwayProblem):
    """The place does not take self-referrals to social prescribing (a setting)."""


class NotAtThisStage(PathwayProblem):
    """The referral, episode or connection has not got far enough for this, or has moved on."""


class NotYours(PathwayProblem):
    """The signed-in person is not on the side that may do this (the service, or the link
    worker's organisation)."""


class ChangedMeanwhile(PathwayProblem):
    """Someone else changed it since the page was opened; nothing was saved."""

    def __init__(self) -> None:
        super().__init__("Someone else has changed this since you opened it. Open it again.")


class WellbeingAnswersProblem(PathwayProblem):
    """Answers to ONS4 or SWEMWBS that cannot be scored as given."""


class InvalidReferralForm(PathwayProblem):
    """Everything wrong with a referral form at once, so the page can mark each field:
    `problems` holds (field, message) pairs; the message joins them."""

    def __init__(self, problems: list[tuple[str | None, str]]) -> None:
        super().__init__("; ".join(message for _, message in problems), problems[0][0])
        self.problems = tuple(problems)
