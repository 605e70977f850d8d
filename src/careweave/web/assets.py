"""The files under /assets: careweave's own two scripts and the compiled NHS.UK frontend.

nhsuk-frontend's stylesheet asks for its images at /assets/images/..., so its `assets` folder
is served at /assets itself, and of the package's compiled files only the stylesheet and the
script (with their source maps) are served beside it. Starlette's StaticFiles does the file
work: paths that climb out of a folder are refused, and ETags answer repeat visits with 304.

The stylesheet is served without its @font-face rules: they load Frutiger from assets.nhs.uk,
which would tell a third party every time someone opened a page (and the Content-Security-Policy
allows fonts from careweave only). The design system's own fallback, Arial, is used instead.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

_OWN = Path(__file__).parent / "static"
_COMPILED = frozenset(
    {
        "nhsuk-frontend.min.css",
        "nhsuk-frontend.min.css.map",
        "nhsuk-frontend.min.js",
        "nhsuk-frontend.min.js.map",
    }
)


_STYLESHEET = "nhsuk-frontend.min.css"
_REMOTE_FONTS = re.compile(r"@font-face\{[^}]*https?://[^}]*\}")


def _self_contained(css: str) -> str:
    """The stylesheet without font faces fetched from elsewhere, and without its source map
    link (the map describes the file as published)."""
    return re.sub(r"/\*# sourceMappingURL=[^*]*\*/", "", _REMOTE_FONTS.sub("", css))


class FrontendAssets:
    """Looks a path up in careweave's static folder, then in nhsuk-frontend's dist."""

    def __init__(self, frontend_dir: Path | None) -> None:
        self.own = StaticFiles(directory=_OWN)
        self.nhsuk: StaticFiles | None = None
        self.compiled: StaticFiles | None = None
        self.stylesheet: tuple[bytes, str] | None = None
        if frontend_dir is not None:
            self.nhsuk = StaticFiles(directory=frontend_dir / "nhsuk" / "assets", check_dir=False)
            self.compiled = StaticFiles(directory=frontend_dir / "nhsuk", check_dir=False)
            css = frontend_dir / "nhsuk" / _STYLESHEET
            if css.is_file():
                content = _self_contained(css.read_text(encoding="utf-8")).encode("utf-8")
                self.stylesheet = (content, f'"{hashlib.sha256(content).hexdigest()[:32]}"')

    @property
    def styled(self) -> bool:
        """Whether pages can link the NHS.UK stylesheet and scripts."""
        return self.compiled is not None

    async def response(self, path: str, scope: Scope) -> Response:
        """The file at /assets/`path`; HTTPException 404 when there is none."""
        if path == _STYLESHEET and self.stylesheet is not None:
            content, etag = self.stylesheet
            headers = {"ETag": etag, "Cache-Control": "no-cache"}
            request_headers = dict(scope.get("headers") or [])
            if request_headers.get(b"if-none-match", b"").decode("latin-1") == etag:
                return Response(status_code=304, headers=headers)
            return Response(content, media_type="text/css", headers=headers)
        folders = [self.own] if path.startswith("careweave-") else []
        if self.compiled is not None and path in _COMPILED:
            folders.append(self.compiled)
        elif self.nhsuk is not None:
            folders.append(self.nhsuk)
        for folder in folders:
            try:
                response = await folder.get_response(path, scope)
            except HTTPException as exc:
                if exc.status_code == 404:
                    continue
                raise
            # Revalidated on each use (cheap, via ETag): the file names carry no version, so a
            # long cache would keep old styles after an upgrade of nhsuk-frontend.
            response.headers["Cache-Control"] = "no-cache"
            return response
        raise HTTPException(404)
