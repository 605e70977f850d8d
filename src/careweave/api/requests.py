"""Reading what a FHIR client sends: body size and type, JSON, Prefer and If-Match headers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from careweave.api.responses import outcome_response
from careweave.fhir.errors import FhirError, MalformedRequest, PayloadTooLarge, UnsupportedMediaType
from careweave.store.bundles import parse_if_match

JSON_TYPES = {"application/fhir+json", "application/json", "application/json+fhir"}
FORMAT_ALIASES = {"json", "application/json", "application/fhir+json", "application/json+fhir"}


class NotAcceptable(FhirError):  # noqa: N818
    status = 406
    code = "not-supported"


def base_url(request: Request) -> str:
    """The FHIR base the client reached this server at, for the URLs a response gives back."""
    return f"{str(request.base_url).rstrip('/')}/fhir/R4"


def format_problem(query: Mapping[str, str], accept: str | None) -> str | None:
    """Why a request's `_format` or Accept cannot be met (careweave speaks FHIR JSON only)."""
    requested = query.get("_format")
    if requested is not None and requested not in FORMAT_ALIASES:
        return f"_format={requested} is not supported; this server speaks FHIR JSON"
    if requested is None and accept:
        kinds = [part.split(";")[0].strip().lower() for part in accept.split(",")]
        if not any(k in JSON_TYPES or k in {"*/*", "application/*", ""} for k in kinds):
            return f"Accept: {accept} cannot be met; this server answers application/fhir+json"
    return None


class FormatCheck:
    """ASGI middleware answering 406 before routing when a FHIR request wants other than JSON.

    Plain ASGI rather than a FastAPI dependency: it runs on every request, and a dependency
    costs more than the point read it guards.
    """

    def __init__(self, app: ASGIApp, prefix: str) -> None:
        self.app = app
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(self.prefix):
            request = Request(scope)
            problem = format_problem(request.query_params, request.headers.get("accept"))
            if problem is not None:
                response = outcome_response(NotAcceptable.status, NotAcceptable(problem).issues)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The request's body, refused (413) as soon as it is known to pass `max_bytes`: from its
    declared length, or while it streams in, so an oversized body is never all in memory."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise PayloadTooLarge(f"The body is {declared} bytes; the limit is {max_bytes}")
    received = bytearray()
    async for chunk in request.stream():
        received += chunk
        if len(received) > max_bytes:
            raise PayloadTooLarge(f"The body is larger than the limit of {max_bytes} bytes")
    return bytes(received)


async def read_json_body(
    request: Request, max_bytes: int, media_type: str = "application/fhir+json"
) -> Any:
    """The body as JSON, when sent as `media_type` (for a FHIR resource, any FHIR JSON type)."""
    content_type = request.headers.get("content-type", "")
    mime = content_type.split(";")[0].strip().lower()
    accepted = JSON_TYPES if media_type == "application/fhir+json" else {media_type}
    if mime not in accepted:
        raise UnsupportedMediaType(
            f"Content-Type '{content_type or '(none)'}' is not supported; send {media_type}"
        )
    received = await read_body(request, max_bytes)
    if not received.strip():
        raise MalformedRequest("The request has no body; send a FHIR resource as JSON")
    try:
        return orjson.loads(received)
    except orjson.JSONDecodeError as exc:
        raise MalformedRequest(f"The body is not valid JSON: {exc}") from None


def prefer(request: Request, key: str) -> str | None:
    """The value of one `Prefer` token, e.g. prefer(request, "return") -> "minimal"."""
    for header in request.headers.getlist("prefer"):
        for part in header.replace(";", ",").split(","):
            name, _, value = part.strip().partition("=")
            if name.strip().lower() == key:
                return value.strip().strip('"')
    return None


def if_match(request: Request) -> int | None:
    value = request.headers.get("if-match")
    return parse_if_match(value) if value else None
