"""FHIR JSON responses and the headers the spec asks for (ETag, Last-Modified, Location)."""

from __future__ import annotations

from datetime import UTC
from email.utils import format_datetime
from typing import Any

import orjson
from starlette.responses import JSONResponse, Response

from careweave.fhir.errors import Issue
from careweave.store.bundles import operation_outcome
from careweave.store.repository import StoredResource

FHIR_JSON = "application/fhir+json"


class FhirResponse(JSONResponse):
    """FHIR JSON, rendered with orjson; `raw` sends stored JSON text as it is.

    A JSONResponse so that the OpenAPI description documents JSON bodies; its rendering is
    replaced, since stored resources are already serialised.
    """

    media_type = FHIR_JSON

    def __init__(
        self,
        content: Any = None,
        status_code: int = 200,
        headers: dict[str, str] | None = None,
        *,
        raw: str | bytes | None = None,
    ) -> None:
        if raw is not None:
            body = raw if isinstance(raw, bytes) else raw.encode()
        elif content is None:
            body = b""
        else:
            body = orjson.dumps(content)
        Response.__init__(self, body, status_code=status_code, headers=headers)
        if content is None and raw is None and "content-type" in self.headers:
            del self.headers["content-type"]

    def render(self, content: Any) -> bytes:  # pragma: no cover - body is pre-rendered
        return content if isinstance(content, bytes) else b""


def outcome_response(
    status: int, issues: list[Issue], headers: dict[str, str] | None = None
) -> FhirResponse:
    return FhirResponse(operation_outcome(issues), status_code=status, headers=headers)


def version_headers(stored: StoredResource, base: str) -> dict[str, str]:
    return {
        "ETag": f'W/"{stored.version_id}"',
        "Last-Modified": format_datetime(stored.last_updated.replace(tzinfo=UTC), usegmt=True),
        "Content-Location": f"{base}/{stored.reference}/_history/{stored.version_id}",
    }
