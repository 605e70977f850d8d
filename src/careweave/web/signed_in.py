"""Who is signed in on a page request, and the checks every page route builds on.

Kept apart from careweave.web.app so that each group of pages (signing in, the governance
pages) can depend on the same `current_user` and `require_csrf` without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, NamedTuple

from fastapi import Depends, Request

from careweave.access.accounts import UserAccount, get_user
from careweave.access.sessions import ActiveSession, check_csrf, find_session
from careweave.store.database import Database
from careweave.web.forms import read_form

SESSION_COOKIE = "careweave_session"
FORGED_FORM = "This form has expired or did not come from careweave, so nothing was changed."


class SignedIn(NamedTuple):
    """Who is signed in on this request, and the session they are signed in with."""

    session: ActiveSession
    user: UserAccount


class SignInRequired(Exception):  # noqa: N818 - a state the browser is redirected out of
    """No valid session: the browser is sent to sign in, then back to `next_path`."""

    def __init__(self, next_path: str | None) -> None:
        super().__init__("sign in required")
        self.next_path = next_path


class PageRefused(Exception):  # noqa: N818 - a refusal shown as a page
    """A request the pages refuse, shown as an error page with `message`."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class FieldError:
    """One entry of the error summary; `field` is the id of the input it links to."""

    field: str | None
    message: str


def database_of(request: Request) -> Database:
    database: Database = request.app.state.store.database
    return database


def address_of(request: Request) -> str | None:
    return request.client.host if request.client else None


def _here(request: Request) -> str | None:
    """Where to come back to after signing in: the page asked for, if it was a GET."""
    if request.method != "GET":
        return None
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def current_user(request: Request) -> SignedIn:
    """The signed-in person, for a page that needs one; otherwise the browser is redirected
    to /sign-in?next=... (a dependency: `Depends(current_user)`)."""
    database = database_of(request)
    session = find_session(database, request.cookies.get(SESSION_COOKIE))
    user = get_user(database, session.user_pk) if session is not None else None
    if session is None or user is None or user.disabled:
        raise SignInRequired(_here(request))
    return SignedIn(session, user)


async def require_csrf(
    request: Request, signed_in: Annotated[SignedIn, Depends(current_user)]
) -> SignedIn:
    """The signed-in person, when the posted form carries their session's CSRF token;
    otherwise a 403 page and nothing done. Every POST form route depends on this."""
    form = await read_form(request)
    if not check_csrf(signed_in.session, form.get("csrf_token")):
        raise PageRefused(403, FORGED_FORM)
    return signed_in


async def posted_form(request: Request) -> dict[str, str]:
    """The posted fields, for a route whose handler runs in a worker thread (read once per
    request: `require_csrf` has usually read them already)."""
    return await read_form(request)
