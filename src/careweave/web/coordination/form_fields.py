"""Reading the fields of coordination forms the NHS.UK way: dates typed as day, month and
year, with the error messages the design system's date input pattern asks for.

A date must fall between EARLIEST and LATEST. Nothing careweave records (a birth, a review, a
discharge) lies outside them, and a year typed as 0001 or 9999 is a slip that would otherwise
be saved and counted: a discharge delay of 740,000 days, say."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

from careweave.web.pages import uk_date
from careweave.web.signed_in import FieldError

MAX_TEXT = 2000
EARLIEST = date(1900, 1, 1)
LATEST = date(2099, 12, 31)


def form_version(form: Mapping[str, str]) -> int:
    """The resource version a form was read at (its hidden `version` field); a damaged value
    is -1, which matches no version, so the write is refused as stale rather than applied."""
    text = form.get("version", "")
    return int(text) if _digits(text) and len(text) < 10 else -1


def _digits(text: str) -> bool:
    """Whether `text` is 0-9 only. `str.isdigit` also takes other scripts' digits (U+0661, an
    Arabic-Indic 1) and superscripts, which `int` then reads as numbers nobody meant."""
    return text.isascii() and text.isdigit()


def typed_date(form: Mapping[str, str], name: str) -> dict[str, str]:
    """What was typed into date input `name`, to put back into the form."""
    return {
        f"{name}-{part}": form.get(f"{name}-{part}", "")[:8] for part in ("day", "month", "year")
    }


def read_date(
    form: Mapping[str, str],
    name: str,
    what: str,
    *,
    required: bool = True,
    not_before: date | None = None,
    not_after: date | None = None,
) -> tuple[date | None, FieldError | None]:
    """The date typed into date input `name`, or the error to show; `what` names it in the
    message ("Due date must be today or in the future")."""
    day, month, year = (form.get(f"{name}-{part}", "").strip() for part in ("day", "month", "year"))
    if not (day or month or year):
        if required:
            return None, FieldError(name, f"Enter the {what.lower()}")
        return None, None
    missing = [
        part for part, value in (("day", day), ("month", month), ("year", year)) if not value
    ]
    if missing:
        return None, FieldError(name, f"{what} must include a {' and '.join(missing)}")
    if not (_digits(day) and _digits(month) and _digits(year)) or len(year) != 4:
        return None, FieldError(name, f"{what} must be a real date")
    try:
        value = date(int(year), int(month), int(day))
    except ValueError:
        return None, FieldError(name, f"{what} must be a real date")
    if value < EARLIEST:
        return None, FieldError(name, f"{what} must be the same as or after {uk_date(EARLIEST)}")
    if value > LATEST:
        return None, FieldError(name, f"{what} must be the same as or before {uk_date(LATEST)}")
    if not_before is not None and value < not_before:
        return None, FieldError(name, f"{what} must be today or in the future")
    if not_after is not None and value > not_after:
        return None, FieldError(name, f"{what} must be today or in the past")
    return value, None


def read_text(
    form: Mapping[str, str], name: str, what: str, *, required: bool = True, limit: int = MAX_TEXT
) -> tuple[str, FieldError | None]:
    """Text typed into `name` (trimmed), or the error to show."""
    text = form.get(name, "").strip()
    if required and not text:
        return "", FieldError(name, f"Enter {what}")
    if len(text) > limit:
        return text, FieldError(
            name, f"{what[0].upper()}{what[1:]} must be {limit:,} characters or fewer"
        )
    return text, None
