"""The web pages: signing in and out, the page a signed-in person lands on, and (from their
own modules) the governance pages: who looked at my record, the Caldicott guardian's review
and break-glass.

Every page works without JavaScript. Every POST form carries a CSRF token: the session's once
signed in, a signed double-submit cookie's on the sign-in form (careweave.web.forms). Errors
on these routes become readable pages, never OperationOutcomes or tracebacks, and every
response carries the security headers of careweave.web.pages.

`build_web_router` makes the router; its `on_event` parameter is where sign-in, failed sign-in
and sign-out are reported (the audit trail connects there).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.responses import RedirectResponse, Response

from careweave.access.accounts import UserAccount, sign_in
from careweave.access.sessions import end_session, find_session, start_session
from careweave.coordination.record import TooManyResults
from careweave.fhir.errors import FhirError
from careweave.routing import add_routes
from careweave.web.assets import FrontendAssets
from careweave.web.break_glass_pages import break_glass_router
from careweave.web.coordination import coordination_router
from careweave.web.forms import (
    FormProblem,
    SignInFormToken,
    new_sign_in_token,
    read_form,
    safe_next,
    sign_in_token_from_cookie,
    sign_in_token_matches,
)
from careweave.web.governance import governance_router
from careweave.web.home import home_links
from careweave.web.my_care import my_care_router
from careweave.web.my_record import my_record_router
from careweave.web.pages import SECURITY_HEADERS, error_page, render
from careweave.web.population import router as population_router
from careweave.web.settings import WebSettings
from careweave.web.signed_in import (
    SESSION_COOKIE,
    FieldError,
    PageRefused,
    SignedIn,
    SignInRequired,
    current_user,
    require_csrf,
)
from careweave.web.signed_in import address_of as _address
from careweave.web.signed_in import database_of as _database
from careweave.web.social_prescribing import social_prescribing_router
from careweave.web.wording import Directory

logger = logging.getLogger("careweave.web")

SIGN_IN_COOKIE = "careweave_sign_in"
# Told of each sign-in ("sign-in"), refusal ("sign-in-failed") and sign-out ("sign-out"):
# (event, the user or None when the username is unknown, outcome "0" success or "4" refused,
# the browser's address). It runs before the response is sent; if it raises, the sign-in is
# undone and the person sees an error page, so nothing happens that was not recorded.
OnEvent = Callable[[str, UserAccount | None, str, str | None], None]

WRONG_DETAILS = "Enter a correct username and password"
LOCKED = (
    "Your account is locked because of too many attempts to sign in. "
    "Try again later, or contact your administrator."
)
FORGED_SIGN_IN = (
    "This sign-in form has expired or did not come from careweave. "
    "Go to the sign-in page and try again. Your browser must accept cookies from careweave."
)


def _secure(request: Request, settings: WebSettings) -> bool:
    return settings.secure_cookies or request.url.scheme == "https"


def _with_headers(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def _sign_in_redirect(request: Request, next_path: str | None, secure: bool) -> Response:
    target = "/sign-in"
    if next_path and safe_next(next_path, "") and next_path != "/home":
        target += "?" + urlencode({"next": next_path})
    response = RedirectResponse(target, status_code=303)
    if SESSION_COOKIE in request.cookies:
        # The browser's cookie names a session that is over: stop it sending it.
        response.delete_cookie(
            SESSION_COOKIE, path="/", secure=secure, httponly=True, samesite="lax"
        )
    return response


def _page_route(settings: WebSettings, styled: bool) -> type[APIRoute]:
    """A route class turning every failure on a web route into a page, with the headers."""

    class PageRoute(APIRoute):
        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            handler = super().get_route_handler()

            async def page_handler(request: Request) -> Response:
                try:
                    response = await handler(request)
                except SignInRequired as exc:
                    response = _sign_in_redirect(request, exc.next_path, _secure(request, settings))
                except (PageRefused, FormProblem) as exc:
                    response = error_page(exc.status, exc.message, styled=styled)
                except HTTPException as exc:
                    response = error_page(exc.status_code, styled=styled)
                except TooManyResults as exc:
                    response = error_page(400, f"{exc} Narrow the search.", styled=styled)
                except FhirError as exc:
                    # From the guard: 404 is a record missing or hidden (the same page either
                    # way), 403 what the user's role cannot do, 412 a stale change.
                    response = error_page(
                        exc.status,
                        None if exc.status in (404, 410) else str(exc),
                        styled=styled,
                    )
                except RequestValidationError:
                    response = error_page(400, styled=styled)
                except Exception as exc:
                    logger.error(
                        "Unhandled error on %s %s",
                        request.method,
                        request.url.path,
                        exc_info=exc,
                    )
                    response = error_page(500, styled=styled)
                return _with_headers(response)

            return page_handler

    return PageRoute


def build_web_router(
    settings: WebSettings | None = None, on_event: OnEvent | None = None
) -> APIRouter:
    """The web pages as a router to include in the app; `settings` default to the
    environment's (WebSettings.from_env), `on_event` is told of sign-ins and sign-outs."""
    settings = settings or WebSettings.from_env()
    assets = FrontendAssets(settings.frontend_dir)
    styled = assets.styled
    key = settings.secret_key
    route_class = _page_route(settings, styled)
    router = APIRouter(route_class=route_class, include_in_schema=False)

    def report(event: str, user: UserAccount | None, outcome: str, address: str | None) -> None:
        if on_event is not None:
            on_event(event, user, outcome, address)

    def sign_in_page(
        request: Request,
        token: SignInFormToken,
        next_path: str,
        *,
        username: str = "",
        errors: list[FieldError] | None = None,
    ) -> Response:
        response = render(
            "sign_in.html",
            status_code=400 if errors else 200,
            styled=styled,
            csrf_token=token.field,
            next=next_path,
            username=username[:200],
            errors=errors or [],
        )
        response.set_cookie(
            SIGN_IN_COOKIE,
            token.cookie,
            path="/sign-in",
            secure=_secure(request, settings),
            httponly=True,
            samesite="strict",
        )
        return response

    @router.get("/sign-in")
    async def show_sign_in(
        request: Request, next_path: Annotated[str | None, Query(alias="next")] = None
    ) -> Response:
        target = safe_next(next_path)
        cookie = request.cookies.get(SESSION_COOKIE)
        if cookie is not None:
            session = await run_in_threadpool(find_session, _database(request), cookie)
            if session is not None:
                return RedirectResponse(target, status_code=303)
        token = sign_in_token_from_cookie(key, request.cookies.get(SIGN_IN_COOKIE))
        return sign_in_page(request, token or new_sign_in_token(key), target)

    @router.post("/sign-in")
    async def submit_sign_in(request: Request) -> Response:
        form = await read_form(request)
        cookie = request.cookies.get(SIGN_IN_COOKIE)
        token = sign_in_token_from_cookie(key, cookie)
        if token is None or not sign_in_token_matches(key, cookie, form.get("csrf_token")):
            raise PageRefused(403, FORGED_SIGN_IN)
        target = safe_next(form.get("next"))
        username = form.get("username", "").strip()
        password = form.get("password", "")
        errors = []
        if not username:
            errors.append(FieldError("username", "Enter your username"))
        if not password:
            errors.append(FieldError("password", "Enter your password"))
        if errors:
            return sign_in_page(request, token, target, username=username, errors=errors)

        database = _database(request)
        address = _address(request)
        result = await run_in_threadpool(sign_in, database, username, password, address)
        if not result.ok or result.user is None:
            await run_in_threadpool(report, "sign-in-failed", result.user, "4", address)
            failure = (
                FieldError(None, LOCKED)
                if result.reason == "locked"
                else FieldError("username", WRONG_DETAILS)
            )
            return sign_in_page(request, token, target, username=username, errors=[failure])

        user = result.user
        # Whatever session the browser held before is ended, and a new one always begins.
        await run_in_threadpool(end_session, database, request.cookies.get(SESSION_COOKIE))
        new = await run_in_threadpool(start_session, database, user.pk, address)
        try:
            await run_in_threadpool(report, "sign-in", user, "0", address)
        except Exception:
            await run_in_threadpool(end_session, database, new.cookie_value)
            raise
        secure = _secure(request, settings)
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(
            SESSION_COOKIE,
            new.cookie_value,
            path="/",
            secure=secure,
            httponly=True,
            samesite="lax",
        )
        response.delete_cookie(
            SIGN_IN_COOKIE, path="/sign-in", secure=secure, httponly=True, samesite="strict"
        )
        return response

    @router.post("/sign-out")
    async def sign_out(
        request: Request, signed_in: Annotated[SignedIn, Depends(require_csrf)]
    ) -> Response:
        database = _database(request)
        address = _address(request)
        await run_in_threadpool(end_session, database, request.cookies.get(SESSION_COOKIE))
        await run_in_threadpool(report, "sign-out", signed_in.user, "0", address)
        response = RedirectResponse("/signed-out", status_code=303)
        response.delete_cookie(
            SESSION_COOKIE,
            path="/",
            secure=_secure(request, settings),
            httponly=True,
            samesite="lax",
        )
        return response

    @router.get("/signed-out")
    async def signed_out() -> Response:
        return render("signed_out.html", styled=styled)

    @router.get("/home")
    def home(request: Request, signed_in: Annotated[SignedIn, Depends(current_user)]) -> Response:
        organisation = Directory(request.app.state.store).organisation(
            signed_in.user.organisation_id
        )
        return render(
            "home.html",
            styled=styled,
            signed_in=signed_in,
            organisation=organisation,
            links=home_links(signed_in.user),
        )

    @router.api_route("/assets/{path:path}", methods=["GET", "HEAD"])
    async def asset(request: Request, path: str) -> Response:
        return await assets.response(path, request.scope)

    add_routes(router, my_record_router(route_class, styled))
    add_routes(router, my_care_router(route_class, styled))
    add_routes(router, governance_router(route_class, styled))
    add_routes(router, break_glass_router(route_class, styled))
    add_routes(router, coordination_router(route_class, styled))
    add_routes(router, social_prescribing_router(route_class, styled))
    add_routes(router, population_router(route_class, styled))
    return router
