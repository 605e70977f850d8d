"""Reading what a FHIR client sends: body size and type, JSON, Prefer and If-Match headers."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request

from careweave.fhir.errors import FhirError, MalformedRequest, PayloadTooLarge, UnsupportedMediaType
from careweave.store.bundles import parse_if_match

JSON_TYPES = {"application/fhir+json", "application/json", "application/json+fhir"}
FORMAT_ALIASES = {"json", "application/json", "application/fhir+json", "application/json+fhir"}


class NotAcceptable(FhirError):  # noqa: N818
    status = 406
    code = "not-supported"


def check_format(request: Request) -> None:
    """careweave speaks FHIR JSON only: say so plainly when asked for XML or Turtle."""
    requested = request.query_params.get("_format")
    if requested is not None and requested not in FORMAT_ALIASES:
        raise NotAcceptable(f"_format={requested} is not supported; this server speaks FHIR JSON")
    accept = request.headers.get("accept")
    if requested is None and accept:
        kinds = [part.split(";")[0].strip().lower() for part in accept.split(",")]
        if not any(k in JSON_TYPES or k in {"*/*", "application/*", ""} for k in kinds):
            raise NotAcceptable(
                f"Accept: {accept} cannot be met; this server answers application/fhir+json"
            )


async def read_json_body(request: Request, max_bytes: int) -> Any:
    content_type = request.headers.get("content-type", "")
    mime = content_type.split(";")[0].strip().lower()
    if mime not in JSON_TYPES:
        raise UnsupportedMediaType(
            f"Content-Type '{content_type or '(none)'}' is not supported; "
            "send application/fhir+json"
        )
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise PayloadTooLarge(f"The body is {declared} bytes; the limit is {max_bytes}")
    received = bytearray()
    async for chunk in request.stream():
        received += chunk
        if len(received) > max_bytes:
            raise PayloadTooLarge(f"The body is larger than the limit of {max_bytes} bytes")
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
