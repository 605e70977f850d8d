"""Reading what a browser posts, and the checks that keep a form from being abused.

Pages post plain `application/x-www-form-urlencoded` forms (no file uploads), so the reader is
small and strict: a capped body, a capped number of fields, UTF-8 only.

The sign-in form has no session yet to hold a CSRF token (a forged sign-in would put the victim
in the attacker's account), so it uses a signed double-submit cookie: the cookie holds a random
value with its issue time and an HMAC of both under the server's key, and the form must send
the same random value back. An attacker can neither read the cookie nor, without the key, plant
one of their own that verifies.

Text pasted from another program can carry control characters nobody sees: Word's line break
is a vertical tab, some exports hold form feeds or NULs. FHIR strings should not hold them and
PostgreSQL cannot store a NUL, yet the person who pasted cannot find them to take them out. So
the reader turns vertical tabs and form feeds into line breaks and drops the other control
characters (tab, carriage return and line feed stay), and every form gets the text as it reads
on the screen.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Final
from urllib.parse import parse_qsl, urlsplit

from starlette.requests import Request

MAX_FORM_BYTES = 16 * 1024
MAX_FORM_FIELDS = 20
SIGN_IN_FORM_LIFETIME_SECONDS = 4 * 60 * 60
_FORM_TYPE = "application/x-www-form-urlencoded"
UNSEEN_CHARACTERS: Final = {
    code: ("\n" if chr(code) in "\x0b\x0c" else None)
    for code in range(32)
    if chr(code) not in "\t\n\r"
}
"""`str.translate` table: the control characters a form's text loses (see the module's
docstring), with vertical tab and form feed kept as the line breaks they stand for."""


class FormProblem(Exception):  # noqa: N818 - shown as a page, not raised to callers
    """A posted body the pages cannot read; `status` is the HTTP status to answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


async def read_form(request: Request) -> dict[str, str]:
    """The posted fields (the first value of each name), read once per request; an empty
    body is an empty form."""
    cached: dict[str, str] | None = getattr(request.state, "careweave_form", None)
    if cached is not None:
        return cached
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise FormProblem(413, "The form sent was too large.")
    mime = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if body and mime != _FORM_TYPE:
        raise FormProblem(415, "The form was not sent the way this page expects.")
    try:
        pairs = parse_qsl(
            body.decode("utf-8"),
            keep_blank_values=True,
            strict_parsing=False,
            max_num_fields=MAX_FORM_FIELDS,
        )
    except (UnicodeDecodeError, ValueError):
        raise FormProblem(400, "The form sent could not be read.") from None
    form: dict[str, str] = {}
    for name, value in pairs:
        form.setdefault(name.translate(UNSEEN_CHARACTERS), value.translate(UNSEEN_CHARACTERS))
    request.state.careweave_form = form
    return form


@dataclass(frozen=True)
class SignInFormToken:
    """The pair behind one sign-in form: `cookie` for the browser, `field` for the form."""

    cookie: str
    field: str


def _signature(key: bytes, nonce: str, issued: str) -> str:
    message = f"careweave-sign-in|{nonce}|{issued}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def new_sign_in_token(key: bytes) -> SignInFormToken:
    nonce = secrets.token_urlsafe(32)
    issued = str(int(time.time()))
    return SignInFormToken(f"{nonce}.{issued}.{_signature(key, nonce, issued)}", nonce)


def sign_in_token_from_cookie(key: bytes, cookie: str | None) -> SignInFormToken | None:
    """The token a cookie carries when it is ours, untampered and not stale; else None."""
    if not cookie or len(cookie) > 256:
        return None
    parts = cookie.split(".")
    if len(parts) != 3 or not parts[1].isdigit():
        return None
    nonce, issued, signature = parts
    if not hmac.compare_digest(signature, _signature(key, nonce, issued)):
        return None
    age = time.time() - int(issued)
    if age < -60 or age > SIGN_IN_FORM_LIFETIME_SECONDS:
        return None
    return SignInFormToken(cookie, nonce)


def sign_in_token_matches(key: bytes, cookie: str | None, submitted: str | None) -> bool:
    """True when the form sent back the value its own signed cookie holds."""
    token = sign_in_token_from_cookie(key, cookie)
    if token is None or not submitted:
        return False
    return hmac.compare_digest(token.field.encode("utf-8"), submitted.encode("utf-8"))


def safe_next(target: str | None, default: str = "/home") -> str:
    """`target` when it is a path on this site, else `default`: a sign-in link must never be
    able to send someone on to another site (an open redirect lends a phishing page our name).
    """
    if not target or len(target) > 2000 or not target.startswith("/"):
        return default
    if target.startswith("//") or "\\" in target:
        return default
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in target):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return default
    return target
