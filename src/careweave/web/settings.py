"""What the web pages need to know about where they run, read from the environment once.

Kept beside the pages until careweave.settings.Settings grows these fields:
`CAREWEAVE_FRONTEND_DIR` (the nhsuk-frontend `dist` folder), `CAREWEAVE_SECURE_COOKIES`
(mark cookies Secure even when the request reached us over plain HTTP, as behind a proxy that
terminates TLS without forwarding the scheme) and `CAREWEAVE_SECRET_KEY` (signs the sign-in
form's CSRF cookie; every worker process must share it).
"""

from __future__ import annotations

import logging
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

logger = logging.getLogger("careweave.web")

# src/careweave/web/settings.py -> the repository root, where `frontend/` holds the npm install.
_REPOSITORY = Path(__file__).resolve().parents[3]
_DEFAULT_FRONTEND = _REPOSITORY / "frontend" / "node_modules" / "nhsuk-frontend" / "dist"
_TRUE = {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class WebSettings:
    """`frontend_dir` is None when the NHS.UK assets are not installed: pages still render,
    as plain HTML."""

    frontend_dir: Path | None = None
    secure_cookies: bool = False
    secret_key: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)

    @classmethod
    def from_env(cls) -> WebSettings:
        key = os.environ.get("CAREWEAVE_SECRET_KEY")
        if not key:
            logger.warning(
                "CAREWEAVE_SECRET_KEY is not set: sign-in forms are signed with a key made for "
                "this process, so with several workers a form may be refused; set it to a long "
                "random value shared by all workers"
            )
        return cls(
            frontend_dir=find_frontend_dir(os.environ.get("CAREWEAVE_FRONTEND_DIR")),
            secure_cookies=os.environ.get("CAREWEAVE_SECURE_COOKIES", "").lower() in _TRUE,
            secret_key=key.encode("utf-8") if key else secrets.token_bytes(32),
        )


def find_frontend_dir(configured: str | None = None) -> Path | None:
    """The nhsuk-frontend `dist` folder (`configured`, else the repository's npm install), or
    None with a warning when it holds no assets."""
    frontend_dir = Path(configured) if configured else _DEFAULT_FRONTEND
    if (frontend_dir / "nhsuk").is_dir():
        return frontend_dir
    logger.warning(
        "NHS.UK frontend assets not found in %s (run `npm ci` in frontend/ or set "
        "CAREWEAVE_FRONTEND_DIR): pages will be served without their styles",
        frontend_dir,
    )
    return None
