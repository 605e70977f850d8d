"""Rendering pages: the Jinja templates, the headers every page carries, and error pages.

Autoescaping is always on: every value from the store (a display name, an organisation) is
text, never markup. Pages load no inline script or style, so the Content-Security-Policy can
forbid both and a stored `<script>` that slipped past escaping would still not run.
"""

from __future__ import annotations

from datetime import date
from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from careweave.access.roles import Role
from careweave.web.navigation import navigation_for

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}
# What people read for a role; the stored value (care-coordinator) is for machines.
_ROLE_NAMES = {Role.GP: "GP"}

_ERRORS: dict[int, tuple[str, str]] = {
    400: ("There is a problem with the request", "The page could not use what was sent."),
    403: ("You cannot do that", "The request was refused."),
    404: ("Page not found", "If you typed the web address, check it is correct."),
    405: ("Page not found", "This page cannot be used that way."),
    409: ("Someone else was changing this at the same time", "Go back, check it and try again."),
    410: ("This record has been deleted", "It is kept in the record's history."),
    412: ("Someone else has changed this", "Go back to see their change, then try again."),
    413: ("There is a problem with the request", "What was sent was too large."),
    415: ("There is a problem with the request", "The form was not sent as expected."),
    422: ("There is a problem with what was entered", "Go back, check it and try again."),
    500: (
        "Sorry, there is a problem with the service",
        "Try again later. If the problem continues, contact your administrator.",
    ),
}


def nhs_number_text(digits: str | None) -> str:
    """An NHS number the way it is printed on letters: 999 123 4567 ("" for none)."""
    if not digits:
        return ""
    if len(digits) != 10 or not digits.isdigit():
        return digits
    return f"{digits[:3]} {digits[3:6]} {digits[6:]}"


def uk_date(day: date | None) -> str:
    """A day as people in England write it: 3 November 2026 ("" for none)."""
    if day is None:
        return ""
    return f"{day.day} {day:%B %Y}"


def role_name(role: object) -> str:
    text = str(role)
    try:
        known = Role(text)
    except ValueError:
        return text
    return _ROLE_NAMES.get(known, known.value.replace("-", " ").capitalize())


@cache
def templates() -> Environment:
    """The one template environment (built on first use; it only caches compiled templates)."""
    environment = Environment(
        loader=PackageLoader("careweave.web", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["role_name"] = role_name
    environment.globals["navigation_for"] = navigation_for
    environment.filters["nhs_number"] = nhs_number_text
    environment.filters["uk_date"] = uk_date
    return environment


def with_security_headers(response: Response, *, personal: bool = True) -> Response:
    """Add the headers every web response carries; `personal` pages are never stored by the
    browser or a proxy (a shared computer's back button must not show someone's record)."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if personal:
        response.headers["Cache-Control"] = "no-store"
    return response


def render(
    name: str,
    *,
    status_code: int = 200,
    styled: bool = True,
    **context: Any,
) -> HTMLResponse:
    """A page from templates/`name`; `styled` False leaves out the NHS.UK stylesheet and
    scripts (when the assets are not installed the page is still plain, readable HTML)."""
    context.setdefault("signed_in", None)
    context.setdefault("errors", [])
    html = templates().get_template(name).render(styled=styled, **context)
    response = HTMLResponse(html, status_code=status_code)
    with_security_headers(response)
    return response


def error_page(
    status_code: int, message: str | None = None, *, styled: bool = True
) -> HTMLResponse:
    """A readable page for a failed request, in the words people need (no stack trace)."""
    title, default_message = _ERRORS.get(
        status_code, _ERRORS[500] if status_code >= 500 else _ERRORS[400]
    )
    return render(
        "error.html",
        status_code=status_code,
        styled=styled,
        title=title,
        message=message or default_message,
        status=status_code,
    )


def wants_page(request: Request, fhir_prefix: str = "/fhir") -> bool:
    """True for a browser asking for a page: not the FHIR API, and HTML accepted."""
    if request.url.path.startswith(fhir_prefix):
        return False
    return "text/html" in request.headers.get("accept", "")


def web_error_page(request: Request, status_code: int) -> Response | None:
    """An HTML error page when a browser asked for a page outside the FHIR API (an unknown
    address, a wrong method), else None so the caller answers with an OperationOutcome."""
    if not wants_page(request):
        return None
    return error_page(status_code)
